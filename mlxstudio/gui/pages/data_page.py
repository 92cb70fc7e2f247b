"""Data page: drop any dataset, see the detected format, preview records as the model will
see them, click through problems by line, see token lengths, and prepare the split."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core import paths
from mlxstudio.core.data import Issue, convert, preview, token_stats, validate
from mlxstudio.engine.task import TaskThread
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.widgets.drop_zone import DropZone
from mlxstudio.gui.widgets.histogram import TokenHistogram

PREVIEW_ROWS = 30


def is_dataset_folder(path: Path) -> bool:
    """Already in mlx-lm's layout: a folder with train.jsonl (and usually valid.jsonl)."""
    return path.is_dir() and (path / "train.jsonl").is_file()


def split_files(folder: Path) -> list[Path]:
    return [
        folder / f"{n}.jsonl"
        for n in ("train", "valid", "test")
        if (folder / f"{n}.jsonl").is_file()
    ]


def read_line(file: str, line: int) -> str:
    try:
        with open(file, encoding="utf-8", errors="replace") as fh:
            text = next(itertools.islice(fh, line - 1, line), "")
    except OSError as err:
        return str(err)
    return text if len(text) < 2000 else text[:2000] + " …"


class DataPage(Page):
    title = "Data"
    subtitle = (
        "Drop your dataset on the window: JSONL, JSON, CSV/TSV, text files or a folder. "
        "Chat, Alpaca, ShareGPT, prompt/completion, MLX-Pretrain and Second-Me are "
        "recognised."
    )

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.inputs: list[Path] = []
        self.task: TaskThread | None = None
        self.stats_task: TaskThread | None = None
        self.report = None
        self.stats_for: tuple | None = None

        # A model chosen later (Model page) is when token lengths can be measured.
        state.changed.connect(self.enter)
        self.zone = DropZone("Drop data files or a folder here")
        self.zone.dropped.connect(self.open_paths)
        files = QPushButton("Choose files…")
        files.clicked.connect(self._choose_files)
        folder = QPushButton("Choose folder…")
        folder.clicked.connect(self._choose_folder)
        sample = QPushButton("Use the sample data")
        sample.setToolTip("A small pirate-style Q&A set shipped with the app.")
        sample.clicked.connect(self.use_sample)
        buttons = QHBoxLayout()
        for b in (files, folder, sample):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.info = QLabel("No dataset yet.")
        self.info.setObjectName("Hint")
        # Long paths must wrap or clip, never widen the window.
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.info.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.hide()

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Line", "What the model reads", "What it learns"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.problem_list = QListWidget()
        self.problem_list.setWordWrap(True)  # long file:line messages wrap, no sideways scroll
        self.problem_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.problem_list.currentItemChanged.connect(self._show_problem)
        self.problem_detail = QLabel()
        self.problem_detail.setWordWrap(True)
        self.problem_detail.setObjectName("Hint")
        problems = QWidget()
        problems_layout = QVBoxLayout(problems)
        problems_layout.addWidget(self.problem_list, 1)
        problems_layout.addWidget(self.problem_detail)
        self.histogram = TokenHistogram()
        self.token_info = QLabel("Choose a model on the next page to measure token lengths.")
        self.token_info.setObjectName("Hint")
        self.token_info.setWordWrap(True)
        tokens = QWidget()
        tokens_layout = QVBoxLayout(tokens)
        tokens_layout.addWidget(self.histogram, 1)
        tokens_layout.addWidget(self.token_info)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Preview")
        self.tabs.addTab(problems, "Problems")
        self.tabs.addTab(tokens, "Token lengths")

        self.valid = QDoubleSpinBox()
        self.valid.setRange(0, 50)
        self.valid.setValue(10)
        self.valid.setSuffix(" %")
        self.valid.setToolTip("Share of examples kept aside to measure validation loss.")
        self.test = QDoubleSpinBox()
        self.test.setRange(0, 50)
        self.test.setSuffix(" %")
        self.test.setToolTip("Share kept aside for a final test score (optional).")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("The same seed always gives the same split.")
        self.prepare_button = QPushButton("Prepare dataset")
        self.prepare_button.setToolTip("Convert and split into train/valid/test files.")
        self.prepare_button.clicked.connect(self.prepare)
        self.prepare_button.setEnabled(False)
        split = QHBoxLayout()
        for label, widget in (("Validation", self.valid), ("Test", self.test), ("Seed", self.seed)):
            split.addWidget(QLabel(label))
            split.addWidget(widget)
        split.addStretch(1)
        split.addWidget(self.prepare_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.zone)
        layout.addLayout(buttons)
        layout.addWidget(self.info)
        layout.addWidget(self.progress)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(split)

    # ---- choosing
    def use_sample(self) -> None:
        self.open_path(paths.resources_dir() / "sample_data")

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Choose data files",
            str(Path.home()),
            "Datasets (*.jsonl *.json *.csv *.tsv *.txt *.md);;All files (*)",
        )
        if files:
            self.open_paths([Path(f) for f in files])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a dataset folder", str(Path.home()))
        if folder:
            self.open_path(Path(folder))

    def open_path(self, path: Path) -> None:
        self.open_paths([path])

    def open_paths(self, paths_: list[Path]) -> None:
        """Validate and preview the inputs (in the background)."""
        self.inputs = [Path(p) for p in paths_]
        self.state.set_data(None)
        self.report = None
        self.stats_for = None
        self.prepare_button.setEnabled(False)
        self.problem_list.clear()
        self.problem_detail.clear()
        self.table.setRowCount(0)
        self.info.setText(f"Checking {', '.join(p.name for p in self.inputs)}…")
        inputs = self.inputs
        self._start(lambda progress: self._check(inputs, progress), self._checked)

    def _data_files(self) -> list[Path]:
        if len(self.inputs) == 1 and is_dataset_folder(self.inputs[0]):
            return split_files(self.inputs[0])
        return list(self.inputs)

    @staticmethod
    def _check(inputs: list[Path], progress) -> tuple:
        if len(inputs) == 1 and is_dataset_folder(inputs[0]):
            # An mlx-lm dataset folder is its split files; other files there are not data.
            inputs = split_files(inputs[0])
        report = validate(inputs, progress=lambda p: progress(p.fraction, p.file))
        records = preview(inputs, count=PREVIEW_ROWS) if report.records else []
        return report, records

    def _start(self, fn, on_done) -> None:
        self.task = TaskThread(fn, parent=self)
        self.task.progressed.connect(self._progressed)
        self.task.succeeded.connect(on_done)
        self.task.failed.connect(self._failed)
        self.task.finished.connect(self.progress.hide)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.show()
        self.task.start()

    def _progressed(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(f"{Path(text).name} · %p%" if text else "%p%")

    def _failed(self, message: str) -> None:
        self.info.setText(message)
        self.problem_list.addItem(message)

    # ---- results
    def _checked(self, result: tuple) -> None:
        report, records = result
        self.report = report
        formats = sorted({f.format for f in report.files if f.format})
        self.info.setText(
            f"{report.records:,} records · format: {', '.join(formats) or 'unknown'} · "
            f"{report.errors} error(s), {report.warnings} warning(s), "
            f"{report.duplicates} duplicate(s)"
        )
        self._fill_preview(records)
        self._fill_problems(report.issues, report.omitted)
        ready = len(self.inputs) == 1 and is_dataset_folder(self.inputs[0]) and report.ok
        if ready:
            self.state.set_data(self.inputs[0].resolve())
            self.info.setText(self.info.text() + " · ready to train")
        self.prepare_button.setEnabled(report.records > 0 and not ready)
        if not ready and report.records:
            self.info.setText(self.info.text() + " · press Prepare dataset to split it")
        self.enter()

    def _fill_preview(self, records) -> None:
        self.table.setRowCount(len(records))
        for row, rec in enumerate(records):
            learned = rec.record.get("completion", "")
            messages = rec.record.get("messages")
            if messages:
                learned = next(
                    (
                        m.get("content", "")
                        for m in reversed(messages)
                        if m.get("role") == "assistant"
                    ),
                    "",
                )
            cells = (f"{Path(rec.file).name}:{rec.line}", rec.rendered, str(learned))
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeRowsToContents()

    def _fill_problems(self, issues: list[Issue], omitted: int) -> None:
        self.problem_list.clear()
        for issue in issues:
            item = QListWidgetItem(str(issue))
            item.setData(256, (issue.file, issue.line))
            self.problem_list.addItem(item)
        if omitted:
            self.problem_list.addItem(f"… and {omitted} more (see `mlxstudio data validate`)")
        count = len(issues) + omitted
        self.tabs.setTabText(1, f"Problems ({count})" if count else "Problems")
        if issues and any(i.severity == "error" for i in issues):
            self.tabs.setCurrentIndex(1)

    def _show_problem(self, item: QListWidgetItem | None) -> None:
        where = item.data(256) if item else None
        if not where or not where[1]:
            self.problem_detail.clear()
            return
        file, line = where
        self.problem_detail.setText(f"{Path(file).name}, line {line}:\n{read_line(file, line)}")

    # ---- preparing the split
    def prepare(self) -> None:
        if not self.inputs:
            return
        stem = self.inputs[0].stem or "dataset"
        out = paths.home() / "datasets" / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        inputs, valid, test, seed = (
            self.inputs,
            self.valid.value() / 100,
            self.test.value() / 100,
            self.seed.value(),
        )

        def work(progress):
            return convert(
                inputs,
                out,
                valid=valid,
                test=test,
                seed=seed,
                progress=lambda p: progress(p.fraction, p.file),
            )

        self.prepare_button.setEnabled(False)
        self.info.setText(f"Preparing {out.name}…")
        self._start(work, self._prepared)

    def _prepared(self, result) -> None:
        counts = " · ".join(f"{k}: {v}" for k, v in result.counts.items())
        self.info.setText(f"Prepared {result.out} · {counts} · ready to train")
        self.inputs = [result.out]
        self.state.set_data(result.out)

    # ---- token lengths need the chosen model's tokenizer
    def enter(self) -> None:
        model = self.state.model_path
        if not model or not self.inputs or self.report is None or not self.report.records:
            return
        # Lengths depend on the model's tokenizer and the data, not on the settings.
        key = (str(model), tuple(map(str, self.inputs)))
        if key == self.stats_for or (self.stats_task and self.stats_task.isRunning()):
            return
        self.stats_for = key
        inputs, limit = self._data_files(), self.state.config.max_seq_length
        self.token_info.setText(f"Measuring token lengths with {model.name}…")
        self.stats_task = TaskThread(
            lambda progress: token_stats(inputs, model, max_seq_length=limit), parent=self
        )
        self.stats_task.succeeded.connect(self._stats)
        self.stats_task.failed.connect(self.token_info.setText)
        self.stats_task.start()

    def _stats(self, report) -> None:
        stats = report.total
        if stats.records:
            self.state.set_longest_example(int(stats.max))
        self.histogram.show_stats(stats)
        self.token_info.setText(
            f"{stats.records:,} examples · median {stats.median:.0f} tokens · longest "
            f"{stats.max} · {stats.truncated} longer than {stats.max_seq_length} "
            f"({stats.truncated_share:.1%}), {stats.tokens_cut:,} tokens would be cut"
        )

    def problems(self) -> list[str]:
        if self.state.data_dir:
            return []
        if self.report is not None and self.report.records:
            return ["Press Prepare dataset to split the data into train and validation."]
        return ["Drop or choose a dataset."]

    def shutdown(self) -> None:
        for task in (self.task, self.stats_task):
            if task is not None and task.isRunning():
                task.cancel()
                task.wait(10000)
