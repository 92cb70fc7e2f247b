"""The ETA: measured step time for the steps left, validations to come at their own time;
model loading, validation, checkpoints and pauses never make the steps look slower."""

from __future__ import annotations

import pytest

from mlxstudio.core.train.eta import StepClock


def train(step: int, per_second: float, elapsed: float) -> dict:
    return {"event": "train", "step": step, "iterations_per_second": per_second,
            "elapsed_s": elapsed}  # fmt: skip


def test_eta_from_step_time_and_validations_left():
    clock = StepClock(100, steps_per_eval=25)
    clock.add({"event": "start", "total_steps": 100, "elapsed_s": 40.0})  # after loading
    assert clock.eta(0) is None  # nothing measured yet
    clock.add({"event": "val", "step": 0, "val_time_s": 9.0})  # behind us: not counted
    clock.add(train(10, 2.0, 60.0))  # 10 steps at 0.5 s
    assert clock.eta(10) == pytest.approx(90 * 0.5)  # no validation timed yet
    clock.add({"event": "paused", "step": 10, "elapsed_s": 600.0})  # an hour away: no effect
    clock.add(train(20, 1.0, 700.0))  # 10 steps at 1 s
    clock.add({"event": "val", "step": 25, "val_time_s": 4.0})
    clock.add({"event": "checkpoint", "step": 25, "elapsed_s": 760.0})
    clock.add(train(30, 1.0, 780.0))
    per_step = (5 + 10 + 10) / 30
    assert clock.step_time() == pytest.approx(per_step)
    # validations at 50, 75 and 100 to come, 4 s each
    assert clock.eta(30) == pytest.approx(70 * per_step + 3 * 4.0)
    assert clock.eta(100) == 0.0


def test_recent_reports_lead_and_a_resumed_job_starts_from_its_checkpoint():
    clock = StepClock(1000)
    clock.add({"event": "start", "total_steps": 1000, "resumed_from_step": 400})
    clock.add(train(410, 10.0, 5.0))  # 10 steps in 1 s, not 410
    assert clock.eta(410) == pytest.approx(590 * 0.1)
    for step in range(420, 520, 10):  # then it slows down to 1 s a step
        clock.add(train(step, 1.0, 0.0))
    assert clock.step_time() == pytest.approx(1.0)  # the old pace has left the window


@pytest.mark.parametrize(
    "total, every, step, left", [(100, 25, 0, 4), (100, 25, 25, 3), (90, 25, 80, 1), (10, 0, 0, 0)]
)
def test_validations_left(total, every, step, left):
    assert StepClock(total, every).validations_left(step) == left
