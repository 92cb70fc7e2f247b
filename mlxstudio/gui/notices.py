"""What the desktop notification says when a run ends or the memory guard pauses it: the
outcome and the run's final figures (steps, time, validation loss before -> after)."""

from __future__ import annotations

from mlxstudio.core import events as ev
from mlxstudio.core.config import Stage
from mlxstudio.core.curves import val_words
from mlxstudio.core.runs import Status
from mlxstudio.core.train.eta import format_eta
from mlxstudio.gui.widgets.plots import last_per_step
from mlxstudio.gui.widgets.run_info import finite

TITLES = {
    Status.COMPLETED: "Training completed",
    Status.STOPPED: "Training stopped",
    Status.FAILED: "Training failed",
    "memory": "Training paused: memory nearly full",
}


def figures(events: list[dict], step: int, total: int) -> str:
    """'40 of 40 steps in 3m 12s · validation loss 2.314 → 1.207' (what is known)."""
    parts = [f"{step} of {total} steps"]
    times = [e["elapsed_s"] for e in events if finite(e.get("elapsed_s"))]
    if times:
        parts[0] += f" in {format_eta(max(times))}"
    kept = [e for e in last_per_step(events) if e.get("event") == ev.Val.kind]
    vals = [e["val_loss"] for e in kept if finite(e.get("val_loss"))]
    # only GRPO's validation reports a held-out reward (its val_loss is the negative)
    stage = Stage.GRPO if any("reward_mean" in e for e in kept) else Stage.SFT
    if vals:
        parts.append(val_words(stage, *vals[:: max(len(vals) - 1, 1)]))
    return " · ".join(parts)


def run_notice(
    outcome: str, run: str, events: list[dict], step: int, total: int, detail: str = ""
) -> tuple[str, str]:
    """(title, text) for outcome completed | stopped | failed | memory (paused by the
    guard); `detail` is the failure or what to change, in the window's words."""
    text = f"{run}: {figures(events, step, total)}."
    if detail:
        text += f" {detail}"
    if outcome == Status.STOPPED:
        text += " Resume run continues it."
    return TITLES[outcome], text
