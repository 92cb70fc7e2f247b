"""Settings (model folder, runs folder, default port) kept with QSettings and applied."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from mlxstudio.core import paths
from mlxstudio.gui.settings import SettingsDialog, apply_saved, default_port


def test_settings_are_saved_and_applied(qtbot, tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_MODELS, raising=False)
    monkeypatch.delenv(paths.ENV_RUNS, raising=False)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    dialog = SettingsDialog(settings=settings)
    qtbot.addWidget(dialog)
    dialog.models.setText(str(tmp_path / "my-models"))
    dialog.runs.setText(str(tmp_path / "my-runs"))
    dialog.port.setValue(8123)
    dialog.save()
    assert paths.models_dir() == tmp_path / "my-models" and (tmp_path / "my-models").is_dir()
    assert paths.runs_dir() == tmp_path / "my-runs"
    again = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert default_port(again) == 8123
    again.setValue("models_dir", "")
    apply_saved(again)
    assert paths.models_dir() == paths.home() / "models"


def test_settings_menu_updates_the_pages(window, monkeypatch, tmp_path, installed_tiny):
    monkeypatch.delenv(paths.ENV_MODELS, raising=False)
    dialog = window.open_settings()
    assert dialog.isVisible()
    monkeypatch.setenv(paths.ENV_MODELS, str(tmp_path / "empty-models"))
    window.apply_settings()
    assert window.model_page.table.rowCount() == 0
    monkeypatch.delenv(paths.ENV_MODELS)
    window.apply_settings()
    assert window.model_page.table.rowCount() == 1
    dialog.reject()
