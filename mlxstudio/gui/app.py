"""Start the desktop app: `mlxstudio gui [FILES...]`."""

from __future__ import annotations

import sys
from pathlib import Path

from mlxstudio.core import paths


def app_icon():
    from PySide6.QtGui import QIcon

    icon = paths.resources_dir() / "icons" / "mlxstudio.png"
    return QIcon(str(icon)) if icon.exists() else QIcon()


def run_app(files: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.main_window import MainWindow
    from mlxstudio.gui.style import apply_style

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MLX Studio")
    app.setOrganizationName("MLX Studio")
    app.setQuitOnLastWindowClosed(False)  # training goes on in the menu bar
    apply_style(app)
    window = MainWindow(app_icon())
    app.setWindowIcon(window.windowIcon())
    window.show()
    if files:
        window.open_paths([Path(f) for f in files])
    return app.exec()
