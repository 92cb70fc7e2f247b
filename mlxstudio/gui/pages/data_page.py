"""Data page: drop any dataset, see the detected format, preview records as the model will
see them, go through its problems, set what the format needs (Second-Me's username, field
names), see token lengths, and prepare the split. Every slow step runs in a child process."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
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
from mlxstudio.core.config import Stage
from mlxstudio.core.data import FORMATS, DataOptions, tasks
from mlxstudio.core.data.tasks import Checked, is_dataset_folder
from mlxstudio.engine.task import TaskThread
from mlxstudio.gui.account import full_name
from mlxstudio.gui.fixes import fix_text
from mlxstudio.gui.goals import GOALS, GOALS_BY_KEY
from mlxstudio.gui.icons import icon
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.style import make_primary, set_message
from mlxstudio.gui.widgets.docs_dialog import DocsDialog
from mlxstudio.gui.widgets.drop_zone import DropZone
from mlxstudio.gui.widgets.field_map_dialog import FieldMapDialog
from mlxstudio.gui.widgets.histogram import TokenHistogram
from mlxstudio.gui.widgets.problem_list import ProblemList
from mlxstudio.gui.widgets.run_words import plain_words

# Warnings that Prepare fixes by itself: a ready folder with them still needs preparing.
PREPARE_FIXES = {"bom", "blank_lines"}
PREPARE_TIP = "Convert and split into train, validation and test files."
READY = "Ready to train"


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
        "Chat, Alpaca, ShareGPT, prompt/completion, preference pairs, prompts, MLX-Pretrain and "
        "Second-Me are recognised."
    )

    goal_requested = Signal(str)  # switch the goal to this key (the data fits another goal)
    method_requested = Signal(str)  # choose this method of the goal (the data needs it)
    sample_requested = Signal()  # the goal's sample (the Goal page knows its settings)

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.inputs: list[Path] = []  # what is checked now (the prepared folder after Prepare)
        self.source: list[Path] = []  # what the user dropped
        self.options = DataOptions(username=full_name())
        self.checked: Checked | None = None
        self.task: TaskThread | None = None  # checking or preparing, until its result is in
        self.live: TaskThread | None = None  # the latest such task, whose signals count
        self.stats_task: TaskThread | None = None
        self.measured_for: tuple | None = None
        self.prepared = False  # the current data_dir was written by Prepare

        # ---- widgets
        buttons = self._build_sources()
        info_row = self._build_info_row()
        self._build_progress()
        self.secondme = self._build_secondme()
        self.tabs = self._build_tabs()
        split = self._build_split()

        # ---- layout
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.zone)
        layout.addLayout(buttons)
        layout.addLayout(info_row)
        layout.addWidget(self.progress_box)
        layout.addWidget(self.secondme)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(split)

        # ---- signals: the goal decides the data's expected kind; the model, the records
        # and Max tokens decide the token lengths.
        for signal in (
            state.goal_changed,
            state.data_changed,
            state.model_changed,
            state.settings_changed,
        ):
            signal.connect(self._state_changed)
        self._show_goal()
        self._update_prepare()

    # ---- layout pieces
    def _build_sources(self) -> QVBoxLayout:
        """The drop zone, and the buttons that choose files, a folder or the sample or make
        data from documents; the buttons' row and the goal's expected kind of data under it
        are returned."""
        self.zone = DropZone("Drop data files or a folder here")
        self.zone.dropped.connect(self.open_paths)
        files = QPushButton(icon("open"), "Choose files…")
        files.clicked.connect(self.choose_files)
        folder = QPushButton(icon("folder"), "Choose folder…")
        folder.clicked.connect(self.choose_folder)
        self.sample_button = QPushButton(icon("sample"), "Use the sample data")
        self.sample_button.clicked.connect(self.sample_requested)
        documents = QPushButton(icon("documents"), "Create from documents…")
        documents.setToolTip(
            "Have a model write questions and answers in your voice from a folder of notes."
        )
        documents.clicked.connect(self.create_from_documents)
        self.goal_line = QLabel()
        self.goal_line.setObjectName("Hint")
        self.goal_line.setWordWrap(True)
        self.goal_line.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        buttons = QHBoxLayout()
        for b in (files, folder, self.sample_button, documents):
            buttons.addWidget(b)
        buttons.addStretch(1)
        # Its own line: beside four buttons a narrow window would squeeze it into a column.
        rows = QVBoxLayout()
        rows.setSpacing(4)
        rows.addLayout(buttons)
        rows.addWidget(self.goal_line)
        return rows

    def _build_info_row(self) -> QHBoxLayout:
        """What the data is (or what is wrong), with Switch goal and Map fields."""
        self.info = QLabel("No dataset yet.")
        self.info.setObjectName("Status")
        # Long paths must wrap or clip, never widen the window.
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.info.setWordWrap(True)
        self.switch_goal = QPushButton()
        self.switch_goal.hide()
        self.switch_goal.clicked.connect(
            lambda: self.goal_requested.emit(self.switch_goal.property("goal"))
        )
        self.map_button = QPushButton(icon("settings"), "Map fields…")
        self.map_button.setToolTip("Say what kind of data this is and which field holds what.")
        self.map_button.clicked.connect(self.map_fields)
        self.map_button.hide()
        info_row = QHBoxLayout()
        info_row.addWidget(self.info, 1)
        info_row.addWidget(self.switch_goal)
        info_row.addWidget(self.map_button)
        return info_row

    def _build_progress(self) -> None:
        """The progress of a check or Prepare, with Cancel (hidden until one runs)."""
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_by_user)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.progress_box.hide()

    def _build_secondme(self) -> QGroupBox:
        box = QGroupBox("Second-Me memories")
        self.username = QLineEdit(self.options.username or "")
        self.username.setPlaceholderText("Your name, as the answers should call you")
        self.username.setToolTip("Second-Me's prompts name you: 'You are NAME's Second Me…'.")
        self.username.textChanged.connect(self._username_changed)
        self.name_timer = QTimer(self)
        self.name_timer.setSingleShot(True)
        self.name_timer.setInterval(600)
        self.name_timer.timeout.connect(self._apply_username)
        self.cot = QCheckBox("Chain of thought")
        self.cot.setToolTip(
            "Use Second-Me's thinking prompts: answers hold <think>…</think><answer>…</answer>. "
            "Only for data generated in that mode."
        )
        self.cot.toggled.connect(self._cot_toggled)
        row = QHBoxLayout(box)
        row.addWidget(QLabel("Your name"))
        row.addWidget(self.username, 1)
        row.addSpacing(12)
        row.addWidget(self.cot)
        box.hide()
        return box

    def _build_tabs(self) -> QTabWidget:
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Line", "What the model reads", "What it learns"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.problem_list = ProblemList()
        self.problem_list.chosen.connect(self._show_problem)
        self.problem_detail = QLabel()
        self.problem_detail.setWordWrap(True)
        self.problem_detail.setObjectName("Hint")
        self.problem_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        problems = QWidget()
        problems_layout = QVBoxLayout(problems)
        problems_layout.addWidget(self.problem_list, 1)
        problems_layout.addWidget(self.problem_detail)
        self.histogram = TokenHistogram()
        self.token_info = QLabel()
        self.token_info.setObjectName("Hint")
        self.token_info.setWordWrap(True)
        tokens = QWidget()
        tokens_layout = QVBoxLayout(tokens)
        tokens_layout.addWidget(self.histogram, 1)
        tokens_layout.addWidget(self.token_info)
        tabs = QTabWidget()
        tabs.addTab(self.table, "Preview")
        tabs.addTab(problems, "Problems")
        tabs.addTab(tokens, "Token lengths")
        return tabs

    def _build_split(self) -> QHBoxLayout:
        self.valid = QDoubleSpinBox()
        self.valid.setRange(0, 50)
        self.valid.setValue(10)
        self.valid.setSuffix("%")
        self.valid.setDecimals(0)
        self.valid.setToolTip("Share of examples kept aside to measure validation loss.")
        self.test = QDoubleSpinBox()
        self.test.setRange(0, 50)
        self.test.setSuffix("%")
        self.test.setDecimals(0)
        self.test.setToolTip("Share kept aside for a final test score (optional).")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("The same seed always gives the same split.")
        self.seed.setMaximumWidth(72)
        for box in (self.valid, self.test):
            box.setMaximumWidth(68)
        self.dedupe = QCheckBox("Drop duplicates")
        self.dedupe.setToolTip("Leave out records that repeat an earlier one word for word.")
        self.dedupe.toggled.connect(self._dedupe_toggled)
        self.prepare_button = make_primary(QPushButton("Prepare dataset"), "prepare")
        self.prepare_button.clicked.connect(self.prepare)
        self.prepare_why = QLabel()
        self.prepare_why.setObjectName("Hint")
        self.prepare_why.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.prepare_why.setWordWrap(True)
        self.prepare_why.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.prepare_why.setMinimumWidth(80)
        split = QHBoxLayout()
        for label, widget in (("Validation", self.valid), ("Test", self.test), ("Seed", self.seed)):
            split.addWidget(QLabel(label))
            split.addWidget(widget)
        split.addWidget(self.dedupe)
        split.addWidget(self.prepare_why, 1)
        split.addWidget(self.prepare_button)
        return split

    # ---- public API
    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Choose data files",
            str(Path.home()),
            "Datasets (*.jsonl *.json *.csv *.tsv *.txt *.md);;All files (*)",
        )
        if files:
            self.open_paths([Path(f) for f in files])

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a dataset folder", str(Path.home()))
        if folder:
            self.open_path(Path(folder))

    def open_path(self, path: Path) -> None:
        self.open_paths([path])

    def open_paths(self, paths_: list[Path]) -> None:
        """Check and preview new inputs; everything of the previous dataset goes."""
        self.cancel()
        self.source = [Path(p) for p in paths_]
        self.options = DataOptions(username=self.username.text().strip() or None)
        self.cot.blockSignals(True)
        self.cot.setChecked(False)
        self.cot.blockSignals(False)
        self.secondme.hide()
        self.measured_for = None
        self.histogram.clear_stats()
        self.token_info.setText("")
        self.checked = None  # nothing measured or offered for data not yet checked
        self.state.set_data(None)
        self.zone.set_compact(
            True, f"Drop other files to replace {self.source[0].name}" if self.source else ""
        )
        self._check(self.source)

    def create_from_documents(self) -> DocsDialog:
        """Open the dialog that makes a dataset from a folder of notes; its chat JSONL is
        opened here like a dropped file."""
        dialog = DocsDialog(self.username.text().strip() or full_name(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.chosen.connect(lambda chat: self.open_paths([chat]))
        dialog.open()
        return dialog

    def map_fields(self) -> FieldMapDialog:
        """Open the field-mapping dialog; accepting it checks the data again with the mapping."""
        fields = next(
            (f.fields for f in (self.checked.files if self.checked else []) if f.fields), []
        )
        dialog = FieldMapDialog(fields, self.options, self)
        dialog.accepted.connect(lambda: self.set_options(dialog.options()))
        dialog.open()
        return dialog

    def set_options(self, options: DataOptions) -> None:
        """Read the same inputs another way (format, fields, Second-Me settings)."""
        self.cancel()
        self.options = options
        self.checked = None
        self.state.set_data(None)
        self._check(self.source)

    def prepare(self) -> None:
        if not self.inputs or self.is_busy():
            return
        self.name_timer.stop()
        self.options = replace(self.options, username=self.username.text().strip() or None)
        stem = self.source[0].stem if self.source else "dataset"
        out = paths.home() / "datasets" / f"{stem or 'dataset'}-{time.strftime('%Y%m%d-%H%M%S')}"
        split = (self.valid.value() / 100, self.test.value() / 100, self.seed.value())
        set_message(self.info, f"Preparing {out.name}…")
        self._start(
            TaskThread(
                tasks.prepare, self.inputs, out, self.options, split, self.dedupe.isChecked()
            ),
            self._prepared,
        )

    def cancel(self) -> None:
        """Stop what runs; whatever it still reports is for data no longer shown: dropped."""
        if self.stats_task is not None and self.stats_task.isRunning():
            self.measured_for = None  # cut short: measure again when asked
        for task in (self.task, self.stats_task):
            if task is not None and task.isRunning():
                task.cancel()
                task.wait(10000)
        self.task = self.live = self.stats_task = None

    def cancel_by_user(self) -> None:
        """The Cancel button: stop, and say so; the data can be checked or prepared again."""
        preparing = self.checked is not None
        self.cancel()
        self.progress_box.hide()
        set_message(self.info, "Preparing cancelled." if preparing else "Checking cancelled.")
        self._update_prepare()
        self._state_changed()
        self.problems_changed.emit()

    def _from_live(self) -> bool:
        """Whether the signal being handled comes from the task of the data shown now (a
        cancelled task's queued signals can still arrive after new data was opened)."""
        return self.live is not None and self.sender() is self.live

    def is_busy(self) -> bool:
        return self.task is not None and self.task.isRunning()

    def problems(self) -> list[str]:
        if self.switch_goal.isVisibleTo(self) and self.state.data_dir:
            goal = GOALS_BY_KEY[self.state.goal].title
            return [f"This data does not fit the goal {goal}: {self.switch_goal.text()}."]
        if self.state.data_dir:
            return []
        if self.is_busy():
            return ["Wait for the data to be checked."]
        if self._secondme_needs_name():
            return ["Enter your name in the Second-Me box, then press Prepare dataset."]
        if self.checked is not None and self.checked.report.records:
            return ["Press Prepare dataset to split the data into train and validation."]
        return ["Drop or choose a dataset."]

    def enter(self) -> None:
        self._measure()

    def shutdown(self) -> None:
        self.cancel()

    # ---- checking
    def _check(self, inputs: list[Path]) -> None:
        self.inputs = list(inputs)
        self.prepared = False
        self.checked = None
        self.problem_list.clear()
        self.problem_detail.clear()
        self.table.setRowCount(0)
        self.tabs.setTabText(1, "Problems")
        self.switch_goal.hide()
        self.map_button.hide()
        set_message(self.info, f"Checking {', '.join(p.name for p in inputs)}…")
        self._start(TaskThread(tasks.check, self.inputs, self.options), self._checked)

    def _start(self, task: TaskThread, on_done) -> None:
        self.task = self.live = task
        task.setParent(self)
        task.progressed.connect(self._progressed)
        task.succeeded.connect(on_done)
        task.failed.connect(self._failed)
        task.finished.connect(self._task_finished)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.progress_box.show()
        task.start()
        self._update_prepare()

    def _task_finished(self) -> None:
        if not self._from_live():
            return
        self.progress_box.hide()
        self._update_prepare()
        self._state_changed()  # measure the lengths of what was checked
        self.problems_changed.emit()  # Next's verdict and the step marks follow

    def _progressed(self, fraction: float, text: str) -> None:
        if not self._from_live():
            return
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(f"{Path(text).name} · %p%" if text else "%p%")

    def _failed(self, message: str) -> None:
        if not self._from_live():
            return
        fix = fix_text(self.live.fix)
        self.task = None
        # A known fix replaces the message, which is worded for the command line.
        text = f"Can't go on yet: {fix}." if fix else plain_words(message)
        set_message(self.info, text, "error")
        self.problem_list.add_message(self.info.text())

    def _checked(self, checked: Checked) -> None:
        if not self._from_live():
            return
        self.task = None  # done, though its thread may take a moment more to end
        self.progress_box.hide()
        self.checked = checked
        report = checked.report
        formats = sorted({f.format for f in report.files if f.format})
        labels = ", ".join(FORMATS[f].label for f in formats if f in FORMATS)
        self._fill_preview(checked.records)
        self.problem_list.show_issues(report.issues, report.omitted)
        groups = len(self.problem_list.groups) + (1 if report.omitted else 0)
        self.tabs.setTabText(1, f"Problems ({groups})" if groups else "Problems")
        if report.errors:
            self.tabs.setCurrentIndex(1)
        needs_map = any(i.fix == "map_fields" for i in report.issues) or any(
            f.problem and f.fields for f in checked.files
        )
        self.map_button.setVisible(needs_map)
        self.secondme.setVisible("secondme" in formats)
        self._suggest_goal(formats)

        counts = f"{report.records:,} records · {labels or 'format unknown'}"
        errors, warnings = report.errors, report.warnings
        level = "error" if errors else "warning" if warnings else "ok"
        if not report.records:
            first = self.problem_list.groups[0] if self.problem_list.groups else None
            why = first.first.message if first else "no records found"
            set_message(self.info, f"Nothing here can be trained on: {why}.", "error")
        else:
            tail = []
            if errors:
                tail.append(f"{errors:,} record(s) with errors will be left out")
            if warnings:
                tail.append(f"{warnings:,} warning(s)")
            set_message(self.info, " · ".join([counts, *tail]), level)
        if self._ready_folder():  # warnings (duplicates) keep their colour: worth a look
            self.state.set_data(self.inputs[0].resolve())
            set_message(self.info, self.info.text() + " · ready to train", level)
        elif self._prepare_by_itself():
            self.prepare()
        self._update_prepare()
        self._measure()

    def _ready_folder(self) -> bool:
        """An mlx-lm folder with nothing that Prepare would fix: train on it as it is."""
        report = self.checked.report if self.checked else None
        if report is None or not report.ok or not report.records:
            return False
        if not (len(self.inputs) == 1 and is_dataset_folder(self.inputs[0])):
            return False
        return not any(i.fix in PREPARE_FIXES for i in report.issues)

    def _prepare_by_itself(self) -> bool:
        """One file of usable records that needs no choice from the user: prepare it now."""
        report = self.checked.report if self.checked else None
        if report is None or not report.records or report.errors or self.is_busy():
            return False
        if self.secondme.isVisibleTo(self) or self.switch_goal.isVisibleTo(self):
            return False
        return len(self.source) == 1 and self.source[0].is_file()

    def _suggest_goal(self, formats: list[str]) -> None:
        goal = GOALS_BY_KEY[self.state.goal]
        if not formats or any(f in goal.formats for f in formats):
            self.switch_goal.hide()
            cfg = self.state.config
            if "labeled" in formats and cfg.stage == Stage.DPO and cfg.preference_loss != "kto":
                self.method_requested.emit("kto")  # answers marked good or bad: only KTO reads them
            if "prompts" in formats and cfg.stage == Stage.RL:
                self.method_requested.emit("grpo")  # bare prompts: a rule scores the answers
            return
        other = next((g for g in GOALS if formats[0] in g.formats), None)
        if other is None:
            return
        self.switch_goal.setText(f"Switch goal to {other.title}")
        self.switch_goal.setToolTip(
            f"This looks like {other.expects}, which your goal ({goal.title}) does not use."
        )
        self.switch_goal.setProperty("goal", other.key)
        self.switch_goal.show()

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
            if rec.kind == "prompts":  # online RL: its own answers, and what scores them
                known = ", ".join(f"{k}: {v}" for k, v in rec.record.items() if k != "prompt")
                learned = "its own answers, scored" + (f" ({known})" if known else "")
            cells = (f"{Path(rec.file).name}:{rec.line}", rec.rendered, str(learned))
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeRowsToContents()

    def _show_problem(self, file: str, line: int) -> None:
        if not line:
            self.problem_detail.clear()
            return
        self.problem_detail.setText(f"{Path(file).name}, line {line}:\n{read_line(file, line)}")

    # ---- Second-Me settings
    def _secondme_needs_name(self) -> bool:
        return self.secondme.isVisibleTo(self) and not self.username.text().strip()

    def _username_changed(self, text: str) -> None:
        self._update_prepare()
        if self.secondme.isVisibleTo(self):
            self.name_timer.start()  # re-read once typing pauses: preview and split use it

    def _apply_username(self) -> None:
        name = self.username.text().strip() or None
        if name != self.options.username and self.secondme.isVisibleTo(self):
            self.set_options(replace(self.options, username=name))

    def _cot_toggled(self, on: bool) -> None:
        self.set_options(replace(self.options, cot=on))

    # ---- preparing
    def _update_prepare(self) -> None:
        report = self.checked.report if self.checked else None
        why = ""
        if self.is_busy():
            why = "Working…"
        elif report is None:
            why = "Drop a dataset first" if not self.source else ""
        elif not report.records:
            why = "Nothing usable to prepare"
        elif self._secondme_needs_name():
            why = "Enter your name above"
        elif self.state.data_dir and (self.prepared or not self.dedupe.isChecked()):
            why = READY
        self.prepare_button.setEnabled(not why)
        self.prepare_button.setToolTip(why or PREPARE_TIP)
        # "Ready" is said by the line above; the label is for why the button is off.
        self.prepare_why.setText("" if why == READY else why)

    def _dedupe_toggled(self) -> None:
        self.prepared = False  # the ready data still holds them: prepare again
        self._update_prepare()

    def _prepared(self, result) -> None:
        if not self._from_live():
            return
        self.task = None
        self.progress_box.hide()
        self.prepared = True
        counts = " · ".join(f"{k}: {v:,}" for k, v in result.counts.items())
        dropped = result.duplicates_removed
        removed = f" · {dropped:,} duplicate(s) left out" if dropped else ""
        text = f"Prepared {result.out.name} · {counts}{removed} · ready to train"
        set_message(self.info, text, "ok")
        self.info.setToolTip(str(result.out))
        self.inputs = [result.out]
        self.state.set_data(result.out, keep_lengths=True)
        self._update_prepare()

    # ---- token lengths need the chosen model's tokenizer
    def _state_changed(self) -> None:
        self._show_goal()
        if self.checked is not None:  # the goal may have changed: is the data still its kind?
            self._suggest_goal(self._formats())
        self._measure()

    def _formats(self) -> list[str]:
        report = self.checked.report if self.checked else None
        return sorted({f.format for f in report.files if f.format}) if report else []

    def _show_goal(self) -> None:
        goal = GOALS_BY_KEY[self.state.goal]
        self.goal_line.setText(f"Goal: {goal.title} — expects {goal.expects}.")
        self.sample_button.setToolTip(f"A small example of {goal.expects}, shipped with the app.")

    def _measure(self) -> None:
        model = self.state.model_path
        report = self.checked.report if self.checked else None
        if model is None:
            self.token_info.setText("Choose a model on the next page to measure token lengths.")
            return
        if not self.source or report is None or not report.records:
            return
        # Lengths depend on the model's tokenizer, the records, how they are read, and the
        # cut-off the counts of too-long examples refer to.
        limit = self.state.config.max_seq_length
        key = (str(model), tuple(map(str, self.source)), repr(self.options), limit)
        if key == self.measured_for:
            return
        if self.stats_task is not None and self.stats_task.isRunning():
            self.stats_task.cancel()  # measuring for a model or data no longer chosen
            self.stats_task.wait(10000)
        self.measured_for = key
        self.token_info.setText(f"Measuring token lengths with {model.name}…")
        self.stats_task = TaskThread(
            tasks.lengths, self.source, model, self.options, limit, parent=self
        )
        self.stats_task.succeeded.connect(self._stats)
        self.stats_task.failed.connect(self._stats_failed)
        self.stats_task.start()

    def _stats_failed(self, message: str) -> None:
        if self.sender() is self.stats_task:
            self.token_info.setText(plain_words(message))

    def _stats(self, report) -> None:
        if self.sender() is not self.stats_task:
            return  # measured for data no longer shown
        stats = report.total
        self.histogram.show_stats(stats)
        self.token_info.setText(
            f"{stats.records:,} examples · median {stats.median:.0f} tokens · longest "
            f"{stats.max:,} · {stats.truncated:,} longer than Max tokens ({stats.max_seq_length:,}"
            f", {stats.truncated_share:.1%}): {stats.tokens_cut:,} tokens would be cut"
        )
        if stats.records:
            self.state.set_longest_example(int(stats.max))
