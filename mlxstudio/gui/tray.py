"""The menu-bar item: the run's progress and ETA, Stop and Show window; a notice when a run
ends or is paused for memory, which opens that run when clicked."""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from mlxstudio.core.train.eta import format_eta

LONG_ETA_S = 600  # from here on, the ETA also says when: "ETA 2h 05m (about 16:40)"


def eta_text(eta: float) -> str:
    text = f"ETA {format_eta(eta if eta >= 0 else None)}"
    if eta >= LONG_ETA_S:
        text += f" (about {time.strftime('%H:%M', time.localtime(time.time() + eta))})"
    return text


def status_text(run: str, step: int, total: int, loss: float, eta: float, running: bool) -> str:
    """One line for the menu bar: 'demo · step 20/40 · loss 0.412 · ETA 1m 05s'."""
    if not run:
        return "No training run"
    parts = [run, f"step {step}/{total}"]
    if not math.isnan(loss):
        parts.append(f"loss {loss:.3f}")
    if running:
        parts.append(eta_text(eta))
    else:
        parts.append("finished")
    return " · ".join(parts)


class TrayStatus(QObject):
    """Holds the status (testable offscreen) and mirrors it into a system tray icon when the
    platform has one (the macOS menu bar, most Linux desktops)."""

    stop_requested = Signal()
    show_requested = Signal()
    open_run = Signal(object)  # the run directory of the notice clicked
    notice_sent = Signal(str, str)  # title, text

    def __init__(self, icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.text = status_text("", 0, 0, float("nan"), -1, False)
        self.running = False
        self.last_notice = ""
        self.notice_run: Path | None = None  # what clicking the last notice opens
        self.menu = QMenu()
        self.status_action = QAction(self.text, self.menu)
        self.status_action.setEnabled(False)
        self.stop_action = QAction("Stop training", self.menu)
        self.stop_action.triggered.connect(self.stop_requested)
        self.stop_action.setEnabled(False)
        self.show_action = QAction("Show MLX Studio", self.menu)
        self.show_action.triggered.connect(self.show_requested)
        for action in (self.status_action, self.stop_action, self.show_action):
            self.menu.addAction(action)
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(icon, self)
            self.icon.setContextMenu(self.menu)
            self.icon.setToolTip("MLX Studio")
            self.icon.activated.connect(lambda _reason: self.show_requested.emit())
            self.icon.messageClicked.connect(self.open_notice)
            self.icon.show()

    def update(
        self, run: str, step: int, total: int, loss: float, eta: float, running: bool
    ) -> None:
        self.text = status_text(run, step, total, loss, eta, running)
        self.running = running
        self.status_action.setText(self.text)
        self.stop_action.setEnabled(running)
        if self.icon is not None:
            self.icon.setToolTip(f"MLX Studio\n{self.text}")

    def notify(self, title: str, message: str, run_dir: Path | None = None) -> None:
        """A desktop notification (the menu-bar item's on macOS); clicking it opens run_dir."""
        self.last_notice = f"{title}: {message}"
        self.notice_run = run_dir
        if self.icon is not None:
            self.icon.showMessage(title, message, self.icon.icon(), 15_000)
        self.notice_sent.emit(title, message)

    def open_notice(self) -> None:
        """The last notice was clicked: its run, else the window."""
        if self.notice_run is not None:
            self.open_run.emit(self.notice_run)
        else:
            self.show_requested.emit()
