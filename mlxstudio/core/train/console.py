"""One readable line per event, for people watching `mlxstudio train` or the demo."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from mlxstudio.core import events as ev


def describe(event: dict) -> str | None:
    """'  step  20/40  loss 0.412  lr 2.0e-04  33 tok/s  0.87 GB', or None if not shown."""
    kind = event.get("event")
    step, total = event.get("step"), event.get("total_steps")
    if not isinstance(step, int):
        step = "?"
    where = f"  step {step:>5}/{total}" if total else f"  step {step:>5}"
    if kind == ev.Train.kind:
        parts = [where, f"loss {event['train_loss']:.3f}"]
        if "reward_mean" in event:
            parts.append(f"reward {event['reward_mean']:.3f}  kl {event.get('kl', 0):.3f}")
        if "margin" in event:
            parts.append(f"margin {event['margin']:.3f}")
        parts += [
            f"lr {event['learning_rate']:.1e}",
            f"{event['tokens_per_second']:,.0f} tok/s",
            f"{event['peak_memory_gb']:.2f} GB",
        ]
        return "  ".join(parts)
    if kind == ev.Val.kind:
        if event.get("reward_mean") is not None:  # GRPO: greedy answers to held-out prompts
            return f"{where}  held-out reward {event['reward_mean']:.3f}"
        return f"{where}  validation loss {event['val_loss']:.3f}"
    if kind == ev.Checkpoint.kind:
        return f"{where}  checkpoint saved" + ("  (best so far)" if event.get("best") else "")
    if kind == ev.Sample.kind:
        return f"{where}  sample: {event.get('prompt', '')!r} -> {event.get('response', '')!r}"
    if kind == ev.Paused.kind:  # a person at a terminal: how to go on from here
        how = f"continue with `kill -USR2 {os.getpid()}`, or stop with Ctrl-C (it saves)"
        return f"  paused: {event.get('message', '') or 'at step ' + str(step)}; {how}"
    if kind in (ev.Warning.kind, ev.Resumed.kind, ev.Stopped.kind):
        return f"  {kind}: {event.get('message', '') or 'at step ' + str(step)}"
    return None


def printer(out: Callable[[str], None] | None = None) -> Callable[[dict], None]:
    """An event sink that prints `describe` lines (flushed: the run may be long)."""

    def emit(line: str) -> None:
        print(line, file=sys.stdout, flush=True)

    write = out or emit

    def sink(event: dict) -> None:
        line = describe(event)
        if line:
            write(line)

    return sink
