"""Settings kept with QSettings: the model folder, the runs folder, the default port.

The folders reach the core (and every child job) through MLXSTUDIO_MODELS_DIR and
MLXSTUDIO_RUNS_DIR, so the same paths hold in the window, the jobs and the CLI's view."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from mlxstudio.core import paths

KEYS = {"models_dir": paths.ENV_MODELS, "runs_dir": paths.ENV_RUNS}


def store() -> QSettings:
    return QSettings("MLX Studio", "MLX Studio")


def apply_saved(settings: QSettings | None = None) -> None:
    """Put the saved folders into the environment (at start-up and after a change)."""
    settings = settings or store()
    for key, env in KEYS.items():
        value = settings.value(key, "", type=str)
        if value:
            os.environ[env] = value
        else:
            os.environ.pop(env, None)


def default_port(settings: QSettings | None = None) -> int:
    return int((settings or store()).value("default_port", 0, type=int))


class SettingsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MLX Studio Settings")
        self.settings = settings or store()
        self.models = QLineEdit(self.settings.value("models_dir", "", type=str))
        self.models.setPlaceholderText(str(paths.home() / "models"))
        self.runs = QLineEdit(self.settings.value("runs_dir", "", type=str))
        self.runs.setPlaceholderText(str(paths.home() / "runs"))
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("next free")
        self.port.setValue(default_port(self.settings))
        self.port.setToolTip("The port the Serve page starts on (next free: any unused port).")
        form = QFormLayout(self)
        form.addRow("Model folder", self._with_browse(self.models))
        form.addRow("Runs folder", self._with_browse(self.runs))
        form.addRow("Default port", self.port)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(560, self.sizeHint().height())

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        browse = QPushButton("Choose…")
        browse.clicked.connect(lambda: self._browse(edit))
        layout.addWidget(browse)
        return row

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose a folder", edit.text() or edit.placeholderText()
        )
        if folder:
            edit.setText(folder)

    def save(self) -> None:
        for key, edit in (("models_dir", self.models), ("runs_dir", self.runs)):
            text = edit.text().strip()
            if text:
                Path(text).expanduser().mkdir(parents=True, exist_ok=True)
            self.settings.setValue(key, text)
        self.settings.setValue("default_port", self.port.value())
        self.settings.sync()
        apply_saved(self.settings)
        self.accept()
