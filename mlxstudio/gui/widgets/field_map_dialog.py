"""When the format can't be told: choose it, and which of the record's fields is which."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core.data import FORMATS, DataOptions

NONE = "(not in my data)"


class FieldMapDialog(QDialog):
    """Drop-downs filled from the first record's fields; `options()` after accept."""

    def __init__(self, fields: list[str], current: DataOptions, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Map your fields")
        self.fields = list(fields)
        self.base = current
        intro = QLabel(
            "Your records have the fields "
            + ", ".join(f"<b>{f}</b>" for f in fields[:12])
            + ". Choose what kind of data it is and which field holds what."
        )
        intro.setWordWrap(True)
        self.format = QComboBox()
        for name, cls in FORMATS.items():
            if name != "text":
                self.format.addItem(cls.label[:1].upper() + cls.label[1:], name)
        guess = current.format or self._best_format()
        self.format.setCurrentIndex(max(0, self.format.findData(guess)))
        self.form = QFormLayout()
        self.form.addRow("Kind of data", self.format)
        self.boxes: dict[str, QComboBox] = {}
        self.format.currentIndexChanged.connect(self._fill)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(self.form)
        layout.addWidget(buttons)
        self._fill()

    def _best_format(self) -> str:
        """The format most of whose fields can be matched by name or position."""
        return "completions" if len(self.fields) >= 2 else "chat"

    def _fill(self, *_args) -> None:
        while self.form.rowCount() > 1:  # the first row is the kind of data
            self.form.removeRow(1)
        self.boxes = {}
        required = FORMATS[self.format.currentData()].required
        for i, ours in enumerate(required):
            box = QComboBox()
            box.addItems([*self.fields, NONE])
            mapped = self.base.fields.get(ours)
            if mapped in self.fields:
                box.setCurrentText(mapped)
            elif ours in self.fields:
                box.setCurrentText(ours)
            else:  # the i-th field is the best guess for the i-th role
                box.setCurrentIndex(min(i, len(self.fields) - 1) if self.fields else 0)
            self.boxes[ours] = box
            self.form.addRow(f"{ours.capitalize()} is in", box)

    def choose(self, fmt: str, **fields: str) -> None:
        """Select a format and fields (what a user does with the drop-downs)."""
        self.format.setCurrentIndex(self.format.findData(fmt))
        for ours, theirs in fields.items():
            self.boxes[ours].setCurrentText(theirs)

    def options(self) -> DataOptions:
        fields = {
            ours: box.currentText() for ours, box in self.boxes.items() if box.currentText() != NONE
        }
        return replace(self.base, format=self.format.currentData(), fields=fields)
