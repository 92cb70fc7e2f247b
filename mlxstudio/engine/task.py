"""Run one slow core function in a child process and report it as Qt signals.

The function runs in a spawned process (core/child.py), so neither the GIL nor a crash in
it can freeze or kill the window; a QThread here only waits on the pipe. The function and
its arguments must be picklable: a module-level `fn(progress, *args)`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from mlxstudio.core.child import run_child

_SPAWN = multiprocessing.get_context("spawn")  # fork would copy Qt's threads and state


class TaskThread(QThread):
    """`progressed(fraction, text)` while it runs, then `succeeded(result)` or `failed(message)`;
    after a failure `fix` names the fix when the app has a control for it (core FIXES)."""

    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[..., Any], *args: Any, parent=None) -> None:
        super().__init__(parent)
        self.fn, self.args = fn, args
        self.cancelled = False
        self.fix = ""

    def cancel(self) -> None:
        """Stop the work: the child process is terminated at once."""
        self.cancelled = True

    def run(self) -> None:
        receive, send = _SPAWN.Pipe(duplex=False)
        process = _SPAWN.Process(target=run_child, args=(self.fn, self.args, send), daemon=True)
        try:
            process.start()
        except (OSError, ValueError, TypeError, AttributeError) as err:  # spawn or pickling
            self.failed.emit(f"Could not start the background task: {err}")
            return
        send.close()  # ours is only for the child: EOF on `receive` means the child is gone
        try:
            self._relay(receive, process)
        finally:
            if process.is_alive():
                process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
            receive.close()

    def _relay(self, receive, process) -> None:
        while True:
            if self.cancelled:
                self.failed.emit("Cancelled.")
                return
            if not receive.poll(0.05):
                continue
            try:
                message = receive.recv()
            except (EOFError, OSError):
                process.join(1)
                self.failed.emit(
                    f"The background task ended unexpectedly (exit code {process.exitcode})."
                )
                return
            kind = message[0]
            if kind == "progress":
                self.progressed.emit(message[1], message[2])
            elif kind == "done":
                self.succeeded.emit(message[1])
                return
            else:
                self.fix = message[2]
                self.failed.emit(message[1])
                return
