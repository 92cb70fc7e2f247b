"""GUI fixtures: the main window on the offscreen platform, the tiny model installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def window(qtbot, studio_home):
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.main_window import MainWindow
    from mlxstudio.gui.style import apply_style

    apply_style(QApplication.instance())
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    win.data_page.shutdown()
    win.train_page.shutdown(timeout_ms=20000)
    win.serve_page.shutdown()


@pytest.fixture
def installed_tiny(tiny_model, studio_home) -> Path:
    """The tiny model, as if installed in the app's model folder."""
    dest = studio_home / "models" / "tiny-llama"
    shutil.copytree(tiny_model, dest)
    return dest
