"""The Data page's problems: identical ones collapsed, errors red, warnings amber, each
with an icon; choosing one reports its file and line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from mlxstudio.core.data.issues import Issue, group_issues
from mlxstudio.gui.fixes import describe
from mlxstudio.gui.icons import icon, level_colour

_WHERE = Qt.ItemDataRole.UserRole


class ProblemList(QListWidget):
    """`chosen(file, line)` when the user picks a problem with a place."""

    chosen = Signal(str, int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)  # long messages wrap, no sideways scroll
        self.setFrameShape(QListWidget.Shape.NoFrame)  # the tab around it is the frame
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.currentItemChanged.connect(self._current)
        self.groups: list = []

    def show_issues(self, issues: list[Issue], omitted: int = 0) -> None:
        self.clear()
        self.groups = group_issues(issues)
        for group in self.groups:
            error = group.severity == "error"
            item = QListWidgetItem(icon("error" if error else "warning"), describe(group))
            item.setForeground(level_colour("error" if error else "warning"))
            item.setData(_WHERE, (group.first.file, group.first.line))
            self.addItem(item)
        if omitted:
            self.addItem(f"… and {omitted:,} more problems of the same kinds")

    def add_message(self, text: str) -> None:
        item = QListWidgetItem(icon("error"), text)
        item.setForeground(level_colour("error"))
        self.addItem(item)

    def _current(self, item: QListWidgetItem | None) -> None:
        where = item.data(_WHERE) if item else None
        if where:
            self.chosen.emit(where[0], where[1])
