"""Model page: models found on this machine, the catalog to download from, GGUF import, and
the training-memory gauge that follows the LoRA settings.

First run: with no model, an empty state offers the demo model; with exactly one trainable
model and none chosen, that one is chosen; the demo button shows only while it is missing."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.catalog import CatalogEntry, load_catalog
from mlxstudio.core.models.demo import DEMO_NAME
from mlxstudio.core.models.discover import ModelEntry, add_user_folder, discover
from mlxstudio.core.models.memory import MemoryEstimate
from mlxstudio.engine.job import JobThread, mlxstudio_command
from mlxstudio.gui.icons import icon
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.style import repolish, set_message
from mlxstudio.gui.widgets.empty_state import empty_state
from mlxstudio.gui.widgets.memory_gauge import MemoryGauge

COLUMNS = (
    "Name", "Status", "Architecture", "Parameters", "Weights", "Size", "Context", "Chat",
    "Source",
)  # fmt: skip
NO_MODELS = (
    "No models on this computer yet. Install the small demo model to try every step in "
    "minutes, or download one from the catalog below."
)
PROGRESS = re.compile(r"^progress (\d+)%")


def parameters_text(n: int | None) -> str:
    """The Parameters cell: 135M, 1.5B."""
    if not n:
        return "?"
    if n < 0.5e6:
        return "<1M"  # a test-sized model: "0M" would read as empty
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def size_text(n: int) -> str:
    """The Size cell, in MB."""
    return "<1 MB" if n < 0.5e6 else f"{n / 1e6:,.0f} MB"


def models_found(n: int) -> str:
    return f"{n} model found" if n == 1 else f"{n} models found"


def status_of(m: ModelEntry) -> str:
    """The Status cell: ready, or what to do, or why it cannot be trained (window words)."""
    if m.format == "gguf":
        if m.trainable:
            return "GGUF: select it, then Import selected GGUF"
        return f"Can't import: {m.note}"
    return "Ready" if m.trainable else f"Can't train: {m.note}"


def demo_installed() -> bool:
    """Whether the demo model is in the app's model folder (where install-demo puts it)."""
    return (paths.models_dir() / DEMO_NAME / "config.json").is_file()


class ModelPage(Page):
    title = "Model"
    subtitle = (
        "Pick the base model to fine-tune: one already on this Mac (app folder, Hugging Face "
        "cache, LM Studio, Ollama), one from the catalog, or a GGUF file."
    )

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        # ---- attributes
        self.models: list[ModelEntry] = []
        self.job: JobThread | None = None
        self.catalog: list[CatalogEntry] = []

        # ---- widgets
        self._build_models()
        buttons = self._build_buttons()
        fetch = self._build_catalog()
        self.gauge = MemoryGauge(state)
        status_row = self._build_status()

        # ---- layout
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.models_view, 1)
        layout.addWidget(self.gauge)
        layout.addLayout(fetch)
        layout.addWidget(self.progress)
        layout.addLayout(status_row)
        layout.addWidget(self.log)
        self.refresh()

    def _build_models(self) -> None:
        """The models found (a table), or the empty state offering the demo model."""
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Name takes the room; Status keeps to its text.
        self.table.itemSelectionChanged.connect(self._selected)
        self.empty, self.empty_button = empty_state("model", NO_MODELS, "Install demo model")
        self.empty_button.setIcon(icon("download", colour="#ffffff"))
        self.empty_button.clicked.connect(self.install_demo)
        self.models_view = QStackedWidget()
        self.models_view.addWidget(self.table)
        self.models_view.addWidget(self.empty)

    def _build_buttons(self) -> QHBoxLayout:
        """Install demo, Import GGUF (and how to quantize it), Add folder."""
        self.demo_button = QPushButton(icon("download"), "Install demo model")
        self.demo_button.setToolTip(
            "A 135M-parameter instruct model shipped with the app; "
            "small enough to fine-tune in minutes."
        )
        self.demo_button.clicked.connect(self.install_demo)
        self.import_button = QPushButton(icon("import"), "Import GGUF…")
        self.import_button.setToolTip(
            "Turn a .gguf file (Ollama, LM Studio, llama.cpp) into an MLX model folder."
        )
        self.import_button.clicked.connect(self._import_clicked)
        self.requantize = QComboBox()
        for label, value in (
            ("keep quantization", ""),
            ("MLX 4-bit", "4"),
            ("MLX 8-bit", "8"),
            ("full precision", "none"),
        ):
            self.requantize.addItem(label, value)
        self.requantize.setToolTip(
            "What to do with the GGUF's weights on import: keep Q4_0/Q4_1/Q8_0 as MLX "
            "quantization, requantize to MLX 4 or 8 bits, or dequantize to full precision."
        )
        self.folder_button = QPushButton(icon("folder"), "Add folder…")
        self.folder_button.setToolTip(
            "A model folder (with config.json), or a folder holding models or .gguf files; "
            "it is remembered and scanned from now on."
        )
        self.folder_button.clicked.connect(self._choose_folder)
        requantize_label = QLabel("GGUF import:")
        requantize_label.setBuddy(self.requantize)
        buttons = QHBoxLayout()
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.import_button)
        buttons.addWidget(requantize_label)
        buttons.addWidget(self.requantize)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        return buttons

    def _build_catalog(self) -> QHBoxLayout:
        """The catalog to download from, with Download, Cancel and the progress bar."""
        self.catalog_box = QComboBox()
        self.catalog_box.setEditable(True)  # any hub repo can be typed in
        self.catalog_box.setToolTip(
            "Recommended MLX-community models; or type any hub repo as owner/name."
        )
        # Long catalog lines must not set the window's minimum width.
        self.catalog_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.catalog_box.setMinimumContentsLength(32)
        try:
            self.catalog = load_catalog()
        except UserError:
            self.catalog = []
        for e in self.catalog:
            self.catalog_box.addItem(
                f"{e.repo}  ·  {e.parameters}, {e.quantization}, {e.size_gb:g} GB, {e.licence}",
                e.repo,
            )
        # The name's start is what tells models apart: show it, not the line's end.
        self.catalog_box.currentIndexChanged.connect(
            lambda _i: self.catalog_box.lineEdit().setCursorPosition(0)
        )
        self.catalog_box.lineEdit().setCursorPosition(0)
        self.download_button = QPushButton(icon("download"), "Download")
        self.download_button.clicked.connect(self._download_clicked)
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.setToolTip("Stop the download; starting it again resumes it.")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        fetch = QHBoxLayout()
        fetch.addWidget(QLabel("Catalog:"))
        fetch.addWidget(self.catalog_box, 1)
        fetch.addWidget(self.download_button)
        fetch.addWidget(self.cancel_button)
        return fetch

    def _build_status(self) -> QHBoxLayout:
        """What the last job said, and its raw output behind Details."""
        self.status = QLabel()
        self.status.setObjectName("Hint")
        # Long paths must wrap or clip, never widen the window.
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumHeight(90)
        self.log.hide()
        # The job's raw output, on demand (and opened by itself when a job fails).
        self.details_button = QPushButton(icon("log"), "Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show what the last download or import printed")
        self.details_button.toggled.connect(self.log.setVisible)
        self.details_button.hide()  # until a job has run
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.details_button)
        return status_row

    # -- the model list ----------------------------------------------------------------------
    def refresh(self) -> None:
        self.models = discover()
        self.table.setRowCount(len(self.models))
        for row, m in enumerate(self.models):
            cells = (
                m.name,
                status_of(m),
                m.architecture,
                parameters_text(m.parameters),
                m.quantization,
                size_text(m.size_bytes),
                str(m.context_length or "?"),
                "yes" if m.has_chat_template else "no",
                m.source,
            )
            tip = str(m.path) + ("" if m.trainable and m.format != "gguf" else f"\n{m.note}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if col in (3, 5, 6):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if not m.trainable:
                    item.setForeground(Qt.GlobalColor.gray)
                self.table.setItem(row, col, item)
        self.models_view.setCurrentWidget(self.table if self.models else self.empty)
        self.demo_button.setVisible(bool(self.models) and not demo_installed())
        trainable = [m for m in self.models if m.trainable and m.format != "gguf"]
        if self.state.model_path is None and len(trainable) == 1:
            self.state.set_model(trainable[0].path)  # the only choice: chosen for the user
        if self.state.model_path:
            self._select_path(self.state.model_path)
        where = paths.models_dir()
        self.status.setText(
            f"{models_found(len(self.models))} (app folder: {where})" if self.models else ""
        )

    def _select_path(self, path: Path) -> None:
        for row, m in enumerate(self.models):
            if m.path.resolve() == Path(path).resolve():
                self.table.selectRow(row)

    def selected_entry(self) -> ModelEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.models[rows[0].row()] if rows else None

    def _selected(self) -> None:
        m = self.selected_entry()
        if m is None:
            return
        if m.format == "gguf":
            message = (
                f"{m.name} is a GGUF file: press Import selected GGUF to make it trainable."
                if m.trainable
                else f"{m.name} is a GGUF file that cannot be imported: {m.note}."
            )
            set_message(self.status, message, "info" if m.trainable else "warning")
            self.import_button.setText("Import selected GGUF")
            self._import_is_next(m.trainable)
            return
        self.import_button.setText("Import GGUF…")
        self._import_is_next(False)
        if not m.trainable:
            set_message(self.status, f"{m.name} cannot be trained here: {m.note}.", "warning")
        else:
            set_message(self.status, f"Using {m.name}.", None)
        self.state.set_model(m.path)

    def _import_is_next(self, on: bool) -> None:
        """A selected importable GGUF makes Import the page's primary action."""
        self.import_button.setProperty("primary", on)
        repolish(self.import_button)

    def problems(self) -> list[str]:
        return [] if self.state.model_path else ["Choose a model (or install the demo model)."]

    # -- the memory gauge --------------------------------------------------------------------
    @property
    def estimate(self) -> MemoryEstimate | None:
        """The gauge's current estimate (None until model and data lengths are known)."""
        return self.gauge.estimate

    def update_estimate(self) -> None:
        """Re-estimate now (the gauge also follows every state change by itself)."""
        self.gauge.refresh()

    # -- jobs: slow work runs as a child `mlxstudio models ...` so the window stays responsive
    def _run(self, *args: str) -> None:
        if self.job is not None and self.job.isRunning():
            return
        self.log.clear()
        self.details_button.show()
        self._busy(True)
        self.job = JobThread(mlxstudio_command(*args), parent=self)
        self.job.log.connect(self._job_line)
        self.job.ended.connect(self._job_ended)
        self.job.start()

    def _busy(self, busy: bool) -> None:
        for b in (self.demo_button, self.empty_button, self.import_button, self.download_button):
            b.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _job_line(self, line: str) -> None:
        match = PROGRESS.match(line)
        if match:
            self.progress.show()
            self.progress.setValue(int(match.group(1)))
            self.progress.setFormat(line.removeprefix("progress ").strip())
            return
        self.log.appendPlainText(line)

    def _job_ended(self, code: int, error: str) -> None:
        self._busy(False)
        self.progress.hide()
        level = None
        if code == 0:
            message, level = "Done.", "ok"
        elif (code in (130, -2) and not error) or "cancelled" in error:
            message = "Cancelled. Start it again to resume where it stopped."
        else:
            message, level = f"Failed: {error or 'see the details'}", "error"
            self.details_button.setChecked(True)  # the cause is in the log
        before = {m.path for m in self.models}
        self.refresh()
        added = [m for m in self.models if m.path not in before and m.format != "gguf"]
        if added:
            self.state.set_model(added[0].path)
            self._select_path(added[0].path)
            message += f" Selected {added[0].name}."
        set_message(self.status, message, level)

    def cancel(self) -> None:
        if self.job is not None and self.job.isRunning():
            self.status.setText("Cancelling…")
            self.job.stop()

    def install_demo(self) -> None:
        self.status.setText("Installing the demo model…")
        self._run("models", "install-demo")

    def import_gguf(self, path: Path) -> None:
        self.status.setText(f"Importing {path.name}…")
        choice = self.requantize.currentData()
        extra = ("--requantize", choice) if choice else ()
        self._run("models", "import-gguf", str(path), *extra)

    def download(self, repo: str) -> None:
        repo = repo.strip().split()[0] if repo.strip() else ""
        if repo.count("/") != 1:
            set_message(
                self.status, "Name a hub repo as owner/name, e.g. mlx-community/…", "warning"
            )
            return
        self.status.setText(f"Downloading {repo}…")
        self.progress.setValue(0)
        self.progress.show()
        self._run("models", "download", repo)

    def _download_clicked(self) -> None:
        index = self.catalog_box.currentIndex()
        text = self.catalog_box.currentText()
        data = self.catalog_box.itemData(index) if index >= 0 else None
        self.download(data if data and self.catalog_box.itemText(index) == text else text)

    def _import_clicked(self) -> None:
        m = self.selected_entry()
        if m is not None and m.format == "gguf":
            self.import_gguf(m.path)
        else:
            self.choose_gguf()

    def choose_gguf(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "Import a GGUF model", str(Path.home()), "GGUF models (*.gguf)"
        )
        if file:
            self.import_gguf(Path(file))

    def add_folder(self, folder: Path) -> None:
        """Use a model folder, or remember a folder of models to scan."""
        try:
            add_user_folder(folder)
        except UserError as err:
            set_message(self.status, str(err), "error")
            return
        self.refresh()
        if (folder / "config.json").is_file():
            self.state.set_model(folder)
            self._select_path(folder)
            self.status.setText(f"Using {folder}")

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", str(Path.home()))
        if folder:
            self.add_folder(Path(folder))
