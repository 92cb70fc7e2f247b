"""Run one slow core function off the GUI thread and report its result as signals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from mlxstudio.core.errors import UserError


class Cancelled(Exception):
    """Raised from a progress callback to cancel the work (core functions let it through)."""


class TaskThread(QThread):
    """`fn(progress)` runs in the thread; `progress(fraction, text)` may be called from it."""

    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[Callable[[float, str], None]], Any], parent=None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def _progress(self, fraction: float, text: str = "") -> None:
        if self.cancelled:
            raise Cancelled()
        self.progressed.emit(fraction, text)

    def run(self) -> None:
        try:
            result = self.fn(self._progress)
        except Cancelled:
            self.failed.emit("Cancelled.")
        except UserError as err:
            self.failed.emit(str(err))
        except Exception as err:  # a bug: say what it was rather than crash the window
            self.failed.emit(f"{type(err).__name__}: {err}")
        else:
            self.succeeded.emit(result)
