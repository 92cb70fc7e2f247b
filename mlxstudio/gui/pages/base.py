"""What every wizard page has: a title, a subtitle, and a list of what is missing."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from mlxstudio.gui.state import WizardState


class Page(QWidget):
    title = ""
    subtitle = ""
    # problems() may have changed without a change of the wizard's state (a check ended)
    problems_changed = Signal()

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state

    def problems(self) -> list[str]:
        """What must be done on this page before Next; empty when the page is complete."""
        return []

    def enter(self) -> None:
        """Called each time the page is shown."""
