"""The app's look: native on macOS, Fusion elsewhere; colours from the palette so the
system's light or dark mode is followed."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

SHEET = """
#Sidebar { background: palette(window); border-right: 1px solid palette(mid); }
#Sidebar QListWidget { border: none; background: transparent; font-size: 14px; }
#Sidebar QListWidget::item { padding: 9px 12px; border-radius: 6px; margin: 1px 8px; }
#Sidebar QListWidget::item:selected { background: palette(highlight);
    color: palette(highlighted-text); }
#AppName { font-size: 16px; font-weight: 600; padding: 16px 20px 10px 20px; }
#PageTitle { font-size: 22px; font-weight: 600; }
#PageSubtitle { color: palette(placeholder-text); font-size: 13px; }
#Problems { color: #c0392b; }
#DropZone { border: 2px dashed palette(mid); border-radius: 12px; padding: 22px;
    font-size: 14px; color: palette(placeholder-text); }
#DropZone[active="true"] { border-color: palette(highlight); color: palette(text); }
#Card { border: 1px solid palette(mid); border-radius: 10px; }
#Hint { color: palette(placeholder-text); }
#BigNumber { font-size: 20px; font-weight: 600; }
"""


def apply_style(app: QApplication) -> None:
    if sys.platform != "darwin":
        app.setStyle("Fusion")
    app.setStyleSheet(SHEET)
