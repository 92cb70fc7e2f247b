"""Per-platform choices: which BLAS MLX's CPU backend uses, and the dtype to compute in.

On Linux, MLX's CPU wheel bundles a reference BLAS about 40x slower than OpenBLAS for
fp32 matmuls, and fp16/bf16/quantized matmuls are slow on the CPU: so we preload
Debian's OpenBLAS (it must be in LD_PRELOAD before the process starts) and train in
float32. On macOS MLX uses Metal and the model's own dtype.
"""

from __future__ import annotations

import glob
import os
import sys

_OPENBLAS_GLOB = "/usr/lib/*-linux-gnu/openblas-pthread/libblas.so.3"
_REEXEC_MARK = "MLXSTUDIO_BLAS_CHECKED"


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


def reexec_with_fast_blas(argv: list[str]) -> None:
    """Re-execute this command once with OpenBLAS preloaded, if it is not loaded yet."""
    if os.environ.get(_REEXEC_MARK) or "mlx" in sys.modules:
        return
    lib = openblas_path()
    if not lib or lib in os.environ.get("LD_PRELOAD", ""):
        return
    os.execve(
        sys.executable, [sys.executable, "-m", "mlxstudio", *argv], with_fast_blas(os.environ)
    )


def compute_dtype_name() -> str | None:
    """'float32' where half and quantized matmuls are slow (CPU backend); None = keep model's."""
    return None if sys.platform == "darwin" else "float32"
