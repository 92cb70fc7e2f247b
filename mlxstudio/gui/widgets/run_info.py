"""What the window shows about a run, read from its directory: method name, best validation
loss, the log it kept, whether it can be resumed."""

from __future__ import annotations

import math
from pathlib import Path

from mlxstudio.core import events as ev
from mlxstudio.core import runs
from mlxstudio.core.curves import val_words

LOG_FILE = "training.log"  # the window's log of a run, kept in its run directory
# Logs other tools leave in a run directory, read when the window kept none.
OTHER_LOGS = ("logs/training.log", "log.txt")
# The training stage, as the window names it.
METHOD_NAMES = {
    "sft": "Supervised fine-tuning (SFT)",
    "dpo": "Preference pairs (DPO)",
    "rl": "Offline RL from scored answers (PPO)",
    "grpo": "Online RL with a reward (GRPO)",
    "pretrain": "Pretraining from scratch",
    "reward": "Reward model",
}


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def method_name(stage: str) -> str:
    return METHOD_NAMES.get(stage, stage)


def best_val_loss(events: list[dict], meta: dict | None = None) -> float | None:
    """The lowest validation loss of a run's events (run.json's last one if none)."""
    losses = [e.get("val_loss") for e in events if e.get("event") == ev.Val.kind]
    losses = [v for v in losses if finite(v)]
    if losses:
        return min(losses)
    last = (meta or {}).get("last_val_loss")
    return float(last) if finite(last) else None


def best_words(events: list[dict], meta: dict | None = None) -> str | None:
    """'best validation loss 1.207', or a GRPO run's 'best held-out reward 0.562'."""
    best = best_val_loss(events, meta)
    if best is None:
        return None
    return "best " + val_words(str((meta or {}).get("stage", "sft")), best)


def read_log(run_dir: Path) -> str | None:
    """The log kept in a run directory, or None when there is none."""
    for name in (LOG_FILE, *OTHER_LOGS):
        path = Path(run_dir) / name
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")
    return None


def is_resumable(run_dir: Path | None) -> bool:
    """A stopped or crashed run with a checkpoint to continue from."""
    if run_dir is None:
        return False
    checkpoints = Path(run_dir) / "checkpoints"
    if not checkpoints.is_dir() or not any(checkpoints.iterdir()):
        return False
    # a run killed mid-way (out of memory) still says "running": it is resumable too
    return runs.read_meta(run_dir).get("status") != runs.Status.COMPLETED
