"""The main window: a sidebar of steps, the current page, Back / Next, and run history."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.file_types import role_of
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.pages.data_page import DataPage
from mlxstudio.gui.pages.lora_page import LoraPage
from mlxstudio.gui.pages.model_page import ModelPage
from mlxstudio.gui.pages.serve_page import ServePage
from mlxstudio.gui.pages.train_page import TrainPage
from mlxstudio.gui.runs_view import RunHistory
from mlxstudio.gui.settings import SettingsDialog, default_port
from mlxstudio.gui.state import WizardState
from mlxstudio.gui.tray import TrayStatus
from mlxstudio.gui.widgets.drop_zone import dropped_paths

HISTORY = "Run history"


class MainWindow(QMainWindow):
    def __init__(self, icon: QIcon | None = None) -> None:
        super().__init__()
        self.setWindowTitle("MLX Studio")
        self.resize(1100, 720)
        self.setAcceptDrops(True)
        self.state = WizardState()
        self.data_page = DataPage(self.state)
        self.model_page = ModelPage(self.state)
        self.lora_page = LoraPage(self.state)
        self.train_page = TrainPage(self.state)
        self.serve_page = ServePage(self.state)
        self.pages: list[Page] = [
            self.data_page,
            self.model_page,
            self.lora_page,
            self.train_page,
            self.serve_page,
        ]
        self.history = RunHistory()
        self.history.open_run.connect(self.open_run)

        self.steps = QListWidget()
        for i, page in enumerate(self.pages, start=1):
            self.steps.addItem(QListWidgetItem(f"{i}  {page.title}"))
        self.steps.addItem(QListWidgetItem(f"    {HISTORY}"))
        self.steps.currentRowChanged.connect(self._show)
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        sidebar = QFrame()
        sidebar.setObjectName("Sidebar")
        sidebar.setFixedWidth(210)
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 12)
        name = QLabel("MLX Studio")
        name.setObjectName("AppName")
        side.addWidget(name)
        side.addWidget(self.steps, 1)

        self.title = QLabel()
        self.title.setObjectName("PageTitle")
        self.subtitle = QLabel()
        self.subtitle.setObjectName("PageSubtitle")
        self.subtitle.setWordWrap(True)
        self.stack = QStackedWidget()
        for page in self.pages:
            self.stack.addWidget(page)
        self.stack.addWidget(self.history)
        self.problems = QLabel()
        self.problems.setObjectName("Problems")
        self.problems.setWordWrap(True)
        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.back_button.clicked.connect(lambda: self.go(self.steps.currentRow() - 1))
        self.next_button.clicked.connect(self.next)
        footer = QHBoxLayout()
        footer.addWidget(self.problems, 1)
        footer.addWidget(self.back_button)
        footer.addWidget(self.next_button)

        content = QWidget()
        body = QVBoxLayout(content)
        body.setContentsMargins(28, 22, 28, 18)
        body.setSpacing(10)
        body.addWidget(self.title)
        body.addWidget(self.subtitle)
        body.addSpacing(6)
        body.addWidget(self.stack, 1)
        body.addLayout(footer)

        root = QWidget()
        row = QHBoxLayout(root)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(sidebar)
        row.addWidget(content, 1)
        self.setCentralWidget(root)

        self.tray = TrayStatus(icon or QIcon(), self)
        self.tray.stop_requested.connect(self.train_page.stop)
        self.tray.show_requested.connect(self.bring_to_front)
        self.train_page.status.connect(self.tray.update)
        self.train_page.run_ended.connect(self._run_ended)
        self.state.changed.connect(self._refresh_footer)
        self._menus()
        self.steps.setCurrentRow(0)

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_data = QAction("Open dataset…", self)
        open_data.setShortcut(QKeySequence.StandardKey.Open)
        open_data.triggered.connect(lambda: (self.go(0), self.data_page._choose()))
        import_gguf = QAction("Import GGUF model…", self)
        import_gguf.triggered.connect(lambda: (self.go(1), self.model_page._choose_gguf()))
        settings_action = QAction("Settings…", self)
        settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)  # the app menu on macOS
        settings_action.triggered.connect(self.open_settings)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.quit)
        for action in (open_data, import_gguf, settings_action, quit_action):
            file_menu.addAction(action)
        run_menu = self.menuBar().addMenu("&Run")
        start = QAction("Start training", self)
        start.triggered.connect(lambda: (self.go(3), self.train_page.start()))
        stop = QAction("Stop training", self)
        stop.triggered.connect(self.train_page.stop)
        run_menu.addAction(start)
        run_menu.addAction(stop)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self)
        dialog.accepted.connect(self._settings_changed)
        dialog.open()
        return dialog

    def _settings_changed(self) -> None:
        self.model_page.refresh()
        self.history.refresh()
        self.serve_page.port.setValue(default_port())

    # ---- navigation
    def current_page(self) -> Page | None:
        row = self.steps.currentRow()
        return self.pages[row] if 0 <= row < len(self.pages) else None

    def go(self, index: int) -> None:
        if 0 <= index <= len(self.pages):
            self.steps.setCurrentRow(index)

    def next(self) -> None:
        page = self.current_page()
        missing = page.problems() if page else []
        if missing:
            self.problems.setText(" ".join(missing))
            return
        self.go(self.steps.currentRow() + 1)

    def _show(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        if row < len(self.pages):
            page = self.pages[row]
            self.title.setText(page.title)
            self.subtitle.setText(page.subtitle)
            page.enter()
        else:
            self.history.refresh()
            self.title.setText(HISTORY)
            self.subtitle.setText("Every run, newest first. Double-click one to see its curves.")
        self._refresh_footer()

    def _refresh_footer(self) -> None:
        row = self.steps.currentRow()
        page = self.current_page()
        self.problems.setText("")
        self.back_button.setEnabled(0 < row <= len(self.pages) - 1)
        self.next_button.setVisible(row < len(self.pages) - 1)
        self.back_button.setVisible(row < len(self.pages))
        for i, p in enumerate(self.pages):
            done = not p.problems() and i < 3
            self.steps.item(i).setText(f"{'✓' if done else i + 1}  {p.title}")
        if page is None:
            self.next_button.setVisible(False)

    # ---- files from outside: drops on the window, files opened with the app
    def open_paths(self, paths: list[Path]) -> None:
        for path in paths:
            if role_of(path) == "model":
                self.go(1)
                self.model_page.import_gguf(path)
            else:
                self.go(0)
                self.data_page.open_path(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def open_run(self, run_dir: Path) -> None:
        self.go(3)
        self.train_page.show_run(run_dir)

    def _run_ended(self, run: str, message: str) -> None:
        self.tray.notify("Training finished", message)
        self.history.refresh()

    # ---- lifetime: closing the window keeps a running job going in the menu bar
    def bring_to_front(self) -> None:
        self.show()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.train_page.is_running() and self.tray.icon is not None:
            self.hide()
            self.tray.notify("Still training", "MLX Studio keeps training in the menu bar.")
            event.ignore()
            return
        event.accept()
        self.quit()

    def quit(self) -> None:
        """Stop what runs (training saves its adapters first), then leave."""
        self.data_page.shutdown()
        self.train_page.shutdown()
        self.serve_page.shutdown()
        QApplication.quit()
