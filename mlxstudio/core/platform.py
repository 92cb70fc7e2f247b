"""Per-machine choices: which BLAS MLX's CPU backend uses, and the dtype to compute in.

The dtype follows the device MLX computes on, not the operating system: on a GPU (Metal
on a Mac, CUDA on Linux with `mlx[cuda13]`) training, generation and serving keep the
model's own dtype (bfloat16/float16, and a quantized base trains as QLoRA). On MLX's CPU
backend fp16/bf16/quantized matmuls are slow, so everything computes in float32; and on
Linux the CPU wheel bundles a reference BLAS about 40x slower than OpenBLAS for fp32
matmuls, so we preload Debian's OpenBLAS (it must be in LD_PRELOAD before the process
starts).
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass

_OPENBLAS_GLOB = "/usr/lib/*-linux-gnu/openblas-pthread/libblas.so.3"
_REEXEC_MARK = "MLXSTUDIO_BLAS_CHECKED"
# MLX's CUDA backend lets the CPU queue ten command buffers ahead of the GPU and frees what
# their ops read only once the GPU has run them; on an H100/H200 a buffer holds up to 100
# ops or 1 GB of inputs, so a 7B 4-bit QLoRA step that needs 13.3 GB peaked at 25.9 GB.
# MLX's defaults for other GPUs: 14.0 GB at the same speed (measured on an H200). MLX reads
# them once, when it starts.
MLX_CUDA_BUFFERS = {"MLX_MAX_MB_PER_BUFFER": "100", "MLX_MAX_OPS_PER_BUFFER": "20"}


def openblas_path() -> str | None:
    """Path of the system's OpenBLAS on Linux, or None if not installed / not Linux."""
    if not sys.platform.startswith("linux"):
        return None
    found = sorted(glob.glob(_OPENBLAS_GLOB))
    return found[0] if found else None


def with_fast_blas(env: dict[str, str]) -> dict[str, str]:
    """A copy of env whose LD_PRELOAD includes OpenBLAS where that helps (child processes)."""
    env = dict(env)
    lib = openblas_path()
    if lib and lib not in env.get("LD_PRELOAD", ""):
        env["LD_PRELOAD"] = ":".join(p for p in (lib, env.get("LD_PRELOAD", "")) if p)
    env[_REEXEC_MARK] = "1"
    return env


def mlx_cuda_defaults(env: dict[str, str] | os._Environ) -> None:
    """Smaller CUDA command buffers, unless set already (Linux: where MLX may run on CUDA;
    Metal has its own smaller defaults under the same names)."""
    if sys.platform.startswith("linux"):
        for key, value in MLX_CUDA_BUFFERS.items():
            env.setdefault(key, value)


def reexec_with_fast_blas(argv: list[str]) -> None:
    """Re-execute this command once with OpenBLAS preloaded, if it is not loaded yet; and
    MLX's CUDA settings in the environment before MLX starts."""
    mlx_cuda_defaults(os.environ)
    if os.environ.get(_REEXEC_MARK) or "mlx" in sys.modules:
        return
    lib = openblas_path()
    if not lib or lib in os.environ.get("LD_PRELOAD", ""):
        return
    os.execve(
        sys.executable, [sys.executable, "-m", "mlxstudio", *argv], with_fast_blas(os.environ)
    )


@dataclass(frozen=True)
class Backend:
    """Where MLX computes here: 'metal', 'cuda' or 'cpu', the device's name, and the
    dtype training computes in (None: the model's own)."""

    name: str
    device: str
    dtype: str | None

    @property
    def on_gpu(self) -> bool:
        return self.name != "cpu"

    def describe(self) -> str:
        dtype = self.dtype or "the model's own (bfloat16/float16; 4-bit bases as QLoRA)"
        return f"backend {self.name}, device {self.device}, compute dtype {dtype}"


def backend() -> Backend:
    """The one place that decides the backend and the compute dtype (from MLX's default
    device; MLX picks the GPU when its Metal or CUDA backend is present)."""
    import mlx.core as mx

    on_gpu = mx.default_device().type == mx.DeviceType.gpu
    cuda = getattr(mx, "cuda", None)
    if not on_gpu:
        name = "cpu"
    elif mx.metal.is_available():
        name = "metal"
    elif cuda is not None and cuda.is_available():
        name = "cuda"
    else:
        name = "gpu"
    try:
        device = str(mx.device_info().get("device_name") or name)
    except (RuntimeError, AttributeError):
        device = name
    return Backend(name=name, device=device, dtype=None if on_gpu else "float32")


def compute_dtype_name() -> str | None:
    """'float32' on the CPU backend (half and quantized matmuls are slow there); None on a
    GPU: keep the model's dtype, and train a quantized base as QLoRA."""
    return backend().dtype
