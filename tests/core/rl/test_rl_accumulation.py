"""Gradient accumulation in dpo (and kto) and reward, resumed exactly mid-accumulation; and
answers to sample prompts during RL."""

from __future__ import annotations

import numpy as np
import pytest

from mlxstudio.core import runs
from mlxstudio.core.rl.job import run_rl
from mlxstudio.core.rl.reward_train import run_reward
from mlxstudio.core.train.control import Control


def quiet(message: str) -> None:
    pass


def adapters(run_dir) -> dict:
    import mlx.core as mx

    return {k: np.array(v) for k, v in mx.load(str(run_dir / "adapters.safetensors")).items()}


def losses(run_dir) -> dict[int, float]:
    return {e["step"]: e["train_loss"] for e in runs.read_events(run_dir) if e["event"] == "train"}


def stop_at(control: Control, step: int):
    def sink(event: dict) -> None:
        if event["event"] == "train" and event["step"] >= step:
            control.stop()

    return sink


@pytest.mark.parametrize("loss", ["sigmoid", "kto"])
def test_two_accumulated_batches_of_two_are_one_batch_of_four(pref_data, make_rl_config, loss):
    """The same examples (RecordPlan's order), SGD: the same update either way."""
    common = dict(preference_loss=loss, optimizer="sgd", steps_per_eval=100, save_every=100)
    whole = run_rl(make_rl_config(pref_data, "dpo", name="whole", iters=1, **common), log=quiet)
    split = run_rl(
        make_rl_config(
            pref_data,
            "dpo",
            name="split",
            iters=2,
            batch_size=2,
            grad_accumulation_steps=2,
            **common,
        ),
        log=quiet,
    )
    a, b = adapters(whole.run_dir), adapters(split.run_dir)
    assert any(np.abs(v).max() > 0 for k, v in a.items() if "lora_b" in k)  # it did move
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("stage", "run"), [("dpo", run_rl), ("reward", run_reward)])
def test_resume_mid_accumulation_matches(pref_data, make_rl_config, stage, run):
    settings = dict(
        iters=7,
        save_every=3,
        steps_per_report=1,
        steps_per_eval=100,
        batch_size=2,
        grad_accumulation_steps=2,
    )
    reference = run(make_rl_config(pref_data, stage, name="ref", **settings), log=quiet)
    control = Control()
    cut = run(
        make_rl_config(pref_data, stage, name="cut", **settings),
        on_event=stop_at(control, 5),
        control=control,
        log=quiet,
    )
    assert cut.step == 5  # odd: half an accumulation is in the checkpoint
    run(None, resume_dir=cut.run_dir, log=quiet)
    expected, got = losses(reference.run_dir), losses(cut.run_dir)
    for step in (6, 7):
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step
    a, b = adapters(reference.run_dir), adapters(cut.run_dir)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-6)


def test_rl_answers_sample_prompts(pref_data, make_rl_config):
    cfg = make_rl_config(
        pref_data,
        "dpo",
        iters=4,
        steps_per_eval=2,
        sample_prompts=["Describe the red fox."],
        sample_max_tokens=4,
    )
    result = run_rl(cfg, log=quiet)
    samples = [e for e in runs.read_events(result.run_dir) if e["event"] == "sample"]
    assert [e["step"] for e in samples] == [0, 2, 4]  # before training and at each validation
    assert all(e["prompt"] == "Describe the red fox." for e in samples)
    assert all(isinstance(e["response"], str) for e in samples)
