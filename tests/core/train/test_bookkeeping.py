"""Out of memory told apart from other crashes, which keep their traceback in the run."""

from __future__ import annotations

import pytest

from mlxstudio.core import paths, runs
from mlxstudio.core.train.sft import run_sft
from mlxstudio.core.train.stage import is_out_of_memory


@pytest.mark.parametrize(
    "message",
    [
        "[malloc] Unable to allocate 123456789 bytes.",
        "[metal::malloc] Attempting to allocate 96905199616 bytes which is greater than the "
        "maximum allowed buffer size of 17179869184 bytes.",
        "[METAL] Command buffer execution failed: Insufficient Memory "
        "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)",
        "cudaMallocManaged failed: out of memory",
    ],
)
def test_mlx_allocation_failures_are_out_of_memory(message):
    assert is_out_of_memory(RuntimeError(message))


@pytest.mark.parametrize(
    "message",
    [
        "the memory layout of this array is not contiguous",
        "cannot allocate a name for the module",
        "[reshape] Cannot reshape array of size 12 into shape (5,).",
    ],
)
def test_other_errors_are_not_out_of_memory(message):
    assert not is_out_of_memory(RuntimeError(message))
    assert not is_out_of_memory(ValueError("[malloc] Unable to allocate 1 bytes."))


def test_a_crash_keeps_its_traceback_in_the_run(make_config, monkeypatch):
    """A bug mentioning memory is a crash with its traceback, not 'lower batch_size'."""
    import mlx.core as mx

    real_eval, calls = mx.eval, {"n": 0}

    def failing_eval(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("bad memory layout in my patched kernel")
        return real_eval(*args)

    with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="bad memory"):
        patch.setattr(mx, "eval", failing_eval)
        run_sft(make_config(name="crash", steps_per_eval=100), log=lambda m: None)
    run_dir = paths.runs_dir() / "crash"
    error = next(e for e in runs.read_events(run_dir) if e["event"] == "error")
    assert error["code"] == "crash"
    assert "Traceback (most recent call last)" in error["traceback"]
    assert "failing_eval" in error["traceback"]
    assert runs.read_meta(run_dir)["status"] == "failed"
