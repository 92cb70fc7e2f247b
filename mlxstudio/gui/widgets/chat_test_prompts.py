"""Test prompts: a list of prompts saved with the run, answered by the model in one go
(`mlxstudio test-prompts` in a child process); the answers land in the run directory."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core.serve.prompts import TEST_PROMPTS, answers_path, write_prompts
from mlxstudio.engine.job import JobThread, mlxstudio_command

_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]")
EXAMPLES = (
    "What is the capital of France?\nExplain LoRA in one sentence.\nWrite a haiku about autumn."
)


class TestPromptsPanel(QWidget):
    """`context()` gives (model, run_dir, settings) at the moment Run is pressed."""

    def __init__(
        self, context: Callable[[], tuple[Path | None, Path | None, dict]], parent=None
    ) -> None:
        super().__init__(parent)
        self._context = context
        self.job: JobThread | None = None
        self.out: Path | None = None
        self._running = False  # from Run until the window has handled the end
        self.run_dir: Path | None = None

        self.prompts = QPlainTextEdit()
        self.prompts.setPlaceholderText("One prompt a line")
        self.prompts.setPlainText(EXAMPLES)
        self.run_button = QPushButton("Run all prompts")
        self.run_button.clicked.connect(self.run)
        self.status = QLabel("Answers are saved in the run folder, under test_prompts/.")
        self.status.setObjectName("Hint")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Prompt", "Answer", "Tokens/s"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(0, 220)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Prompts"))
        left_layout.addWidget(self.prompts, 1)
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addStretch(1)
        left_layout.addLayout(row)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.table)
        splitter.setSizes([300, 600])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

    def load_run(self, run_dir: Path | None) -> None:
        """Show the run's saved prompt list, if it has one."""
        if run_dir is not None and run_dir != self.run_dir:
            saved = run_dir / TEST_PROMPTS
            if saved.is_file():
                self.prompts.setPlainText(saved.read_text(encoding="utf-8").strip())
        self.run_dir = run_dir

    def is_running(self) -> bool:
        """True from Run until the window has handled the job's end (the thread stops a
        moment before its queued `ended` is handled here)."""
        return self._running

    def run(self) -> None:
        model, run_dir, settings = self._context()
        lines = [line.strip() for line in self.prompts.toPlainText().splitlines()]
        prompts = [line for line in lines if line]
        if self.is_running() or model is None or not prompts:
            return
        if run_dir is None:
            self.status.setText("Train a run first: the prompts and answers are kept with it.")
            return
        listing = write_prompts(run_dir / TEST_PROMPTS, prompts)
        self.out = answers_path(run_dir)
        args = ["test-prompts", str(model), "--prompts", str(listing), "--out", str(self.out)]
        if settings.get("adapter"):
            args += ["--adapter", str(run_dir)]
        if settings.get("system"):
            args += ["--system", settings["system"]]
        args += ["--temperature", str(settings.get("temperature", 0.0))]
        args += ["--top-p", str(settings.get("top_p", 1.0))]
        args += ["--max-tokens", str(settings.get("max_tokens", 128))]
        self.table.setRowCount(0)
        self.status.setText(f"Loading the model to answer {len(prompts)} prompts…")
        self.job = JobThread(mlxstudio_command(*args), parent=self)
        self.job.log.connect(self._line)
        self.job.ended.connect(self._ended)
        self._running = True
        self.job.start()
        self.run_button.setEnabled(False)

    def _line(self, line: str) -> None:
        match = _PROGRESS.match(line)
        if match:
            self.status.setText(f"Answered {match.group(1)} of {match.group(2)}…")
            self._show_answers()

    def _ended(self, code: int, error: str) -> None:
        self._running = False
        self.run_button.setEnabled(True)
        count = self._show_answers()
        if code == 0:
            self.status.setText(f"{count} answers saved to {self.out}")
        else:
            self.status.setText(f"Stopped after {count} answers: {error or 'see the log'}")

    def _show_answers(self) -> int:
        if self.out is None or not self.out.is_file():
            return 0
        records = []
        for line in self.out.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the line being written
        self.table.setRowCount(len(records))
        for row, record in enumerate(records):
            speed = f"{record.get('tokens_per_second', 0):.1f}"
            for column, text in enumerate((record["prompt"], record["answer"], speed)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeRowsToContents()
        return len(records)

    def shutdown(self) -> None:
        if self.job is not None and self.job.isRunning():
            self.job.kill()
            self.job.wait(5000)
