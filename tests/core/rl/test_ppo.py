"""Offline PPO from scored responses (stage rl) on the tiny model; stop and resume."""

from __future__ import annotations

import pytest
from rl_helpers import write_jsonl

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.job import run_rl
from mlxstudio.core.train import checkpoint as ckpt
from mlxstudio.core.train.control import Control


def quiet(message: str) -> None:
    pass


def test_ppo_moves_held_out_logprobs_by_reward(scored_data, make_rl_config):
    cfg = make_rl_config(scored_data, "rl", learning_rate=1e-3, kl_coef=0.05, iters=10)
    result = run_rl(cfg, log=quiet)
    assert result.status == "completed"
    events = list(runs.read_events(result.run_dir))
    val = [e for e in events if e["event"] == "val"]
    first, last = val[0], val[-1]
    assert last["high_reward_logprob"] > first["high_reward_logprob"] + 0.3
    assert last["low_reward_logprob"] < first["low_reward_logprob"] - 0.3
    assert first["kl"] == pytest.approx(0.0, abs=1e-5) and 0 < last["kl"] < 50
    train = [e for e in events if e["event"] == "train"]
    for key in ("policy_loss", "kl", "reward_mean", "reward_std", "clip_fraction"):
        assert all(isinstance(e[key], float) for e in train), key
    assert any(e["clip_fraction"] > 0 for e in train)  # ppo_epochs=2: the clip engages


def test_field_names_are_configurable(tmp_path, make_rl_config):
    records = [
        {"q": f"Question {i}?", "a": "Paris." if i % 2 else "The dog.", "score": i % 2}
        for i in range(8)
    ]
    data = write_jsonl(tmp_path / "s.jsonl", records)
    cfg = make_rl_config(
        data, "rl", prompt_field="q", response_field="a", reward_field="score", iters=2
    )
    assert run_rl(cfg, log=quiet).status == "completed"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"instruction": "a", "response": "b"}, r"s.jsonl:2: no 'reward'"),
        (
            {"instruction": "a", "response": "b", "reward": "high"},
            r"s.jsonl:2: 'reward' must be a number",
        ),
        (
            {"instruction": "a", "response": "b", "reward": None},
            r"s.jsonl:2: 'reward' must be a number",
        ),
        ({"instruction": "a", "reward": 1}, r"s.jsonl:2: no 'response'"),
    ],
)
def test_bad_reward_in_data_is_named(tmp_path, make_rl_config, line, message):
    good = {"instruction": "a", "response": "b", "reward": 1.0}
    data = write_jsonl(tmp_path / "s.jsonl", [good, line, good])
    with pytest.raises(UserError, match=message):
        run_rl(make_rl_config(data, "rl"), log=quiet)


def test_stop_then_resume(scored_data, make_rl_config):
    control = Control()

    def stop_at_4(event: dict) -> None:
        if event["event"] == "train" and event["step"] >= 4:
            control.stop()

    cfg = make_rl_config(scored_data, "rl", iters=8, save_every=3, steps_per_eval=100)
    first = run_rl(cfg, on_event=stop_at_4, control=control, log=quiet)
    assert first.status == "stopped" and first.step == 4 and first.exit_code == 130
    assert [s for s, _ in ckpt.list_checkpoints(first.run_dir)] == [3, 4]
    second = run_rl(None, resume_dir=first.run_dir, log=quiet)
    assert second.status == "completed" and second.step == 8
    starts = [e for e in runs.read_events(first.run_dir) if e["event"] == "start"]
    assert starts[-1]["resumed_from_step"] == 4
