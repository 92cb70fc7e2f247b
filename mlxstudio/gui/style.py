"""The app's look: the system font, light or dark following the system, one accent colour.

macOS keeps its native style and palette (which already follow the system). Elsewhere the
Fusion style gets a palette built here, light or dark as the system says (Qt >= 6.5 tells),
and is rebuilt live when the system switches. The stylesheet only names palette roles and
the accent, so the same sheet serves both schemes.

For pages:
- make_primary(button): the one accent-coloured button of a panel (the next step).
- set_message(label, text, level): a label as an error (red, icon), warning (amber, icon),
  ok (green, icon) or info line; level None for plain hint text.
- objectName "Hint" for secondary text, "EmptyState" for empty-state panels (see
  widgets/empty_state.py), "Card" for a bordered panel.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget

from mlxstudio.gui.icons import LEVEL_COLOURS, icon

ACCENT = "#0a84ff"
ACCENT_HOVER = "#3396ff"
ACCENT_PRESSED = "#0070e0"
LEVELS = tuple(LEVEL_COLOURS)

# (role, light, dark) for the palette Fusion draws with.
_ROLES = (
    ("Window", "#f3f3f5", "#1f1f21"),
    ("WindowText", "#1d1d1f", "#e8e8ea"),
    ("Base", "#ffffff", "#28282b"),
    ("AlternateBase", "#f7f7f9", "#2e2e31"),
    ("ToolTipBase", "#ffffff", "#2e2e31"),
    ("ToolTipText", "#1d1d1f", "#e8e8ea"),
    ("PlaceholderText", "#7c7c82", "#98989f"),
    ("Text", "#1d1d1f", "#e8e8ea"),
    ("Button", "#fdfdfe", "#333336"),
    ("ButtonText", "#1d1d1f", "#e8e8ea"),
    ("BrightText", "#ffffff", "#ffffff"),
    ("Light", "#ffffff", "#444448"),
    ("Midlight", "#e6e6ea", "#38383b"),
    ("Mid", "#c8c8cd", "#4a4a4e"),
    ("Dark", "#a0a0a6", "#161618"),
    ("Shadow", "#707074", "#000000"),
    ("Highlight", ACCENT, ACCENT),
    ("HighlightedText", "#ffffff", "#ffffff"),
    ("Link", "#0a6cdc", "#409cff"),
    ("LinkVisited", "#5b4bd6", "#a48cff"),
)
_DISABLED = (
    ("WindowText", "#a4a4aa", "#6a6a70"),
    ("Text", "#a4a4aa", "#6a6a70"),
    ("ButtonText", "#a4a4aa", "#6a6a70"),
    ("Highlight", "#c8c8cd", "#4a4a4e"),
)

SHEET = """
QPushButton { padding: 5px 14px; border: 1px solid palette(mid); border-radius: 6px;
    background: palette(button); color: palette(button-text); min-height: 18px; }
QPushButton:hover { border-color: @ACCENT@; }
QPushButton:pressed { background: palette(midlight); }
QPushButton:disabled { color: palette(placeholder-text); border-color: palette(midlight); }
QPushButton:checked { background: @TINT@; border: 1px solid @ACCENT@; }
QPushButton[primary="true"] { background: @ACCENT@; color: #ffffff; border: 1px solid @ACCENT@;
    font-weight: 600; }
QPushButton[primary="true"]:hover { background: @ACCENT_HOVER@; border-color: @ACCENT_HOVER@; }
QPushButton[primary="true"]:pressed { background: @ACCENT_PRESSED@; }
QPushButton[primary="true"]:disabled { background: palette(midlight); color:
    palette(placeholder-text); border-color: palette(midlight); }
QPushButton[choice="true"] { text-align: left; padding: 8px 12px; }
QPushButton[choice="true"]:checked { border: 2px solid @ACCENT@; padding: 7px 11px; }
QProgressBar { border: none; border-radius: 5px; background: palette(midlight);
    text-align: center; min-height: 10px; }
QProgressBar::chunk { background: @ACCENT@; border-radius: 5px; }
QGroupBox { border: 1px solid palette(mid); border-radius: 8px; margin-top: 16px;
    padding: 12px 10px 8px 10px; }
QGroupBox::title { subcontrol-origin: margin; subcontrol-position: top left; left: 10px;
    padding: 0 4px; font-weight: 600; }
QGroupBox[compact="true"] { margin-top: 0px; padding: 4px 10px 4px 10px; }
QHeaderView::section { padding: 5px 8px; border: none; border-bottom: 1px solid palette(mid);
    background: palette(window); font-weight: 600; }
QTableView, QListView, QTreeView, QPlainTextEdit, QTextEdit { border: 1px solid palette(mid);
    border-radius: 6px; }
QTableView { gridline-color: palette(midlight); }
QToolTip { border: 1px solid palette(mid); padding: 4px; }

#Sidebar { background: palette(window); border-right: 1px solid palette(mid); }
#Sidebar QListWidget { border: none; background: transparent; font-size: 14px; }
#Sidebar QListWidget::item { padding: 8px 12px; border-radius: 6px; margin: 1px 8px; }
#Sidebar QListWidget::item:selected { background: @ACCENT@; color: #ffffff; }
#AppName { font-size: 16px; font-weight: 600; padding: 16px 20px 10px 20px; }
#PageTitle { font-size: 22px; font-weight: 600; }
#PageSubtitle { color: palette(placeholder-text); }
#Problems { color: @warning@; }
#Hint { color: palette(placeholder-text); }
#BigNumber { font-size: 20px; font-weight: 600; }
#Card { border: 1px solid palette(mid); border-radius: 10px; }
#DropZone { border: 2px dashed palette(mid); border-radius: 12px; padding: 22px;
    font-size: 14px; color: palette(placeholder-text); }
#DropZone[active="true"] { border-color: @ACCENT@; color: palette(text); background: @TINT@; }
#EmptyState { background: palette(alternate-base); border: 1px solid palette(midlight);
    border-radius: 12px; }
#EmptyStateText { color: palette(placeholder-text); font-size: 14px; }
"""

_LEVEL_SHEET = """
QLabel[level="@L@"] { color: @C@; padding-left: 22px; background-image: url("@P@");
    background-repeat: no-repeat; background-position: left top; }
"""
# Fusion draws an unchecked box in dark mode dark on dark; every state is drawn here instead.
_CHECK_SHEET = """
QCheckBox::indicator { width: 14px; height: 14px; border: 1px solid @BOX_BORDER@;
    border-radius: 4px; background: palette(base); }
QCheckBox::indicator:hover { border-color: @ACCENT@; }
QCheckBox::indicator:checked { background: @ACCENT@; border-color: @ACCENT@;
    image: url("@CHECK@"); }
QCheckBox::indicator:checked:hover { background: @ACCENT_HOVER@; border-color: @ACCENT_HOVER@; }
QCheckBox::indicator:indeterminate { background: @ACCENT@; border-color: @ACCENT@;
    image: url("@DASH@"); }
QCheckBox::indicator:disabled { border-color: palette(mid); background: palette(window); }
QCheckBox::indicator:checked:disabled { background: palette(mid); border-color: palette(mid); }
"""
# The unchecked box's border: clearly visible on the field colour of each scheme.
BOX_BORDER = {"light": "#8e8e94", "dark": "#8e8e96"}
_ICON_DIR: Path | None = None
_follow = {"system": False, "connected": False}  # follow live switches; the signal is wired


def system_scheme() -> str:
    """'dark' or 'light', as the system says (light when it cannot tell)."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)  # Qt >= 6.5
    return "dark" if scheme is not None and scheme() == Qt.ColorScheme.Dark else "light"


def build_palette(scheme: str) -> QPalette:
    """The full palette for 'light' or 'dark' (Fusion draws everything from it)."""
    dark = scheme == "dark"
    pal = QPalette()
    for role, light_c, dark_c in _ROLES:
        colour = QColor(dark_c if dark else light_c)
        for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
            pal.setColor(group, QPalette.ColorRole[role], colour)
        pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole[role], colour)
    for role, light_c, dark_c in _DISABLED:
        colour = QColor(dark_c if dark else light_c)
        pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole[role], colour)
    return pal


def _icon_dir() -> Path:
    global _ICON_DIR
    if _ICON_DIR is None:
        _ICON_DIR = Path(tempfile.mkdtemp(prefix="mlxstudio-icons-"))
    return _ICON_DIR


def _check_marks() -> dict[str, str]:
    """PNG files of the check box's marks (white, on the accent), for url()."""
    files = {}
    for name, glyph in (("CHECK", "fa6s.check"), ("DASH", "fa6s.minus")):
        path = _icon_dir() / f"{name.lower()}.png"
        if not path.exists():
            qta.icon(glyph, color="#ffffff").pixmap(12, 12).save(str(path))
        files[name] = path.as_posix()
    return files


def _level_icons(scheme: str) -> dict[str, str]:
    """PNG files of the level icons in this scheme's colours, for the stylesheet's url()."""
    _icon_dir()
    files = {}
    for level in LEVELS:
        path = _ICON_DIR / f"{level}-{scheme}.png"
        if not path.exists():
            icon(level).pixmap(16, 16).save(str(path))
        files[level] = path.as_posix()
    return files


def stylesheet(scheme: str, native: bool = False) -> str:
    """The app's stylesheet for the palette now in use (native: macOS draws the check
    boxes itself)."""
    dark = scheme == "dark"
    sheet = SHEET
    if not native:
        sheet += _CHECK_SHEET.replace("@BOX_BORDER@", BOX_BORDER[scheme])
        for name, path in _check_marks().items():
            sheet = sheet.replace(f"@{name}@", path)
    for level, (light_c, dark_c) in LEVEL_COLOURS.items():
        sheet = sheet.replace(f"@{level}@", dark_c if dark else light_c)
    for level, path in _level_icons(scheme).items():
        light_c, dark_c = LEVEL_COLOURS[level]
        part = _LEVEL_SHEET.replace("@L@", level).replace("@C@", dark_c if dark else light_c)
        sheet += part.replace("@P@", path)
    tint = "rgba(10, 132, 255, 0.22)" if dark else "rgba(10, 132, 255, 0.12)"
    return (
        sheet.replace("@ACCENT_HOVER@", ACCENT_HOVER)
        .replace("@ACCENT_PRESSED@", ACCENT_PRESSED)
        .replace("@ACCENT@", ACCENT)
        .replace("@TINT@", tint)
    )


def _font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont)
    # Qt's generic fallback on Linux is 9 pt, smaller than any desktop's default text.
    if sys.platform != "darwin" and 0 < font.pointSizeF() < 10:
        font.setPointSizeF(10)
    return font


def apply_style(app: QApplication, scheme: str | None = None) -> None:
    """Style the app. scheme 'light' or 'dark' forces one; None follows the system, live."""
    native = sys.platform == "darwin" and scheme is None
    if not native:
        app.setStyle("Fusion")
    app.setFont(_font())
    chosen = scheme or system_scheme()
    if not native:
        app.setPalette(build_palette(chosen))
    app.setStyleSheet(stylesheet(chosen, native))
    _follow["system"] = scheme is None
    hints = QGuiApplication.styleHints()
    if not _follow["connected"] and hasattr(hints, "colorSchemeChanged"):
        hints.colorSchemeChanged.connect(lambda _scheme: _system_switched(app))
        _follow["connected"] = True


def _system_switched(app: QApplication) -> None:
    if _follow["system"]:  # a forced scheme (tests, a setting) stays as it is
        apply_style(app)


def current_scheme() -> str:
    """'dark' or 'light': the scheme of the palette in use."""
    window = QApplication.palette().color(QPalette.ColorRole.Window)
    return "dark" if window.lightness() < 128 else "light"


def repolish(widget: QWidget) -> None:
    """Re-apply the stylesheet after a dynamic property the sheet selects on changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)
    # Without this event the stylesheet's padding (the level icon's room) is not re-read.
    QApplication.sendEvent(widget, QEvent(QEvent.Type.StyleChange))
    widget.update()


def make_primary(button: QPushButton, icon_name: str | None = None) -> QPushButton:
    """The panel's main action: accent background, white text (and white icon_name icon)."""
    return set_primary(button, True, icon_name)


def set_primary(button: QPushButton, on: bool, icon_name: str | None = None) -> QPushButton:
    """Make the button the panel's main action, or an ordinary one again (when the next
    step changes, e.g. Resume run rather than Start after a stop)."""
    if bool(button.property("primary")) == on and button.property("primary") is not None:
        return button  # unchanged: no restyle (callers may ask on every event)
    button.setProperty("primary", on)
    if icon_name:
        button.setIcon(icon(icon_name, colour="#ffffff") if on else icon(icon_name))
    repolish(button)
    return button


def set_message(label: QLabel, text: str, level: str | None = None) -> None:
    """Show text in label as an 'error', 'warning', 'ok' or 'info' line (coloured, with its
    icon), or as plain text with level None. Empty text clears the level too, so no stray
    icon is left on an empty label."""
    if level is not None and level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {LEVELS}")
    label.setText(text)
    label.setProperty("level", level if text and level else "")
    repolish(label)
