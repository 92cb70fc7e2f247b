"""The memory guard: with its limit lowered below what the machine already uses, a real run
pauses before a step with a checkpoint and says what to change; continued (in the job, or
resumed from that checkpoint in a new one) it ends exactly like an uninterrupted run."""

from __future__ import annotations

import threading

import mlx.core as mx
import numpy as np
import pytest

from mlxstudio.core import runs
from mlxstudio.core.train import checkpoint as ckpt
from mlxstudio.core.train.control import Control
from mlxstudio.core.train.memory_guard import MemoryGuard, Reading, system_memory
from mlxstudio.core.train.sft import run_sft

SETTINGS = dict(
    iters=8,
    steps_per_report=1,
    save_every=4,
    lora_parameters={"rank": 4, "scale": 10.0, "dropout": 0.1},
)
TRIPS = 1e-6  # a share of memory every machine already uses


def quiet(message: str) -> None:
    pass


class OnGuardPause:
    """Waits, in its own thread, for each pause of the guard; then checks the run is paused
    with a checkpoint of that step, and continues it (or stops it)."""

    def __init__(self, control: Control, then: str) -> None:
        self.control, self.then = control, then
        self.paused: list[dict] = []
        self.checkpointed: list[bool] = []
        self.seen = threading.Semaphore(0)
        self.run_dir = None
        threading.Thread(target=self._answer, daemon=True).start()

    def sink(self, event: dict) -> None:
        if event["event"] == "start":
            self.run_dir = event["run_dir"]
        if event["event"] == "paused" and event["reason"] == "memory":
            self.paused.append(event)
            self.seen.release()

    def _answer(self) -> None:
        while self.seen.acquire():
            step = self.paused[-1]["step"]
            steps = [s for s, _ in ckpt.list_checkpoints(self.run_dir)]
            self.checkpointed.append(self.control.pause_requested and step in steps)
            self.control.stop() if self.then == "stop" else self.control.resume()


def losses(run_dir) -> dict[int, float]:
    return {e["step"]: e["train_loss"] for e in runs.read_events(run_dir) if e["event"] == "train"}


def assert_same_result(run_dir, reference) -> None:
    expected, got = losses(reference), losses(run_dir)
    assert sorted(got) == sorted(expected) == list(range(1, 9))
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-5), step
    mine = mx.load(str(run_dir / "adapters.safetensors"))
    theirs = mx.load(str(reference / "adapters.safetensors"))
    assert sorted(mine) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(np.array(mine[key]), np.array(theirs[key]), rtol=1e-5)


@pytest.fixture
def reference(make_config):
    return run_sft(make_config(name="ref", memory_guard=0.0, **SETTINGS), log=quiet).run_dir


def guarded_run(cfg, then: str, **kwargs):
    """run_sft, each pause of its guard answered by `then` (continue or stop)."""
    control = Control()
    answer = OnGuardPause(control, then)
    return run_sft(cfg, on_event=answer.sink, control=control, log=quiet, **kwargs), answer


def test_guard_pauses_with_a_checkpoint_and_continuing_matches(make_config, reference):
    cfg = make_config(name="guarded", memory_guard=TRIPS, **SETTINGS)
    result, answer = guarded_run(cfg, "continue")
    assert result.status == "completed" and result.step == 8
    first = answer.paused[0]
    assert first["step"] == 1  # before step 2: one step measured what a step needs
    assert answer.checkpointed[0] is True  # paused, with a checkpoint of that step
    message = first["message"]
    assert message.startswith("Memory is nearly full: the next step would fill ")
    assert "Paused at step 1 with a checkpoint" in message
    assert "lower batch_size (now 4) or max_seq_length (now 128)" in message
    assert "or set grad_checkpoint: true" in message and "quantized (4-bit)" in message
    # Continued, it warns again only if memory gets much tighter.
    assert len(answer.paused) <= 2
    kinds = [e["event"] for e in runs.read_events(result.run_dir)]
    assert kinds.count("resumed") == len(answer.paused)
    assert_same_result(result.run_dir, reference)


def test_guard_pause_then_stop_and_resume_from_its_checkpoint_matches(make_config, reference):
    cut, stop = guarded_run(make_config(name="cut", memory_guard=TRIPS, **SETTINGS), "stop")
    assert cut.status == "stopped" and cut.step == 1 and stop.checkpointed == [True]
    assert [s for s, _ in ckpt.list_checkpoints(cut.run_dir)] == [1]

    # the resumed job's guard trips again, and is continued
    resumed, go_on = guarded_run(None, "continue", resume_dir=cut.run_dir)
    assert resumed.status == "completed" and go_on.paused[0]["step"] == 2
    assert_same_result(cut.run_dir, reference)


def test_system_memory_is_read():
    memory = system_memory()
    assert memory is not None and 0 < memory.available <= memory.total


def reading(used: float, mlx: float = 0.0, working_set: float | None = None) -> Reading:
    return Reading(total=100, used=round(used * 100), mlx=round(mlx * 100), working_set=working_set)


def test_guard_limits(make_config):
    cfg = make_config(grad_checkpoint=True)
    readings = iter([reading(0.5), reading(0.97), reading(0.97), reading(0.99)])
    guard = MemoryGuard(0.95, read=lambda: next(readings), every_s=0)
    assert guard.check(0, cfg) is None  # the job's first boundary: nothing measured yet
    assert guard.check(1, cfg) is None  # 50% in use
    assert "fill 0.0 of 0.0 GB of memory (the limit is 95%)" in guard.check(2, cfg)
    guard.accept()  # continued at 97%: next warning past 98.5%
    assert guard.check(3, cfg) is None
    assert guard.check(4, cfg) is not None
    # Apple silicon: MLX past its recommended working set, whatever the rest uses.
    guard = MemoryGuard(0.95, read=lambda: reading(0.3, mlx=0.6, working_set=62), every_s=0)
    guard.check(0, cfg)
    message = guard.check(1, cfg)
    assert "more than 95% of the 0.0 GB the GPU can keep in memory" in message
    assert "grad_checkpoint" not in message  # already on
    assert MemoryGuard(0.0, read=lambda: reading(1.0)).check(5, cfg) is None  # off
