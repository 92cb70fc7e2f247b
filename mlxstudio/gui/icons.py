"""The app's icons by name: `icon("start")` for a button, `icon("train")` for a page.

Names are ours (what the icon means in the app), mapped to Font Awesome 6 glyphs from
qtawesome. Plain icons are drawn in the palette's button-text colour *when painted*, so an
icon made once follows a live light/dark switch; the level icons (warning, error, ok, info)
take their signal colour for the scheme in use.
"""

from __future__ import annotations

from functools import lru_cache

import qtawesome as qta
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QLabel

# Our name -> Font Awesome 6 solid glyph.
GLYPHS: dict[str, str] = {
    # pages
    "goal": "fa6s.bullseye",
    "data": "fa6s.database",
    "model": "fa6s.cube",
    "settings": "fa6s.sliders",
    "train": "fa6s.chart-line",
    "serve": "fa6s.server",
    "history": "fa6s.clock-rotate-left",
    "more": "fa6s.angles-right",  # a toolbar's overflow: the actions that do not fit
    # goals (Goal page)
    "goal-answer": "fa6s.comment-dots",
    "goal-prefer": "fa6s.scale-balanced",
    "goal-reward": "fa6s.trophy",
    "goal-text": "fa6s.book-open",
    # actions
    "open": "fa6s.folder-open",
    "folder": "fa6s.folder",
    "sample": "fa6s.flask",
    "documents": "fa6s.file-lines",
    "prepare": "fa6s.wand-magic-sparkles",
    "start": "fa6s.play",
    "pause": "fa6s.pause",
    "stop": "fa6s.stop",
    "resume": "fa6s.rotate-right",
    "chat": "fa6s.comments",
    "send": "fa6s.paper-plane",
    "copy": "fa6s.copy",
    "export": "fa6s.file-export",
    "delete": "fa6s.trash-can",
    "add": "fa6s.plus",
    "remove": "fa6s.xmark",
    "compare": "fa6s.code-compare",
    "download": "fa6s.download",
    "import": "fa6s.file-import",
    "preferences": "fa6s.gear",
    "log": "fa6s.terminal",
    # levels
    "warning": "fa6s.triangle-exclamation",
    "error": "fa6s.circle-exclamation",
    "ok": "fa6s.circle-check",
    "info": "fa6s.circle-info",
}
# "settings" names both a page (sliders) and an action (gear): the page wins; "preferences"
# is the gear. Kept as one table so a name means one picture everywhere.

# Signal colours (light scheme, dark scheme): each readable as text on its background.
LEVEL_COLOURS = {
    "warning": ("#b25e00", "#ffb340"),
    "error": ("#d1242f", "#ff6b6b"),
    "ok": ("#1a7f37", "#3fb950"),
    "info": ("#0a6cdc", "#409cff"),
}


def names() -> list[str]:
    """Every name icon() knows."""
    return list(GLYPHS)


def is_dark() -> bool:
    """Whether the application palette is a dark one (light text on a dark window)."""
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def level_colour(level: str) -> QColor:
    """The colour of a level ('warning', 'error', 'ok', 'info') in the current scheme."""
    light, dark = LEVEL_COLOURS[level]
    return QColor(dark if is_dark() else light)


def icon_colour(name: str) -> QColor:
    """The colour icon(name) is drawn in now."""
    if name in LEVEL_COLOURS:
        return level_colour(name)
    return QApplication.palette().color(QPalette.ColorRole.ButtonText)


@lru_cache(maxsize=512)
def _glyph(glyph: str, colour: str) -> QIcon:
    return qta.icon(glyph, color=colour, color_disabled=colour)


class _PaletteIcon(QIconEngine):
    """Paints a glyph in the colour the palette gives at paint time."""

    def __init__(self, name: str, colour: QColor | None) -> None:
        super().__init__()
        self.name, self.colour = name, colour

    def _colour(self, mode: QIcon.Mode) -> QColor:
        pal = QApplication.palette()
        if mode == QIcon.Mode.Disabled:
            return pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
        if mode == QIcon.Mode.Selected and self.colour is None and self.name not in LEVEL_COLOURS:
            return pal.color(QPalette.ColorRole.HighlightedText)  # on the selection's accent
        return self.colour if self.colour is not None else icon_colour(self.name)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        glyph = _glyph(GLYPHS[self.name], self._colour(mode).name(QColor.NameFormat.HexArgb))
        glyph.paint(painter, rect, Qt.AlignmentFlag.AlignCenter, QIcon.Mode.Normal, state)

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pm = QPixmap(size)
        pm.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pm)
        self.paint(painter, QRect(0, 0, size.width(), size.height()), mode, state)
        painter.end()
        return pm

    def clone(self) -> QIconEngine:
        return _PaletteIcon(self.name, self.colour)


def icon(name: str, colour: str | QColor | None = None) -> QIcon:
    """The icon for one of our names (see GLYPHS), in the palette's colours.

    colour fixes the colour (e.g. white on a primary button). Unknown names raise
    KeyError, so a typo fails in tests rather than showing a blank button.
    """
    GLYPHS[name]  # noqa: B018 (fail now on a typo, not at paint time)
    return QIcon(_PaletteIcon(name, QColor(colour) if colour is not None else None))


class IconLabel(QLabel):
    """A picture of one of our icons that is drawn when painted, so it follows a light/dark
    switch (a pixmap set once keeps the colours it was made with)."""

    def __init__(
        self, name: str, size: int, role: QPalette.ColorRole | None = None, parent=None
    ) -> None:
        super().__init__(parent)
        self.name, self.px, self.role = name, size, role
        self.setFixedSize(size, size)

    def set_icon(self, name: str) -> None:
        self.name = name
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt API)
        colour = self.palette().color(self.role) if self.role is not None else None
        painter = QPainter(self)
        icon(self.name, colour).paint(painter, self.rect(), Qt.AlignmentFlag.AlignCenter)
        painter.end()
