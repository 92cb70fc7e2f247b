"""Run history: every run in the runs folder, newest first; open one to see its curves."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core import paths, runs

COLUMNS = ("Run", "Status", "Model", "Started", "Val loss")


def list_runs(folder: Path | None = None) -> list[tuple[Path, dict]]:
    folder = folder or paths.runs_dir()
    if not folder.is_dir():
        return []
    found = [(d, runs.read_meta(d)) for d in folder.iterdir() if (d / runs.META).is_file()]
    return sorted(found, key=lambda item: item[1].get("started", 0), reverse=True)


class RunHistory(QWidget):
    open_run = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Double-click a run to see its curves.")
        self.table.cellDoubleClicked.connect(
            lambda row, _col: self.open_run.emit(self.rows[row][0])
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.rows: list[tuple[Path, dict]] = []
        self.refresh()

    def refresh(self) -> None:
        self.rows = list_runs()
        self.table.setRowCount(len(self.rows))
        for row, (path, meta) in enumerate(self.rows):
            started = meta.get("started")
            val = meta.get("last_val_loss")
            cells = (
                path.name,
                meta.get("status", "?"),
                Path(meta.get("model", "?")).name,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "",
                f"{val:.3f}" if isinstance(val, (int, float)) else "",
            )
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
