"""The Evaluate view: a run's base model and its fine-tuned model side by side, the figures
and the test examples whose answers changed most. The evaluation runs in a child process
(engine/task.py), with progress and Cancel; reachable from the Training page when a run
ends and from run history."""

from __future__ import annotations

import html
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core.eval import report as er
from mlxstudio.core.eval.card import ROWS, figure
from mlxstudio.core.eval.target import CHOOSE_DATA, is_run_dir, run_test_split
from mlxstudio.engine.task import TaskThread
from mlxstudio.gui.icons import icon, level_colour
from mlxstudio.gui.style import make_primary, set_message, set_primary

LOWER_IS_BETTER = {"test_loss", "perplexity", "refusal_rate"}
NEUTRAL = {"answer_words"}  # longer is neither better nor worse
EXAMPLES_SHOWN = 8
NO_SPLIT = (
    "This run's data has no test split, so there is nothing to evaluate it on yet. "
    "Choose a file of test examples (JSONL, like the training data)."
)


def can_evaluate(run_dir: Path | None) -> bool:
    """A run that saved its adapters: its base and fine-tuned models can be compared."""
    return run_dir is not None and is_run_dir(Path(run_dir))


class EvalDialog(QDialog):
    """Base vs fine-tuned for one run: shows its last evaluation (eval.json) and runs new ones."""

    def __init__(self, run_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # ---- attributes
        self.run_dir = Path(run_dir)
        self.data: Path | None = run_test_split(self.run_dir)
        self.task: TaskThread | None = None
        self.report: dict | None = None

        # ---- widgets
        self.setWindowTitle(f"Evaluate {self.run_dir.name}: base vs fine-tuned")
        self.resize(900, 640)
        self.data_line = QLabel()
        self.data_line.setWordWrap(True)
        self.choose_button = QPushButton(icon("open"), "Choose test data…")
        self.choose_button.setToolTip("Evaluate on another file of examples (JSONL).")
        self.choices_box = QCheckBox("Add multiple-choice questions (bundled sample)")
        self.choices_box.setToolTip(
            "Also score general-knowledge questions by which answer each model finds most "
            "likely: a check that fine-tuning did not make the model forget."
        )
        self.run_button = make_primary(QPushButton("Evaluate"), "start")
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.setToolTip("Stop the evaluation; the figures shown stay.")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.figures = QTableWidget(0, 4)
        self.figures.setHorizontalHeaderLabels(["", "Base model", "Fine-tuned", "Change"])
        self.figures.verticalHeader().hide()
        self.figures.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.figures.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.figures.setShowGrid(False)
        self.figures.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.figures.verticalHeader().setDefaultSectionSize(26)
        self.examples = QTextBrowser()
        self.examples.setPlaceholderText(
            "The test questions whose answers changed most appear here after an evaluation."
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)

        # ---- layout
        top = QHBoxLayout()
        top.addWidget(self.data_line, 1)
        top.addWidget(self.choose_button)
        actions = QHBoxLayout()
        actions.addWidget(self.choices_box, 1)
        actions.addWidget(self.progress)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.run_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.figures)
        split.addWidget(self.examples)
        split.setSizes([330, 270])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(self.message)
        layout.addWidget(split, 1)
        layout.addWidget(buttons)

        # ---- signals
        self.choose_button.clicked.connect(self.choose_data)
        self.run_button.clicked.connect(self.evaluate)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.rejected.connect(self.close)
        self._show_data()
        saved = er.load(self.run_dir)
        if saved is not None and "tuned" in saved:
            self.show_report(saved)
        elif self.data is not None:
            set_message(self.message, "Not evaluated yet: press Evaluate.", "info")
        self._buttons()

    # ---- Public API
    def is_running(self) -> bool:
        return self.task is not None and self.task.isRunning()

    def evaluate(self) -> None:
        """Evaluate base and fine-tuned in a child process, with progress."""
        if self.is_running() or self.data is None:
            return
        options = er.Options(
            data=str(self.data), choices="sample" if self.choices_box.isChecked() else None
        )
        self.task = TaskThread(er.evaluate_task, str(self.run_dir), options, parent=self)
        self.task.progressed.connect(self._progressed)
        self.task.succeeded.connect(self._succeeded)
        self.task.failed.connect(self._failed)
        self.task.finished.connect(self._buttons)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.progress.show()
        set_message(self.message, "Evaluating: the base model first, then the fine-tuned one.")
        self.task.start()
        self._buttons()

    def cancel(self) -> None:
        if self.is_running():
            self.task.cancel()

    def choose_data(self) -> None:
        start = str(self.data.parent if self.data else Path.home())
        name, _ = QFileDialog.getOpenFileName(
            self, "Choose test examples", start, "JSON Lines (*.jsonl);;All files (*)"
        )
        if name:
            self.set_data(Path(name))

    def set_data(self, path: Path) -> None:
        self.data = Path(path)
        self._show_data()
        set_message(self.message, "Press Evaluate to compare the models on these examples.", "info")
        self._buttons()

    def show_report(self, report: dict) -> None:
        self.report = report
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(report.get("created", 0)))
        n = report["tuned"].get("examples", 0)
        set_message(
            self.message,
            f"Evaluated {when} on {Path(report['data']).name} ({n} examples), greedy answers.",
            "ok",
        )
        self._fill_figures(report)
        self.examples.setHtml(examples_html(report.get("examples", [])[:EXAMPLES_SHOWN]))

    # ---- internals
    def _show_data(self) -> None:
        if self.data is None:
            self.data_line.setText("Test examples: none")
            set_message(self.message, NO_SPLIT, "warning")
        else:
            self.data_line.setText(f"Test examples: {self.data.name} in {self.data.parent}")
            self.data_line.setToolTip(str(self.data))

    def _fill_figures(self, report: dict) -> None:
        base, tuned = report["base"], report["tuned"]
        rows = [(k, label, fmt) for k, label, fmt in ROWS if k in base or k in tuned]
        self.figures.setRowCount(len(rows))
        for r, (key, label, fmt) in enumerate(rows):
            cells = [label, figure(base.get(key), fmt), figure(tuned.get(key), fmt)]
            change, level = change_text(key, base.get(key), tuned.get(key), fmt)
            for c, text in enumerate([*cells, change]):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if c == 3 and level:
                    item.setForeground(level_colour(level))
                self.figures.setItem(r, c, item)

    def _progressed(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(f"{text} · {fraction:.0%}".replace("%", "%%"))

    def _succeeded(self, report: dict) -> None:
        self.progress.hide()
        self.show_report(report)

    def _failed(self, message: str) -> None:
        self.progress.hide()
        if self.task is not None and self.task.cancelled:
            set_message(
                self.message, "Evaluation cancelled; the figures shown are from before.", "info"
            )
        elif self.task is not None and self.task.fix == CHOOSE_DATA:
            set_message(self.message, NO_SPLIT, "warning")
        else:
            set_message(self.message, f"The evaluation failed: {message}", "error")

    def _buttons(self) -> None:
        running = self.is_running()
        self.run_button.setEnabled(not running and self.data is not None)
        self.run_button.setText("Evaluate again" if self.report and not running else "Evaluate")
        self.run_button.setToolTip(
            "Choose test examples first." if self.data is None else "Compare base and fine-tuned."
        )
        self.cancel_button.setVisible(running)
        self.choose_button.setEnabled(not running)
        self.choices_box.setEnabled(not running)
        # With no test data, choosing some is the next step.
        set_primary(self.choose_button, self.data is None, "open")

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self.is_running():
            self.task.cancel()
            self.task.wait(10000)
        super().closeEvent(event)


def change_text(key: str, before, after, fmt: str) -> tuple[str, str]:
    """The change from base to fine-tuned, and 'ok' (better) or 'error' (worse) or ''."""
    if before is None or after is None:
        return "–", ""
    delta = after - before
    text = ("+" if delta > 0 else "−" if delta < 0 else "±") + fmt.format(abs(delta))
    if key in NEUTRAL or delta == 0:
        return text, ""
    better = delta < 0 if key in LOWER_IS_BETTER else delta > 0
    return text, "ok" if better else "error"


def examples_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    parts = ["<h3>The examples that changed most</h3>"]
    for row in rows:
        parts.append(f"<p><b>{html.escape(row['question'])}</b><br>")
        parts.append(f"<i>Reference:</i> {html.escape(row['reference'])}<br>")
        for side, label in (("base", "Base"), ("tuned", "Fine-tuned")):
            d = row.get(side) or {}
            f1 = figure(d.get("token_f1"), "{:.2f}")
            answer = html.escape(d.get("answer") or "") or "<i>(no answer)</i>"
            parts.append(f"<i>{label}</i> (F1 {f1}): {answer}<br>")
        parts.append("</p>")
    return "".join(parts)


def open_evaluation(run_dir: Path, parent: QWidget | None = None) -> EvalDialog:
    dialog = EvalDialog(run_dir, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    dialog.raise_()
    return dialog


def attach_to_history(history) -> QAction:
    """An Evaluate action on run history's toolbar, for the one run selected."""
    action = QAction(icon("sample"), "Evaluate", history)

    def run(run_dir: Path) -> None:
        history.eval_dialog = open_evaluation(run_dir, history)

    tips = (
        "Compare the run's fine-tuned model with its base model on its test examples.",
        "Select one finished run with adapters to evaluate it.",
    )
    return history.add_run_action(action, can_evaluate, run, tips)


def evaluate_button(page) -> QPushButton:
    """The Training page's Evaluate button, for the run it shows once that run has ended."""
    button = QPushButton(icon("sample"), "Evaluate")
    button.setToolTip("Compare the fine-tuned model with its base model on the test examples.")
    button.hide()

    def trigger() -> None:
        if can_evaluate(page.shown_run):
            page.eval_dialog = open_evaluation(page.shown_run, page)

    button.clicked.connect(trigger)
    return button
