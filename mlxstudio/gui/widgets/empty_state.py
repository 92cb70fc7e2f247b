"""An empty-state panel: a large icon, one line of help, and the action that fills it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from mlxstudio.gui.icons import IconLabel
from mlxstudio.gui.style import make_primary

ICON_PX = 48


def empty_state(
    icon_name: str, text: str, button_text: str | None = None
) -> tuple[QWidget, QPushButton | None]:
    """A centred panel (objectName "EmptyState") with icon_name's icon, text, and a primary
    button when button_text is given. Returns (panel, button); connect the button yourself.
    """
    panel = QFrame()
    panel.setObjectName("EmptyState")
    picture = IconLabel(icon_name, ICON_PX, QPalette.ColorRole.PlaceholderText)
    words = QLabel(text)
    words.setObjectName("EmptyStateText")
    words.setWordWrap(True)
    words.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(24, 24, 24, 24)
    layout.setSpacing(12)
    layout.addStretch(1)
    layout.addWidget(picture, 0, Qt.AlignmentFlag.AlignHCenter)
    layout.addWidget(words)
    button = None
    if button_text:
        button = make_primary(QPushButton(button_text))
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)
    layout.addStretch(1)
    return panel, button
