"""The main window: a sidebar of steps, the current page, Back / Next, and run history."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
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

from mlxstudio.core import paths
from mlxstudio.file_types import role_of
from mlxstudio.gui.icons import icon
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.pages.data_page import DataPage
from mlxstudio.gui.pages.goal_page import GoalPage
from mlxstudio.gui.pages.lora_page import LoraPage
from mlxstudio.gui.pages.model_page import ModelPage
from mlxstudio.gui.pages.serve_page import ServePage
from mlxstudio.gui.pages.train_page import TrainPage
from mlxstudio.gui.runs_view import RunHistory
from mlxstudio.gui.settings import SettingsDialog, default_port
from mlxstudio.gui.state import WizardState
from mlxstudio.gui.tray import TrayStatus
from mlxstudio.gui.widgets.drop_zone import dropped_paths

HISTORY = "history"
# Page names, in wizard order; the sidebar's rows and go(name) use them.
PAGES = ("goal", "data", "model", "settings", "train", "serve")
WELCOMED = "welcomed"  # a file in the app's folder once the welcome was dismissed
WELCOME = (
    "<b>Welcome to MLX Studio.</b> Make a model your own in five steps: choose what it "
    "should learn, drop your data, pick a base model, check the settings, train. Then chat "
    "with it. Nothing here needs a terminal."
)


class MainWindow(QMainWindow):
    def __init__(self, icon_: QIcon | None = None) -> None:
        super().__init__()
        self.setWindowTitle("MLX Studio")
        self.resize(1180, 760)
        self.setAcceptDrops(True)
        self.state = WizardState()
        self.goal_page = GoalPage(self.state)
        self.data_page = DataPage(self.state)
        self.model_page = ModelPage(self.state)
        self.lora_page = LoraPage(self.state)
        self.train_page = TrainPage(self.state)
        self.serve_page = ServePage(self.state)
        self.pages: list[Page] = [
            self.goal_page,
            self.data_page,
            self.model_page,
            self.lora_page,
            self.train_page,
            self.serve_page,
        ]
        self.visited: set[str] = set()
        self.history = RunHistory()

        root = QWidget()
        row = QHBoxLayout(root)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self._build_sidebar())
        row.addWidget(self._build_content(), 1)
        self.setCentralWidget(root)

        self.welcome = self._welcome()
        self.goal_page.add_banner(self.welcome)
        self.tray = TrayStatus(icon_ or QIcon(), self)
        self._connect()
        self._menus()
        self.steps.setCurrentRow(0)

    def _build_sidebar(self) -> QFrame:
        """The app's name and the steps, Run history last."""
        self.steps = QListWidget()
        self.steps.setIconSize(QSize(18, 18))
        for name, page in zip(PAGES, self.pages, strict=True):
            self.steps.addItem(QListWidgetItem(icon(name), page.title))
        self.steps.addItem(QListWidgetItem(icon(HISTORY), "Run history"))
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
        return sidebar

    def _build_content(self) -> QWidget:
        """The page's title and subtitle, the pages, and the footer: what is missing, Back
        and Next."""
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
        self.next_button.setProperty("primary", True)
        self.back_button.clicked.connect(self.back)
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
        return content

    def _welcome(self) -> QFrame:
        box = QFrame()
        box.setObjectName("Welcome")
        text = QLabel(WELCOME)
        text.setWordWrap(True)
        close = QPushButton("Got it")
        close.clicked.connect(self.dismiss_welcome)
        row = QHBoxLayout(box)
        row.setContentsMargins(14, 10, 14, 10)
        row.addWidget(text, 1)
        row.addWidget(close)
        box.setVisible(not (paths.home() / WELCOMED).exists())
        return box

    def _connect(self) -> None:
        """What the pages ask of each other goes through here, by their public methods."""
        self.goal_page.use_sample.connect(self._use_sample)
        self.data_page.sample_requested.connect(self.goal_page.use_sample_data)
        self.data_page.goal_requested.connect(self.goal_page.choose)
        self.data_page.method_requested.connect(self.goal_page.choose_method)
        self.history.open_run.connect(self.open_run)
        self.history.resume_run.connect(self.resume_run)
        self.history.serve_run.connect(self.serve_run)
        self.history.start_requested.connect(lambda: self.go("goal"))
        self.tray.stop_requested.connect(self.train_page.stop)
        self.tray.show_requested.connect(self.bring_to_front)
        self.tray.open_run.connect(self.open_notice_run)
        self.train_page.notice.connect(self.tray.notify)
        self.train_page.status.connect(self.tray.update)
        self.train_page.status.connect(self._training_status)
        self.train_page.goal_requested.connect(lambda: self.go("goal"))
        self.train_page.run_ended.connect(self._run_ended)
        self.state.changed.connect(self._refresh_footer)
        for page in self.pages:
            page.problems_changed.connect(self._refresh_footer)

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.actions_by_name: dict[str, QAction] = {}

        def add(menu, name: str, text: str, slot, shortcut=None, icon_name: str = "") -> None:
            action = QAction(icon(icon_name) if icon_name else QIcon(), text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            menu.addAction(action)
            self.actions_by_name[name] = action

        add(
            file_menu,
            "open_data",
            "Open dataset…",
            self.open_dataset,
            QKeySequence.StandardKey.Open,
            "open",
        )
        add(file_menu, "import_gguf", "Import GGUF model…", self.import_gguf, None, "import")
        add(
            file_menu,
            "settings",
            "Settings…",
            self.open_settings,
            QKeySequence.StandardKey.Preferences,
            "preferences",
        )
        self.actions_by_name["settings"].setMenuRole(QAction.MenuRole.PreferencesRole)
        add(file_menu, "quit", "Quit", self.quit, QKeySequence.StandardKey.Quit)
        run_menu = self.menuBar().addMenu("&Run")
        add(run_menu, "start", "Start training", self.start_training, None, "start")
        add(run_menu, "stop", "Stop training", self.train_page.stop, None, "stop")
        add(run_menu, "history", "Run history", lambda: self.go(HISTORY), None, "history")

    # ---- menu actions
    def open_dataset(self) -> None:
        self.go("data")
        self.data_page.choose_files()

    def import_gguf(self) -> None:
        self.go("model")
        self.model_page.choose_gguf()

    def start_training(self) -> None:
        self.go("train")
        self.train_page.start()

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self)
        dialog.accepted.connect(self.apply_settings)
        dialog.open()
        return dialog

    def apply_settings(self) -> None:
        """The app's settings were saved: the pages show the folders and port they name."""
        self.model_page.refresh()
        self.history.refresh()
        self.serve_page.port.setValue(default_port())

    def dismiss_welcome(self) -> None:
        self.welcome.hide()
        paths.home().mkdir(parents=True, exist_ok=True)
        (paths.home() / WELCOMED).touch()

    # ---- navigation
    def current_name(self) -> str:
        row = self.steps.currentRow()
        return PAGES[row] if 0 <= row < len(PAGES) else HISTORY

    def current_page(self) -> Page | None:
        row = self.steps.currentRow()
        return self.pages[row] if 0 <= row < len(self.pages) else None

    def page(self, name: str) -> Page:
        return self.pages[PAGES.index(name)]

    def go(self, name: str) -> None:
        """Show a page by name (one of PAGES, or 'history')."""
        self.steps.setCurrentRow(len(PAGES) if name == HISTORY else PAGES.index(name))

    def back(self) -> None:
        row = self.steps.currentRow()
        if 0 < row < len(PAGES):
            self.go(PAGES[row - 1])

    def next(self) -> None:
        page = self.current_page()
        missing = page.problems() if page else []
        if missing:
            self.problems.setText(" ".join(missing))
            return
        row = self.steps.currentRow()
        if row + 1 < len(PAGES):
            self.go(PAGES[row + 1])

    def _show(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        name = self.current_name()
        self.visited.add(name)
        if name != HISTORY:
            page = self.page(name)
            self.title.setText(page.title)
            self.subtitle.setText(page.subtitle)
            page.enter()
        else:
            self.history.refresh()
            self.title.setText("Run history")
            self.subtitle.setText("Every run, newest first: open, resume, serve, export, compare.")
        self._refresh_footer()

    def _refresh_footer(self) -> None:
        row = self.steps.currentRow()
        self.problems.setText("")
        on_page = row < len(PAGES)
        self.back_button.setVisible(on_page)
        self.back_button.setEnabled(0 < row < len(PAGES))
        self.next_button.setVisible(row < len(PAGES) - 1)
        # A step is ticked once it was visited and nothing is missing on it.
        for i, (name, page) in enumerate(zip(PAGES, self.pages, strict=True)):
            done = name in self.visited and name not in ("train", "serve") and not page.problems()
            item = self.steps.item(i)
            item.setIcon(icon("ok") if done else icon(name))
            item.setToolTip("Done" if done else "")

    # ---- files from outside: drops on the window, files opened with the app
    def open_paths(self, paths_: list[Path]) -> None:
        """Models are imported; everything else is one dataset (several files together)."""
        data = [p for p in paths_ if role_of(p) != "model"]
        for path in paths_:
            if role_of(path) == "model":
                self.go("model")
                self.model_page.import_gguf(path)
        if data:
            self.go("data")
            self.data_page.open_paths(data)

    def _use_sample(self, files: list) -> None:
        self.go("data")
        self.data_page.open_paths(files)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths_ = dropped_paths(event)
        if paths_:
            event.acceptProposedAction()
            self.open_paths(paths_)

    # ---- runs
    def open_run(self, run_dir: Path) -> bool:
        """Show a run on the Training page (refused, with a message there, while training)."""
        self.go("train")
        return self.train_page.show_run(run_dir)

    def resume_run(self, run_dir: Path) -> None:
        if self.open_run(run_dir):
            self.train_page.resume_run()

    def serve_run(self, run_dir: Path) -> None:
        if self.train_page.is_running() or self.train_page.show_run(run_dir):
            self.go("serve")
            self.serve_page.serve_run(run_dir)

    def _training_status(self, *status) -> None:
        running = bool(status[-1])
        self.history.set_active_run(self.state.run_dir if running else None)

    def _run_ended(self, run: str, message: str) -> None:
        self.history.refresh()  # the page sent the notification, with the run's figures

    def open_notice_run(self, run_dir: Path) -> None:
        """A notification was clicked: the window, on the Training page, with that run."""
        self.bring_to_front()
        self.open_run(Path(run_dir))

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
        self.history.shutdown()
        QApplication.quit()
