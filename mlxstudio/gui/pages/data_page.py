"""Data page: drop a dataset, see what was detected, preview records, list problems."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from mlxstudio.core.errors import UserError
from mlxstudio.core.train.data_check import check_data_folder
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.widgets.drop_zone import DropZone

PREVIEW_ROWS = 50


def _preview_row(record: dict) -> tuple[str, str]:
    """(what the model reads, what it learns to write) for one mlx-lm record."""
    if "messages" in record:
        msgs = record["messages"]
        answer = next(
            (m.get("content", "") for m in reversed(msgs) if m.get("role") == "assistant"), ""
        )
        asked = " / ".join(
            f"{m.get('role')}: {m.get('content', '')}" for m in msgs if m.get("role") != "assistant"
        )
        return asked, answer
    if "prompt" in record:
        return str(record["prompt"]), str(record.get("completion", ""))
    return "", str(record.get("text", ""))


class DataPage(Page):
    title = "Data"
    subtitle = (
        "Drop your dataset on the window: a folder with train.jsonl and valid.jsonl "
        "in chat, prompt/completion or text form."
    )

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.zone = DropZone(
            "Drop a dataset folder here\n(train.jsonl, valid.jsonl, optional test.jsonl)"
        )
        self.zone.dropped.connect(lambda paths: self.open_path(paths[0]))
        choose = QPushButton("Choose folder…")
        choose.clicked.connect(self._choose)
        sample = QPushButton("Use the sample data")
        sample.setToolTip("A small pirate-style Q&A set shipped with the app.")
        sample.clicked.connect(self.use_sample)
        buttons = QHBoxLayout()
        buttons.addWidget(choose)
        buttons.addWidget(sample)
        buttons.addStretch(1)

        self.info = QLabel("No dataset yet.")
        self.info.setObjectName("Hint")
        self.info.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Prompt", "Answer"])
        self.table.verticalHeader().setVisible(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.problem_list = QListWidget()
        self.problem_list.setMaximumHeight(90)
        self.problem_list.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.zone)
        layout.addLayout(buttons)
        layout.addWidget(self.info)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problem_list)

    def use_sample(self) -> None:
        from mlxstudio.core import paths

        self.open_path(paths.resources_dir() / "sample_data")

    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a dataset folder", str(Path.home()))
        if folder:
            self.open_path(Path(folder))

    def open_path(self, path: Path) -> None:
        self.problem_list.clear()
        self.problem_list.hide()
        try:
            folder = check_data_folder(str(path))
        except UserError as err:
            self.state.set_data(None)
            self.table.setRowCount(0)
            self.info.setText(f"Can't use {path.name}.")
            self.problem_list.addItem(str(err))
            self.problem_list.show()
            return
        counts = {}
        for name in ("train", "valid", "test"):
            file = folder / f"{name}.jsonl"
            if file.exists():
                with file.open(encoding="utf-8-sig") as fh:
                    counts[name] = sum(1 for line in fh if line.strip())
        self.info.setText(
            f"{folder} · " + " · ".join(f"{n}: {c} records" for n, c in counts.items())
        )
        if "valid" not in counts:
            self.problem_list.addItem("No valid.jsonl: training runs without validation loss.")
            self.problem_list.show()
        self._preview(folder / "train.jsonl")
        self.state.set_data(folder)

    def _preview(self, file: Path) -> None:
        rows = []
        with file.open(encoding="utf-8-sig") as fh:
            for line in fh:
                if line.strip():
                    rows.append(_preview_row(json.loads(line)))
                if len(rows) >= PREVIEW_ROWS:
                    break
        self.table.setRowCount(len(rows))
        for r, (asked, answer) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(asked))
            self.table.setItem(r, 1, QTableWidgetItem(answer))

    def problems(self) -> list[str]:
        return [] if self.state.data_dir else ["Drop or choose a dataset folder."]
