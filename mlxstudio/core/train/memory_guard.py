"""The memory guard: before each step, would it push the machine into heavy swapping? Then
the loop saves a checkpoint and pauses with what to change, instead of thrashing for hours
or being killed by the system. Also the wired-memory limit, set as mlx-lm's generate does,
and on CUDA a memory limit for MLX itself (see cuda_memory_limit)."""

from __future__ import annotations

import platform
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MEMINFO = Path("/proc/meminfo")
CHECK_EVERY_S = 1.0  # reading the system's memory costs a subprocess on macOS
# Between what happened and what to change in the guard's message (the window words it anew).
CONTINUE_OR_STOP = "Close other apps and continue, or stop and "
# The CUDA memory limit is the run's estimate times this: above the limit MLX waits for the
# GPU at every op, so it must stay above what a step needs (the estimate is within +-25%).
LIMIT_HEADROOM = 1.25


@dataclass
class SystemMemory:
    total: int  # bytes
    available: int  # bytes usable without swapping (the kernel's own estimate)


def _meminfo() -> SystemMemory | None:
    values = {}
    for line in MEMINFO.read_text().splitlines():
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) * 1024  # kB
    if "MemTotal" not in values or "MemAvailable" not in values:
        return None
    return SystemMemory(values["MemTotal"], values["MemAvailable"])


def _vm_stat() -> SystemMemory | None:
    total = int(subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True).stdout)
    text = subprocess.run(["vm_stat"], capture_output=True, text=True).stdout
    page = int(re.search(r"page size of (\d+) bytes", text).group(1))
    pages = {k: int(v) for k, v in re.findall(r"Pages (\w+):\s+(\d+)", text)}
    # As psutil counts it on macOS: free and inactive pages are available.
    return SystemMemory(total, (pages.get("free", 0) + pages.get("inactive", 0)) * page)


def system_memory() -> SystemMemory | None:
    """The machine's memory now; None where it cannot be read."""
    try:
        if MEMINFO.is_file():
            return _meminfo()
        if platform.system() == "Darwin":
            return _vm_stat()
    except (OSError, ValueError, AttributeError):
        return None
    return None


def working_set_size() -> int | None:
    """Apple silicon: the most memory MLX's GPU should use before the system pages it out."""
    import mlx.core as mx

    info = getattr(mx, "device_info", None) or getattr(mx.metal, "device_info", None)
    try:
        return int(info()["max_recommended_working_set_size"]) if info else None
    except (KeyError, RuntimeError, TypeError, ValueError):
        return None


@contextmanager
def wired_limit() -> Iterator[None]:
    """Keep MLX's memory wired up to the recommended working set while training, restored
    after (mlx-lm's generate does this; it matters for large models on macOS 15+)."""
    import mlx.core as mx
    from mlx_lm.utils import maybe_set_recommended_wired_limit

    try:
        old = maybe_set_recommended_wired_limit()
    except (RuntimeError, ValueError):  # older macOS, or no such limit here
        old = None
    try:
        yield
    finally:
        if old is not None:
            mx.synchronize()
            mx.set_wired_limit(old)


def cuda_memory_limit(cfg) -> int | None:
    """Bytes MLX should hold at most while this run trains on CUDA (None: leave MLX's own).

    MLX keeps every buffer an op reads until the GPU has run that op, and lets the CPU queue
    up to ten command buffers ahead of the GPU (on an H100/H200 each up to 100 ops or 1 GB of
    inputs). Its default limit, 95% of the GPU, never holds that queue back, so a step's peak
    is what it needs plus everything finished but not yet released: a 7B 4-bit QLoRA step
    peaked at 21 GB, with or without gradient checkpointing. Past the limit MLX waits for the
    GPU before the next op, so the peak stays near the larger of the limit and the need.
    Fine-tuning only: the estimate models its steps, not preference or RL stages'."""
    from mlxstudio.core.config import Stage
    from mlxstudio.core.errors import UserError
    from mlxstudio.core.models.memory import GB, ModelShape, TrainSettings, estimate
    from mlxstudio.core.platform import backend

    if cfg.stage != Stage.SFT or backend().name != "cuda":
        return None
    try:
        shape = ModelShape.from_folder(Path(cfg.model))
        need = estimate(shape, TrainSettings.from_run_config(cfg)).peak_gb
    except (UserError, KeyError, ValueError):
        return None
    return int(need * LIMIT_HEADROOM * GB)


@contextmanager
def memory_limit(limit: int | None) -> Iterator[None]:
    """MLX's memory limit lowered to `limit` bytes (never raised) while inside, restored after."""
    import mlx.core as mx

    if not limit:
        yield
        return
    old = mx.set_memory_limit(min(limit, mx.get_memory_limit()))
    try:
        yield
    finally:
        mx.set_memory_limit(old)


@dataclass
class Reading:
    """What the next step would leave: all processes' memory, and this job's MLX memory."""

    total: int
    used: int
    mlx: int
    working_set: int | None = None

    @property
    def fullness(self) -> float:
        """The larger of the machine's share in use and MLX's share of its working set."""
        share = self.used / self.total
        if self.working_set:
            share = max(share, self.mlx / self.working_set)
        return share


def read_next_step() -> Reading | None:
    """The memory after the next step, if it needs as much as the largest step so far:
    MLX keeps `active + cache` between steps and reaches `peak` within one."""
    import mlx.core as mx

    system = system_memory()
    if system is None:
        return None
    held = mx.get_active_memory() + mx.get_cache_memory()
    peak = mx.get_peak_memory()
    extra = max(0, peak - held)
    return Reading(
        total=system.total,
        used=system.total - system.available + extra,
        mlx=max(peak, held),
        working_set=working_set_size(),
    )


def advice(reading: Reading, limit: float, step: int, cfg) -> str:
    """Why the run paused and what to change, in config keys (the window rewrites them)."""
    gb = 1e9
    if reading.working_set and reading.mlx / reading.working_set >= reading.used / reading.total:
        what = (
            f"training would use {reading.mlx / gb:.1f} GB, more than {limit:.0%} of the "
            f"{reading.working_set / gb:.1f} GB the GPU can keep in memory"
        )
    else:
        what = (
            f"the next step would fill {reading.used / gb:.1f} of {reading.total / gb:.1f} GB "
            f"of memory (the limit is {limit:.0%})"
        )
    fixes = f"lower batch_size (now {cfg.batch_size}) or max_seq_length (now {cfg.max_seq_length})"
    if not cfg.grad_checkpoint:
        fixes += ", or set grad_checkpoint: true"
    fixes += ", or choose a smaller or quantized (4-bit) base model"
    return (
        f"Memory is nearly full: {what}, and the computer would start swapping. Paused at "
        f"step {step} with a checkpoint. {CONTINUE_OR_STOP}{fixes}"
    )


class MemoryGuard:
    """Says when the next step would go past `limit` (a share of memory; 0: never)."""

    def __init__(self, limit: float, read=read_next_step, every_s: float = CHECK_EVERY_S) -> None:
        self.limit = limit
        self.read, self.every_s = read, every_s
        self.last_check = -float("inf")
        self.first_step: int | None = None
        self.reading: Reading | None = None

    def check(self, step: int, cfg) -> str | None:
        """The reason to pause before this step, or None to go on. Not before the job's
        first step: what a step needs is known once one has run."""
        if self.first_step is None:
            self.first_step = step
        now = time.monotonic()
        if self.limit <= 0 or step == self.first_step or now - self.last_check < self.every_s:
            return None
        self.last_check = now
        self.reading = self.read()
        if self.reading is None or self.reading.fullness <= self.limit:
            return None
        return advice(self.reading, self.limit, step, cfg)

    def accept(self) -> None:
        """The user continued anyway (memory freed, or knowingly): warn again only when
        memory gets tighter, halfway from where it is now to full."""
        if self.reading is not None:
            now = self.reading.fullness
            tighter = now + (1.0 - now) / 2 if now < 1.0 else now * 1.05  # past the working set
            self.limit = max(self.limit, tighter)
            self.last_check = -float("inf")
