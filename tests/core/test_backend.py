"""The backend decides the compute dtype (not the OS): CPU float32, a GPU the model's own.

CI has no GPU: the GPU cases replace MLX's answer to "which device?" (the one edge we
cannot reach here); everything downstream (prepare_model, the estimate) runs for real.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlxstudio.core import platform
from mlxstudio.core.models.memory import ModelShape, TrainSettings, estimate, row_tokens


@pytest.fixture
def on_cuda(monkeypatch):
    """MLX answering as its CUDA backend on an NVIDIA GPU would."""
    import mlx.core as mx

    monkeypatch.setattr(mx, "default_device", lambda: mx.Device(mx.gpu))
    monkeypatch.setattr(mx.cuda, "is_available", lambda: True)
    monkeypatch.setattr(mx, "device_info", lambda: {"device_name": "NVIDIA H200"})


def test_cpu_backend_computes_in_float32():
    here = platform.backend()
    assert (here.name, here.dtype, here.on_gpu) == ("cpu", "float32", False)
    assert platform.compute_dtype_name() == "float32"


def test_a_gpu_keeps_the_models_dtype(on_cuda):
    here = platform.backend()
    assert (here.name, here.device, here.dtype) == ("cuda", "NVIDIA H200", None)
    assert platform.compute_dtype_name() is None
    assert "backend cuda" in here.describe()


def quantized_tiny(tiny_model, tmp_path):
    from mlx_lm.utils import load, quantize_model, save

    model, tokenizer, config = load(str(tiny_model), return_config=True)
    model, config = quantize_model(model, config, group_size=32, bits=4)
    save(tmp_path / "q4", tiny_model, model, tokenizer, config)
    return tmp_path / "q4"


def test_prepare_model_trains_qlora_on_a_gpu_and_float32_on_cpu(tiny_model, tmp_path, monkeypatch):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.utils import load

    from mlxstudio.core.train.trainable import prepare_model

    folder = quantized_tiny(tiny_model, tmp_path)
    model, _ = load(str(folder))
    cpu = prepare_model(model, "auto")
    assert not isinstance(cpu.model.layers[0].self_attn.q_proj, nn.QuantizedLinear)
    assert cpu.model.layers[0].self_attn.q_proj.weight.dtype == mx.float32

    monkeypatch.setattr(mx, "default_device", lambda: mx.Device(mx.gpu))
    model, _ = load(str(folder))
    gpu = prepare_model(model, "auto")
    assert isinstance(gpu.model.layers[0].self_attn.q_proj, nn.QuantizedLinear)


def test_doctor_prints_backend_device_and_dtype():
    done = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "doctor"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "backend: cpu" in done.stdout and "compute dtype: float32" in done.stdout
    assert "device: " in done.stdout


SHAPE_1B = {
    "model_type": "llama",
    "hidden_size": 2048,
    "num_hidden_layers": 16,
    "intermediate_size": 8192,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "torch_dtype": "bfloat16",
}


def test_estimate_counts_a_4bit_base_at_its_real_size_on_a_gpu(on_cuda):
    from mlxstudio.core.config import RunConfig

    q4 = ModelShape.from_config({**SHAPE_1B, "quantization": {"bits": 4, "group_size": 64}})
    bf16 = ModelShape.from_config(SHAPE_1B)
    gpu = TrainSettings.from_run_config(RunConfig(model="m"))
    assert gpu.compute_dtype is None and gpu.backend == "cuda"
    cpu = TrainSettings.from_run_config(RunConfig(model="m"), compute_dtype="float32")
    # CPU: dequantized to float32, 4 bytes a weight; GPU: bf16 2 bytes, 4-bit ~0.56
    per_weight = {
        name: estimate(shape, s).weights_gb * 1e9 / shape.params()
        for name, shape, s in (("cpu", q4, cpu), ("bf16", bf16, gpu))
    }
    assert per_weight["cpu"] == pytest.approx(4, rel=0.01)
    assert per_weight["bf16"] == pytest.approx(2, rel=0.01)
    metal = TrainSettings(compute_dtype=None, backend="metal")
    assert estimate(q4, metal).weights_gb * 1e9 / q4.params() < 0.7


def test_rows_follow_the_datas_longest_example_unless_packed():
    s = TrainSettings(max_seq_length=1024, longest_example=200)
    assert row_tokens(s) == 224  # padded to 32 as mlx-lm pads
    assert (
        row_tokens(TrainSettings(max_seq_length=1024, longest_example=200, backend="cuda")) == 256
    )
    assert row_tokens(TrainSettings(max_seq_length=1024, longest_example=5000)) == 1024
    assert row_tokens(TrainSettings(max_seq_length=1024, longest_example=200, packing=True)) == 1024
    shape = ModelShape.from_config(SHAPE_1B)
    short, full = estimate(shape, s), estimate(shape, TrainSettings(max_seq_length=1024))
    assert short.activations_gb < full.activations_gb / 3


def test_cuda_drops_attention_scores_and_keeps_4bit_weights_4bit():
    shape = ModelShape.from_config(SHAPE_1B)
    base = TrainSettings(batch_size=1, max_seq_length=2048)
    cuda = TrainSettings(batch_size=1, max_seq_length=2048, backend="cuda")
    assert estimate(shape, cuda).activations_gb < estimate(shape, base).activations_gb
    # MLX's CUDA quantized matmul keeps no dequantized copy (measured on an H200: one adds
    # its output and nothing else), so the weights cost the same as on Metal
    q4 = ModelShape.from_config({**SHAPE_1B, "quantization": {"bits": 4, "group_size": 64}})
    metal = TrainSettings(batch_size=1, max_seq_length=2048, backend="metal")
    assert estimate(q4, cuda).weights_gb == estimate(q4, metal).weights_gb
    assert estimate(q4, cuda).weights_gb < estimate(shape, cuda).weights_gb / 3


def test_usable_memory_is_the_gpus_on_cuda(on_cuda, monkeypatch):
    import mlx.core as mx

    from mlxstudio.core.models.memory import machine_memory_gb

    monkeypatch.setattr(mx, "device_info", lambda: {"total_memory": 150_754_820_096})
    assert machine_memory_gb() == pytest.approx(150.75, abs=0.01)
