"""Model page: the local models, the demo model in one click, and GGUF import."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from mlxstudio.core import paths
from mlxstudio.core.models.local import LocalModel, list_models
from mlxstudio.engine.job import JobThread, mlxstudio_command
from mlxstudio.gui.pages.base import Page

COLUMNS = ("Name", "Architecture", "Weights", "Size", "Chat template")


class ModelPage(Page):
    title = "Model"
    subtitle = (
        "Pick the base model to fine-tune. Import a GGUF from Ollama or LM Studio, "
        "or install the small demo model."
    )

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.models: list[LocalModel] = []
        self.job: JobThread | None = None

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selected)

        self.demo_button = QPushButton("Install demo model (SmolLM2-135M)")
        self.demo_button.setToolTip(
            "A 135M-parameter instruct model shipped with the app; "
            "small enough to fine-tune in minutes."
        )
        self.demo_button.clicked.connect(self.install_demo)
        self.import_button = QPushButton("Import GGUF…")
        self.import_button.setToolTip(
            "Turn a .gguf file (Ollama, LM Studio, llama.cpp) into an MLX model folder."
        )
        self.import_button.clicked.connect(self._choose_gguf)
        self.folder_button = QPushButton("Use a model folder…")
        self.folder_button.setToolTip("Any MLX / Hugging Face model folder with a config.json.")
        self.folder_button.clicked.connect(self._choose_folder)

        buttons = QHBoxLayout()
        for b in (self.demo_button, self.import_button, self.folder_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.status = QLabel()
        self.status.setObjectName("Hint")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumHeight(90)
        self.log.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.log)
        self.refresh()

    def refresh(self) -> None:
        self.models = list_models()
        self.table.setRowCount(len(self.models))
        for row, m in enumerate(self.models):
            cells = (
                m.name,
                m.model_type,
                m.quantization,
                f"{m.size_bytes / 1e6:,.0f} MB",
                "yes" if m.has_chat_template else "no",
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 3:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, col, item)
        if self.state.model_path:
            self._select_path(self.state.model_path)
        where = paths.models_dir()
        self.status.setText(
            f"{len(self.models)} model(s) in {where}"
            if self.models
            else f"No models yet in {where}. Install the demo model or import a GGUF file."
        )

    def _select_path(self, path: Path) -> None:
        for row, m in enumerate(self.models):
            if m.path.resolve() == Path(path).resolve():
                self.table.selectRow(row)

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.state.set_model(self.models[rows[0].row()].path)

    def problems(self) -> list[str]:
        return [] if self.state.model_path else ["Choose a model (or install the demo model)."]

    # Slow work runs as a child `mlxstudio models ...` so the window stays responsive.
    def _run(self, *args: str) -> None:
        if self.job is not None and self.job.isRunning():
            return
        self.log.clear()
        self.log.show()
        for b in (self.demo_button, self.import_button):
            b.setEnabled(False)
        self.job = JobThread(mlxstudio_command(*args), parent=self)
        self.job.log.connect(self.log.appendPlainText)
        self.job.ended.connect(self._job_ended)
        self.job.start()

    def _job_ended(self, code: int, error: str) -> None:
        for b in (self.demo_button, self.import_button):
            b.setEnabled(True)
        self.status.setText("Done." if code == 0 else f"Failed: {error or 'see the log'}")
        before = {m.path for m in self.models}
        self.refresh()
        added = [m for m in self.models if m.path not in before]
        if added:
            self.state.set_model(added[0].path)
            self._select_path(added[0].path)

    def install_demo(self) -> None:
        self.status.setText("Installing the demo model…")
        self._run("models", "install-demo")

    def import_gguf(self, path: Path) -> None:
        self.status.setText(f"Importing {path.name}…")
        self._run("models", "import-gguf", str(path))

    def _choose_gguf(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "Import a GGUF model", str(Path.home()), "GGUF models (*.gguf)"
        )
        if file:
            self.import_gguf(Path(file))

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", str(Path.home()))
        if folder:
            if not (Path(folder) / "config.json").is_file():
                self.status.setText(f"{folder} has no config.json: not a model folder.")
                return
            self.state.set_model(Path(folder))
            self.status.setText(f"Using {folder}")
