"""A dashed area that takes dropped files and folders (and has a button for the rest)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLabel


def dropped_paths(event: QDropEvent | QDragEnterEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]


class DropZone(QLabel):
    dropped = Signal(list)  # list[Path]

    def __init__(self, text: str, parent=None) -> None:
        super().__init__(text, parent)
        self.setObjectName("DropZone")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setAcceptDrops(True)
        self.empty_text = text
        self.set_compact(False)

    def set_compact(self, compact: bool, text: str = "") -> None:
        """Large while nothing is loaded; a slim strip once data is there (the window keeps
        taking drops anywhere), so the preview gets the room."""
        self.setText(
            text or ("Drop other files here to replace it" if compact else self.empty_text)
        )
        self.setFixedHeight(40 if compact else 90)
        # The style's roomy padding would push a slim strip's one line out of sight.
        self.setStyleSheet("#DropZone { padding: 2px 12px; }" if compact else "")

    def _active(self, on: bool) -> None:
        self.setProperty("active", "true" if on else "false")
        self.style().unpolish(self)
        self.style().polish(self)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if dropped_paths(event):
            event.acceptProposedAction()
            self._active(True)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self._active(False)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self._active(False)
        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.dropped.emit(paths)
