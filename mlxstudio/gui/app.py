"""Start the desktop app: `mlxstudio gui [FILES...]`, the .app bundle, the Linux launcher."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlxstudio.core import paths

SMOKE_ENV = "MLXSTUDIO_SMOKE_TEST"  # set: show the window, print a line, quit (packaging test)


def app_icon():
    from PySide6.QtGui import QIcon

    icon = paths.resources_dir() / "icons" / "mlxstudio.png"
    return QIcon(str(icon)) if icon.exists() else QIcon()


def _file_open_filter(window):
    """Files dropped on the Dock icon arrive as QFileOpenEvent on the application."""
    from PySide6.QtCore import QEvent, QObject

    class FileOpenFilter(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt API)
            if event.type() == QEvent.Type.FileOpen and event.file():
                window.open_paths([Path(event.file())])
                window.bring_to_front()
                return True
            return False

    return FileOpenFilter(window)


def run_app(files: list[str] | None = None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.main_window import MainWindow
    from mlxstudio.gui.style import apply_style

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MLX Studio")
    app.setOrganizationName("MLX Studio")
    app.setQuitOnLastWindowClosed(False)  # training goes on in the menu bar
    apply_style(app)
    from mlxstudio.gui.settings import apply_saved, default_port

    apply_saved()
    icon = app_icon()
    app.setWindowIcon(icon)
    window = MainWindow(icon)
    window.serve_page.port.setValue(default_port())
    app.installEventFilter(_file_open_filter(window))
    window.show()
    if files:
        window.open_paths([Path(f) for f in files])
    if os.environ.get(SMOKE_ENV):

        def smoke() -> None:
            print(f"window shown: {window.windowTitle()} ({window.width()}x{window.height()})")
            window.quit()

        QTimer.singleShot(200, smoke)
    return app.exec()


def main() -> int:
    """Entry point of the app bundle and of the `mlxstudio-gui` launcher."""
    import multiprocessing

    multiprocessing.freeze_support()  # the Data page's child processes, in a frozen .app
    return run_app(sys.argv[1:])
