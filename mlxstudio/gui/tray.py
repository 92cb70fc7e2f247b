"""The menu-bar item: the run's progress, Stop and Show window; a notice when a run ends."""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from mlxstudio.gui.pages.train_page import format_eta


def status_text(run: str, step: int, total: int, loss: float, eta: float, running: bool) -> str:
    """One line for the menu bar: 'demo · step 20/40 · loss 0.412 · ETA 1m 05s'."""
    if not run:
        return "No training run"
    parts = [run, f"step {step}/{total}"]
    if not math.isnan(loss):
        parts.append(f"loss {loss:.3f}")
    if running:
        parts.append(f"ETA {format_eta(eta if eta >= 0 else None)}")
    else:
        parts.append("finished")
    return " · ".join(parts)


class TrayStatus(QObject):
    """Holds the status (testable offscreen) and mirrors it into a system tray icon when the
    platform has one (the macOS menu bar, most Linux desktops)."""

    stop_requested = Signal()
    show_requested = Signal()

    def __init__(self, icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.text = status_text("", 0, 0, float("nan"), -1, False)
        self.running = False
        self.last_notice = ""
        self.menu = QMenu()
        self.status_action = QAction(self.text, self.menu)
        self.status_action.setEnabled(False)
        self.stop_action = QAction("Stop training", self.menu)
        self.stop_action.triggered.connect(self.stop_requested)
        self.stop_action.setEnabled(False)
        show = QAction("Show MLX Studio", self.menu)
        show.triggered.connect(self.show_requested)
        for action in (self.status_action, self.stop_action, show):
            self.menu.addAction(action)
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(icon, self)
            self.icon.setContextMenu(self.menu)
            self.icon.setToolTip("MLX Studio")
            self.icon.activated.connect(lambda _reason: self.show_requested.emit())
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

    def notify(self, title: str, message: str) -> None:
        self.last_notice = f"{title}: {message}"
        if self.icon is not None:
            self.icon.showMessage(title, message)
