"""RL runs' own figures outside metrics.jsonl: GRPO's reward and KL, DPO's margin and
accuracy in TensorBoard (report_to) and in the model card `mlxstudio push` writes."""

from __future__ import annotations

import pytest
from tb_events import read_scalars

from mlxstudio.core import runs
from mlxstudio.core.model_card import card_text
from mlxstudio.core.rl.job import run_rl

pytest.importorskip("tensorboardX")


def quiet(message: str) -> None:
    pass


def logged(result, kind: str, field: str) -> list[tuple[int, float]]:
    events = runs.read_events(result.run_dir)
    return [
        (e["step"], pytest.approx(e[field], rel=1e-5, abs=1e-7))
        for e in events
        if e["event"] == kind
    ]


def card(result) -> str:
    return card_text(
        result.run_dir,
        title="u/m",
        base_name="tiny",
        base_repo=None,
        license="mit",
        adapter_only=True,
    )


def test_grpo_reward_and_kl_reach_tensorboard(prompt_data, make_rl_config):
    cfg = make_rl_config(
        prompt_data,
        "grpo",
        reward_model="max_words",
        reward_kwargs={"max_words": 3},
        iters=4,
        group_size=3,
        max_new_tokens=8,
        steps_per_eval=100,
        report_to="tensorboard",
    )
    result = run_rl(cfg, log=quiet)
    assert result.status == "completed"
    scalars = read_scalars(result.run_dir / "tensorboard")
    for field in ("reward_mean", "reward_std", "kl", "policy_loss", "train_loss"):
        assert scalars[f"train/{field}"] == logged(result, "train", field), field
    assert [step for step, _ in scalars["train/kl"]] == [2, 4]
    text = card(result)
    assert "reinforcement learning with GRPO" in text and "| `group_size` | `3` |" in text
    rewards = [e["reward_mean"] for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    assert f"| Mean reward | {rewards[0]:.4g} | {rewards[-1]:.4g} |" in text
    assert "| KL to the reference model |" in text


def test_dpo_margins_reach_tensorboard(pref_data, make_rl_config):
    cfg = make_rl_config(pref_data, "dpo", iters=4, steps_per_eval=4, report_to="tensorboard")
    result = run_rl(cfg, log=quiet)
    scalars = read_scalars(result.run_dir / "tensorboard")
    for field in ("margin", "accuracy", "chosen_reward", "rejected_reward"):
        assert scalars[f"train/{field}"] == logged(result, "train", field), field
    assert scalars["val/margin"] == logged(result, "val", "margin")
    assert scalars["val/val_loss"] == logged(result, "val", "val_loss")
    text = card(result)
    assert "preference optimisation (DPO family)" in text
    assert "| Held-out chosen - rejected margin |" in text and "| Preference accuracy |" in text
