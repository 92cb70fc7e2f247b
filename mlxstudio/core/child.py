"""The child side of a task run in its own process (see engine/task.py): call the function,
send its progress and its result or error back through a pipe.

A separate process, not a thread, because validating or tokenizing a big dataset holds the
GIL for long stretches and a thread of the window's process would freeze the window."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from mlxstudio.core.errors import UserError

PROGRESS_EVERY_S = 0.05  # more often is invisible and costs the pipe
PHASE_JUMP = 0.04  # progress that moves this much at once is sent whenever it comes


def run_child(fn: Callable[..., Any], args: tuple, conn: Connection) -> None:
    """`fn(progress, *args)`; messages: ("progress", fraction, text), ("done", result),
    ("failed", message, fix)."""
    # Cancelling terminates the child: raise instead of dying, so `finally` blocks run
    # (a cancelled convert removes its partial output folder).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    last, shown = 0.0, -1.0

    def progress(fraction: float, text: str = "") -> None:
        # A jump is a new phase ("Creating the repo" -> "Uploading"): always sent, or a
        # long phase would show the words of the short one before it.
        nonlocal last, shown
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S or fraction >= 1.0 or fraction - shown >= PHASE_JUMP:
            last, shown = now, fraction
            conn.send(("progress", float(fraction), str(text)))

    try:
        result = fn(progress, *args)
    except UserError as err:
        conn.send(("failed", str(err), err.fix))
    except Exception as err:  # a bug: say what it was rather than die silently
        conn.send(("failed", f"{type(err).__name__}: {err}", ""))
    else:
        conn.send(("done", result))
    conn.close()


def _exit_on_sigterm(_signum, _frame) -> None:
    sys.exit(130)
