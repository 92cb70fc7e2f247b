"""GUI fixtures: the main window on the offscreen platform, screenshots to tests/artifacts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SCREENS = Path(__file__).resolve().parents[1] / "artifacts" / "screens"


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
    win.train_page.shutdown(timeout_ms=20000)
    win.serve_page.shutdown()


@pytest.fixture
def installed_tiny(tiny_model, studio_home) -> Path:
    """The tiny model, as if installed in the app's model folder."""
    dest = studio_home / "models" / "tiny-llama"
    shutil.copytree(tiny_model, dest)
    return dest


def screenshot(widget, name: str) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not save {path}"
    return path
