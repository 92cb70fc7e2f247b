"""Run history: every run in the runs folder, newest first, and what can be done with one:
open, resume, serve, export, delete, compare two."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QIcon, QIconEngine, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core import paths, runs
from mlxstudio.core.curves import val_words
from mlxstudio.core.runs import Status
from mlxstudio.engine.job import JobThread, mlxstudio_command
from mlxstudio.gui.eval_view import attach_to_history
from mlxstudio.gui.export_formats import attach_export_formats
from mlxstudio.gui.icons import icon
from mlxstudio.gui.publish import attach_publish
from mlxstudio.gui.save_curves import attach_save_image
from mlxstudio.gui.style import set_message
from mlxstudio.gui.widgets.empty_state import empty_state
from mlxstudio.gui.widgets.run_compare import CompareDialog
from mlxstudio.gui.widgets.run_info import best_val_loss, is_resumable, method_name
from mlxstudio.gui.widgets.run_words import plain_words

COLUMNS = ("Run", "Model", "Method", "Status", "Best validation", "Date")
STATUS_WORDS = {
    Status.COMPLETED: ("Completed", "ok"),
    Status.STOPPED: ("Stopped", "info"),
    Status.FAILED: ("Failed", "error"),
    Status.DIVERGED: ("Diverged", "error"),
    Status.RUNNING: ("Interrupted", "warning"),  # run.json says running but no job trains it
}
SELECT_HINT = "Select a run to open, resume, serve, export or delete it; select two to compare."
# Toolbar buttons: flat until hovered, and no focus frame (the table holds the focus; the
# actions are also in the right-click menu and on keys).
TOOLBAR_SHEET = """
QToolButton { border: 1px solid transparent; border-radius: 6px; padding: 3px 6px; }
QToolButton:hover { background: palette(midlight); }
QToolButton:pressed { background: palette(mid); }
"""


def short_path(path: Path) -> str:
    """path with the home folder as ~ (what a person reads; the tooltip has it whole)."""
    home = Path.home()
    try:
        return "~/" + Path(path).relative_to(home).as_posix()
    except ValueError:
        return str(path)


class _StatusIcon(QIconEngine):
    """A level icon that stays visible on a selected row: its signal colour normally,
    the selection's text colour (white on the accent) when selected."""

    def __init__(self, level: str) -> None:
        super().__init__()
        self.level = level

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        selected = mode == QIcon.Mode.Selected
        drawn = icon(self.level, colour="#ffffff") if selected else icon(self.level)
        drawn.paint(painter, rect, Qt.AlignmentFlag.AlignCenter, QIcon.Mode.Normal, state)

    def clone(self) -> QIconEngine:
        return _StatusIcon(self.level)


def status_icon(level: str) -> QIcon:
    return QIcon(_StatusIcon(level))


def list_runs(folder: Path | None = None) -> list[tuple[Path, dict]]:
    folder = folder or paths.runs_dir()
    if not folder.is_dir():
        return []
    found = [(d, runs.read_meta(d)) for d in folder.iterdir() if (d / runs.META).is_file()]
    return sorted(found, key=lambda item: item[1].get("started", 0), reverse=True)


def default_export_folder() -> Path:
    """Where exports go unless the user picks another folder."""
    return paths.home() / "exports"


def unused(path: Path) -> Path:
    """path, or path-2, path-3... whichever does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


class _Item(QTableWidgetItem):
    """A cell that sorts by a key (numbers, times) rather than by its text."""

    def __init__(self, text: str, key=None) -> None:
        super().__init__(text)
        self.key = key if key is not None else text

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.key, getattr(other, "key", other.text())
        try:
            return mine < theirs
        except TypeError:
            return str(mine) < str(theirs)


class RunHistory(QWidget):
    # ---- signals for the main window
    open_run = Signal(Path)  # show the run on the Training page
    resume_run = Signal(Path)  # continue it from its last checkpoint
    serve_run = Signal(Path)  # serve it (its adapters on its base model)
    start_requested = Signal()  # the empty state's "Go to Training"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # ---- attributes
        self.rows: list[tuple[Path, dict]] = []
        self.active_run: Path | None = None  # the run a job is training now
        self.export_job: JobThread | None = None
        self.export_out: Path | None = None
        self.compare_dialog: CompareDialog | None = None
        self._sorted_once = False

        # ---- actions (toolbar, context menu and keys share them) and widgets
        self._build_actions()
        self._build_toolbar()
        self._build_table()
        self._build_export_row()
        self.empty = self._build_empty()

        # ---- layout
        listing = QWidget()
        col = QVBoxLayout(listing)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(4)
        col.addWidget(self.toolbar)
        col.addWidget(self.hint)
        col.addWidget(self.table, 1)
        col.addWidget(self.export_row)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(listing)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

        # ---- signals
        self.table.cellDoubleClicked.connect(lambda row, _col: self._open_selected())
        self.table.itemSelectionChanged.connect(self._update_actions)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.evaluate_action = attach_to_history(self)  # Evaluate: gui/eval_view.py
        self.save_image_action = attach_save_image(self)  # Save as image: gui/save_curves.py
        self.export_menu = attach_export_formats(self)  # sets export_gguf: gui/export_formats.py
        self.publish_action = attach_publish(self)  # Publish to the Hub: gui/publish.py
        self.refresh()

    def _build_actions(self) -> None:
        """Open, Resume, Serve, Export, Compare and Delete (on the Delete key too)."""
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, icon_name, slot in (
            ("open", "Open", "open", self._open_selected),
            ("resume", "Resume", "resume", self._resume_selected),
            ("serve", "Serve", "serve", self._serve_selected),
            ("export", "Export…", "export", self._export_selected),
            ("compare", "Compare", "compare", self._compare_selected),
            ("delete", "Delete…", "delete", self._delete_selected),
        ):
            action = QAction(icon(icon_name), text, self)
            action.triggered.connect(slot)
            self.actions_by_name[name] = action
        self.actions_by_name["delete"].setShortcut("Delete")
        self.addAction(self.actions_by_name["delete"])

    def _build_toolbar(self) -> None:
        """The actions as flat buttons, and under them a hint of what they need."""
        self.toolbar = QToolBar()
        # text under the icon: narrow enough for all nine actions at the smallest window
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        for name in ("open", "resume", "serve", "export", "compare"):
            self.toolbar.addAction(self.actions_by_name[name])
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.actions_by_name["delete"])
        self.toolbar.setStyleSheet(TOOLBAR_SHEET)
        more = self.toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
        if more is not None:  # the style sheet blanks Qt's own arrow: the overflow must show
            more.setIcon(icon("more"))
            more.setToolTip("More actions")
        for action in self.actions_by_name.values():
            button = self.toolbar.widgetForAction(action)
            if button is not None:
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hint = QLabel(SELECT_HINT)  # under the toolbar, what its buttons need
        self.hint.setObjectName("Hint")
        self.hint.setWordWrap(True)

    def _build_table(self) -> None:
        """One row per run, sortable; a right click offers the toolbar's actions."""
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Run names are long and tell runs apart: they get the room; models are shorter.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setToolTip("Double-click a run to see its curves, log and samples.")

    def _build_export_row(self) -> None:
        """Under the table once an export starts: its progress, outcome and Show folder."""
        self.export_progress = QProgressBar()
        self.export_progress.setRange(0, 0)  # busy: fusing reports no fraction
        self.export_progress.setMaximumWidth(160)
        self.export_progress.hide()
        self.export_status = QLabel()
        self.export_status.setWordWrap(True)
        self.export_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.show_folder_button = QPushButton(icon("folder"), "Show folder")
        self.show_folder_button.setToolTip("Open the exported model's folder in the file manager.")
        self.show_folder_button.clicked.connect(self.show_export_folder)
        self.export_row = QWidget()  # hidden until an export starts
        export_line = QHBoxLayout(self.export_row)
        export_line.setContentsMargins(0, 4, 0, 0)
        export_line.addWidget(self.export_status, 1)
        export_line.addWidget(self.export_progress)
        export_line.addWidget(self.show_folder_button)
        self.export_row.hide()
        self.show_folder_button.hide()

    def _build_empty(self) -> QWidget:
        panel, button = empty_state(
            "history",
            "No runs yet. Every training run appears here with its curves, to reopen, "
            "resume, serve, export or compare.",
            "Go to Training",
        )
        self.start_button = button
        button.setIcon(icon("train", colour="#ffffff"))
        button.clicked.connect(self.start_requested.emit)
        return panel

    # ---- Public API
    def refresh(self) -> None:
        """Read the runs folder again, keeping the selection where the runs still exist."""
        selected = set(self.selected_runs())
        self.rows = list_runs()
        self.stack.setCurrentIndex(1 if self.rows else 0)
        self.table.setSortingEnabled(False)
        self.table.clearSelection()
        self.table.setRowCount(len(self.rows))
        for row, (path, meta) in enumerate(self.rows):
            for col, item in enumerate(self._cells(path, meta)):
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        if not self._sorted_once:  # newest first until the user sorts by another column
            self.table.sortByColumn(COLUMNS.index("Date"), Qt.SortOrder.DescendingOrder)
            self._sorted_once = True
        # All of them: selectRow alone would keep only the last (extended selection).
        self.select(*[path for path, _ in self.rows if path in selected])
        self._update_actions()

    def path_at(self, row: int) -> Path:
        return Path(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole))

    def row_of(self, run_dir: Path) -> int:
        """The table row showing run_dir, or -1."""
        for row in range(self.table.rowCount()):
            if self.path_at(row) == Path(run_dir):
                return row
        return -1

    def select(self, *run_dirs: Path) -> None:
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for run_dir in run_dirs:
            row = self.row_of(run_dir)
            if row >= 0:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def selected_runs(self) -> list[Path]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.path_at(row) for row in rows]

    def set_active_run(self, run_dir: Path | None) -> None:
        """The run a job trains now: shown as training, not deletable or resumable."""
        run = Path(run_dir) if run_dir else None
        if run == self.active_run:
            return  # called on every training event: re-read the runs only on a change
        self.active_run = run
        self.refresh()

    def action(self, name: str) -> QAction:
        """One of: open, resume, serve, export, compare, delete."""
        return self.actions_by_name[name]

    def add_run_action(
        self,
        action: QAction,
        allowed: Callable[[Path], bool],
        run: Callable[[Path], None],
        tips: tuple[str, str],
    ) -> QAction:
        """A toolbar action (before Compare) for the one run selected: enabled when
        `allowed(run)` and the run is not training now; `tips` say what it does / needs."""

        def update() -> None:
            chosen = self.selected_runs()
            one = chosen[0] if len(chosen) == 1 else None
            ok = one is not None and one != self.active_run and allowed(one)
            action.setEnabled(ok)
            action.setToolTip(tips[0] if ok else tips[1])

        def trigger() -> None:
            chosen = self.selected_runs()
            if len(chosen) == 1 and action.isEnabled():
                run(chosen[0])

        action.triggered.connect(trigger)
        self.toolbar.insertAction(self.actions_by_name["compare"], action)
        self.table.itemSelectionChanged.connect(update)
        update()
        return action

    def delete_run(self, run_dir: Path) -> bool:
        """Ask, then remove the run's folder (checkpoints and adapters with it)."""
        if self.active_run is not None and Path(run_dir) == self.active_run:
            return False
        answer = QMessageBox.question(
            self,
            "Delete run",
            f"Delete the run “{run_dir.name}” with its checkpoints, adapters and curves?\n\n"
            "This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        shutil.rmtree(run_dir, ignore_errors=True)
        self.refresh()
        return not Path(run_dir).exists()

    def export_run(self, run_dir: Path, out: Path) -> None:
        """Fuse the run into a standalone model folder at `out` (in a child process)."""
        if self.is_exporting():
            return
        self.export_out = out
        gguf = ["--gguf", "--gguf-type", self.export_gguf] if self.export_gguf else []
        self.export_job = JobThread(
            mlxstudio_command("export", str(run_dir), "--out", str(out), *gguf), parent=self
        )
        self.export_job.log.connect(self._export_line)
        self.export_job.ended.connect(self._export_ended)
        set_message(self.export_status, f"Exporting {run_dir.name} to {short_path(out)}…", "info")
        self.export_status.setToolTip(str(out))
        self.export_row.show()
        self.show_folder_button.hide()
        self.export_progress.show()
        self.export_job.start()
        self._update_actions()

    def export_folder(self) -> Path | None:
        """The folder the last export wrote (None before one finished well)."""
        return None if self.show_folder_button.isHidden() else self.export_out

    def show_export_folder(self) -> None:
        """Open the exported folder in the system's file manager."""
        if self.export_out is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.export_out)))

    def is_exporting(self) -> bool:
        return self.export_job is not None and self.export_job.isRunning()

    def compare(self, run_dirs: list[Path]) -> CompareDialog:
        self.compare_dialog = CompareDialog(run_dirs, self)
        self.compare_dialog.show()
        return self.compare_dialog

    def shutdown(self) -> None:
        if self.is_exporting():
            self.export_job.kill()
            self.export_job.wait(5000)

    # ---- rows
    def _cells(self, path: Path, meta: dict) -> list[QTableWidgetItem]:
        started = meta.get("started") or 0
        best = best_val_loss(list(runs.read_events(path)), meta)
        status = str(meta.get("status", "unknown"))
        words, level = STATUS_WORDS.get(status, (status.capitalize(), "info"))
        if self.active_run is not None and path == self.active_run:
            words, level = "Training", "info"
        name = _Item(path.name, path.name.lower())
        name.setData(Qt.ItemDataRole.UserRole, str(path))
        name.setToolTip(str(path))
        status_item = _Item(words)
        status_item.setIcon(status_icon(level))
        date = time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else ""
        return [
            name,
            _Item(Path(str(meta.get("model", "?"))).name),
            _Item(method_name(str(meta.get("stage", "sft")))),
            status_item,
            _Item(_best_text(best, str(meta.get("stage", "sft"))), 1e9 if best is None else best),
            _Item(date, started),
        ]

    # ---- actions
    def _update_actions(self) -> None:
        chosen = self.selected_runs()
        one = chosen[0] if len(chosen) == 1 else None
        active = self.active_run is not None and self.active_run in chosen
        has_adapters = one is not None and runs.is_adapter_dir(one)
        why = {
            "open": None if one else "Select one run to open it.",
            "resume": (
                "Select one run."
                if one is None
                else "This run is training now."
                if active
                else None
                if is_resumable(one)
                else "Only a stopped or interrupted run with a checkpoint can be resumed."
            ),
            "serve": (
                "Select one run."
                if one is None
                else None
                if has_adapters
                else "This run saved no adapters yet, so there is nothing to serve."
            ),
            "export": (
                "An export is running."
                if self.is_exporting()
                else "Select one run."
                if one is None
                else None
                if has_adapters and not active
                else "This run has no finished adapters to export."
            ),
            "compare": None if len(chosen) == 2 else "Select exactly two runs to compare.",
            "delete": (
                "Select a run to delete it."
                if not chosen
                else "A run that is training cannot be deleted; stop it first."
                if active
                else None
            ),
        }
        tips = {
            "open": "Show the run's curves, log and samples on the Training page.",
            "resume": "Continue the run from its last checkpoint, up to its planned steps.",
            "serve": "Serve the run's model on Serve & Chat and talk to it.",
            "export": "Write the fine-tuned model as a standalone folder you can share.",
            "compare": "Plot both runs' loss curves on the same axes.",
            "delete": "Delete the run's folder, checkpoints and adapters.",
        }
        for name, action in self.actions_by_name.items():
            action.setEnabled(why[name] is None)
            action.setToolTip(tips[name] if why[name] is None else why[name])
        self.hint.setText(SELECT_HINT if not chosen else " ".join(self._reasons(why, chosen)))

    def _reasons(self, why: dict, chosen: list[Path]) -> list[str]:
        """Next to the toolbar: why the actions a user may look for are greyed out."""
        if len(chosen) > 1:
            return ["Select exactly two runs to compare them."] if len(chosen) != 2 else []
        return [why["serve"]] if why["serve"] and why["serve"] != "Select one run." else []

    def _context_menu(self, pos: QPoint) -> None:
        row = self.table.rowAt(pos.y())
        if row >= 0 and self.path_at(row) not in self.selected_runs():
            self.table.selectRow(row)
        menu = QMenu(self)
        for name in ("open", "resume", "serve", "export", "compare"):
            menu.addAction(self.actions_by_name[name])
        menu.addSeparator()
        menu.addAction(self.actions_by_name["delete"])
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _one(self) -> Path | None:
        chosen = self.selected_runs()
        return chosen[0] if len(chosen) == 1 else None

    def _open_selected(self) -> None:
        if (run := self._one()) is not None:
            self.open_run.emit(run)

    def _resume_selected(self) -> None:
        if (run := self._one()) is not None and self.action("resume").isEnabled():
            self.resume_run.emit(run)

    def _serve_selected(self) -> None:
        if (run := self._one()) is not None and self.action("serve").isEnabled():
            self.serve_run.emit(run)

    def _compare_selected(self) -> None:
        chosen = self.selected_runs()
        if len(chosen) == 2:
            self.compare(chosen)

    def _delete_selected(self) -> None:
        for run in self.selected_runs():
            if not self.delete_run(run):
                break

    def _export_selected(self) -> None:
        run = self._one()
        if run is None or not self.action("export").isEnabled():
            return
        start = default_export_folder()
        start.mkdir(parents=True, exist_ok=True)
        folder = QFileDialog.getExistingDirectory(
            self, f"Export {run.name} into which folder?", str(start)
        )
        if folder:
            self.export_run(run, unused(Path(folder) / run.name))

    # ---- export job
    def _export_line(self, line: str) -> None:
        if line.strip():
            set_message(self.export_status, plain_words(line.strip()), "info")

    def _export_ended(self, code: int, error: str) -> None:
        self.export_progress.hide()
        if code == 0:
            out = self.export_out
            gguf = ", and model.gguf for llama.cpp" if self.export_gguf else ""
            where = f"its mlx folder{gguf}"
            text = f"Exported {out.name} to {short_path(out)} (the model is in {where})."
            set_message(self.export_status, text, "ok")
            self.show_folder_button.show()
        else:
            text = f"Export failed: {plain_words(error) or 'the export stopped unexpectedly'}"
            set_message(self.export_status, text, "error")
        self._update_actions()


def _best_text(best: float | None, stage: str) -> str:
    """A run's best validation figure (GRPO's val_loss is its reward's negative, so the
    column still sorts best first)."""
    return "–" if best is None else val_words(stage, best, short=True)
