"""On CUDA, MLX's memory is bounded while training: smaller command buffers before MLX
starts, and a memory limit from the run's estimate.

CI has no GPU: only MLX's answer to "which device?" is replaced (the one edge we cannot reach
here); the estimate, the config and MLX's memory limit are real.
"""

from __future__ import annotations

import os

import mlx.core as mx
import pytest

from mlxstudio.core import platform
from mlxstudio.core.config import RunConfig
from mlxstudio.core.models.memory import ModelShape, TrainSettings, estimate
from mlxstudio.core.train.memory_guard import LIMIT_HEADROOM, cuda_memory_limit, memory_limit


@pytest.fixture
def on_cuda(monkeypatch):
    """MLX answering as its CUDA backend on an NVIDIA GPU would."""
    monkeypatch.setattr(mx, "default_device", lambda: mx.Device(mx.gpu))
    monkeypatch.setattr(mx.cuda, "is_available", lambda: True)
    monkeypatch.setattr(mx, "device_info", lambda: {"device_name": "NVIDIA H200"})


def test_the_cli_sets_smaller_cuda_buffers_unless_the_user_did(monkeypatch):
    monkeypatch.setattr(platform.sys, "platform", "linux")
    env = {"MLX_MAX_OPS_PER_BUFFER": "7"}
    platform.mlx_cuda_defaults(env)
    assert env == {"MLX_MAX_OPS_PER_BUFFER": "7", "MLX_MAX_MB_PER_BUFFER": "100"}
    monkeypatch.setattr(platform.sys, "platform", "darwin")  # Metal keeps its own sizes
    mac: dict[str, str] = {}
    platform.mlx_cuda_defaults(mac)
    assert mac == {}


def test_a_mlxstudio_process_starts_with_them(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLX_MAX_")}
    code = (
        "import os, sys; from mlxstudio.core.platform import reexec_with_fast_blas; "
        "reexec_with_fast_blas(['doctor']); print(os.environ['MLX_MAX_MB_PER_BUFFER'])"
    )
    env["MLXSTUDIO_BLAS_CHECKED"] = "1"  # no re-exec: this process itself must have them
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "100", out.stderr


def test_training_on_cuda_is_held_to_the_estimate_with_headroom(on_cuda, tiny_model):
    cfg = RunConfig(model=str(tiny_model), batch_size=2, max_seq_length=256)
    want = estimate(ModelShape.from_folder(tiny_model), TrainSettings.from_run_config(cfg))
    assert want.peak_gb > 0
    assert cuda_memory_limit(cfg) == int(want.peak_gb * LIMIT_HEADROOM * 1e9)


def test_no_limit_on_the_cpu_nor_for_stages_the_estimate_does_not_model(tiny_model, on_cuda):
    assert cuda_memory_limit(RunConfig(model=str(tiny_model), stage="dpo")) is None
    assert cuda_memory_limit(RunConfig(model="/nowhere/no-model")) is None


def test_no_limit_on_the_cpu_backend(tiny_model):
    assert cuda_memory_limit(RunConfig(model=str(tiny_model))) is None


def test_the_limit_is_lowered_inside_and_restored_after():
    before = mx.get_memory_limit()
    with memory_limit(before // 2):
        assert mx.get_memory_limit() == before // 2
        with memory_limit(before):  # never raised
            assert mx.get_memory_limit() == before // 2
    assert mx.get_memory_limit() == before
    with memory_limit(None):
        assert mx.get_memory_limit() == before
