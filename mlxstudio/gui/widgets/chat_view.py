"""The chat transcript: message bubbles (yours on the right in the accent colour, the
model's on the left in a neutral tone), the model's Markdown rendered with code in a
monospace font, streaming re-rendered at a steady rate, Copy and the speed under each
answer, errors as red notices, and an empty state with one line of help and the primary
action. Every colour comes from the palette, so light and dark both read."""

from __future__ import annotations

import html
import math
import re

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QStackedLayout,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.gui.icons import icon
from mlxstudio.gui.style import make_primary

RENDER_MS = 60  # streamed pieces are drawn at most this often: smooth, and cheap
WIDTH_SHARE = 0.78  # a bubble takes at most this share of the transcript's width
_PRE_RUN = re.compile(r"(?:<pre\b.*?</pre>\s*)+", re.S)


# ---- colours and Markdown
def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
    )


def chat_colours(palette: QPalette) -> dict[str, str]:
    """Bubble, text and code colours for a palette (light or dark)."""
    role = QPalette.ColorRole
    base, text = palette.color(role.Base), palette.color(role.Text)
    accent, on_accent = palette.color(role.Highlight), palette.color(role.HighlightedText)
    dark = base.lightnessF() < 0.5
    red = QColor("#e5484d")
    return {
        "user_bg": accent.name(),
        "user_fg": on_accent.name(),
        "user_code": _mix(accent, QColor("black"), 0.25).name(),
        "assistant_bg": _mix(base, text, 0.10 if dark else 0.065).name(),
        "assistant_fg": text.name(),
        "assistant_code": (
            _mix(base, QColor("black"), 0.35) if dark else _mix(base, text, 0.13)
        ).name(),
        "error_bg": _mix(base, red, 0.16 if dark else 0.09).name(),
        "error_fg": ("#ff9592" if dark else "#b4232a"),
        "error_code": _mix(base, red, 0.25).name(),
        "link": palette.color(role.Link).name(),
    }


def markdown_html(text: str, code_background: str) -> str:
    """The rich-text HTML of Markdown (Qt's own parser), for a QLabel: the page's font kept,
    code in the system's monospace font on a shaded background."""
    doc = QTextDocument()
    doc.setMarkdown(text, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
    fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
    code = QTextCharFormat()
    code.setFontFamilies([fixed, "monospace"])
    code.setBackground(QColor(code_background))
    cursor = QTextCursor(doc)
    block = doc.begin()
    while block.isValid():
        pieces = block.begin()
        while not pieces.atEnd():
            fragment = pieces.fragment()
            if fragment.charFormat().fontFixedPitch():
                cursor.setPosition(fragment.position())
                cursor.setPosition(
                    fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor
                )
                cursor.mergeCharFormat(code)
            pieces += 1
        block = block.next()
    page = doc.toHtml()
    # The body only: its style would pin Qt's default font and size over the app's.
    body = page[page.find(">", page.find("<body")) + 1 : page.rfind("</body>")]
    # A code block is one <pre> per line; shade the lines as one padded box.
    return _PRE_RUN.sub(
        lambda m: (
            f'<table width="100%" cellpadding="8" cellspacing="0" bgcolor="{code_background}"'
            f' style="margin-top:4px; margin-bottom:4px;"><tr><td>{m.group(0)}</td></tr></table>'
        ),
        body,
    )


def plain_html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


# ---- one message
class Bubble(QFrame):
    """One message's bubble. role: "user", "assistant" or "error"; `text` is the raw text
    (Markdown for the model's answers, rendered; plain for the rest)."""

    def __init__(
        self, role: str, text: str, palette: QPalette, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.role, self.text = role, text
        # The transcript's palette: our own is rewritten by the style sheet set below.
        self._palette = QPalette(palette)
        self._max_width = 480
        self.setObjectName("Bubble")
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setOpenExternalLinks(True)
        self.label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.label.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.label.customContextMenuRequested.connect(self._menu)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 9, 14, 9)
        layout.setSpacing(8)
        if role == "error":
            mark = QLabel()
            mark.setPixmap(icon("error").pixmap(16, 16))
            mark.setStyleSheet("background: transparent;")
            layout.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        self.render()

    def set_max_width(self, width: int) -> None:
        self._max_width = width
        self.setMaximumWidth(width)
        self._fit_label()

    def set_text(self, text: str) -> None:
        self.text = text
        self.render()

    def html(self) -> str:
        return self.label.text()

    def copy(self) -> None:
        """Put the message's text (the answer as written, Markdown and all) on the clipboard."""
        QApplication.clipboard().setText(self.text)

    def render(self, palette: QPalette | None = None) -> None:
        """Draw the text as it is now (in palette's colours, when given: a new theme)."""
        if palette is not None:
            self._palette = QPalette(palette)
        colours = chat_colours(self._palette)
        background, foreground = colours[f"{self.role}_bg"], colours[f"{self.role}_fg"]
        border = f"border: 1px solid {colours['error_fg']};" if self.role == "error" else ""
        self.setStyleSheet(
            f"#Bubble {{ background: {background}; border-radius: 14px; {border} }}"
            f"#Bubble QLabel {{ color: {foreground}; background: transparent; }}"
        )
        if self.role == "assistant":
            self.label.setText(
                markdown_html(self.text, colours["assistant_code"]) if self.text else "<i>…</i>"
            )
        else:
            self.label.setText(plain_html(self.text))
        self._fit_label()

    def _fit_label(self) -> None:
        # A word-wrapped QLabel guesses a narrow width; give it the text's own width, up
        # to what the bubble may take, so short lines stay on one line.
        doc = QTextDocument()
        doc.setDefaultFont(self.label.font())
        doc.setHtml(self.label.text())
        margins = self.layout().contentsMargins()
        room = (
            self._max_width - margins.left() - margins.right() - (24 if self.role == "error" else 0)
        )
        self.label.setMinimumWidth(max(20, min(math.ceil(doc.idealWidth()) + 2, room)))

    def context_menu(self) -> QMenu:
        """The right-click menu: Copy selection (when text is selected), Copy message."""
        menu = QMenu(self)
        if self.label.hasSelectedText():
            selected = self.label.selectedText()
            menu.addAction(icon("copy"), "Copy selection").triggered.connect(
                lambda: QApplication.clipboard().setText(selected)
            )
        menu.addAction(icon("copy"), "Copy message").triggered.connect(self.copy)
        return menu

    def _menu(self, pos) -> None:
        menu = self.context_menu()
        menu.exec(self.label.mapToGlobal(pos))
        menu.deleteLater()


class Message(QWidget):
    """A bubble aligned to its side; a model's answer has Copy and its speed below it."""

    def __init__(
        self, role: str, text: str, palette: QPalette, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.role = role
        self.bubble = Bubble(role, text, palette)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        if role == "user":
            row.addStretch(1)
        row.addWidget(self.bubble)
        if role != "user":
            row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        self.info = QLabel()
        self.info.setObjectName("Hint")
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the answer to the clipboard")
        self.copy_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self.copy)
        if role == "assistant":
            footer = QHBoxLayout()
            footer.setContentsMargins(6, 0, 0, 0)
            footer.addWidget(self.copy_button)
            footer.addWidget(self.info)
            footer.addStretch(1)
            layout.addLayout(footer)
            self.copy_button.hide()  # until the answer is whole
        self.restyle(palette)

    @property
    def text(self) -> str:
        return self.bubble.text

    def copy(self) -> None:
        self.bubble.copy()
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText("Copy"))

    def finish(self, info: str) -> None:
        """The answer is whole: show Copy and its speed."""
        self.info.setText(info)
        self.copy_button.setVisible(bool(self.text))

    def restyle(self, palette: QPalette) -> None:
        self.copy_button.setIcon(icon("copy", palette.color(QPalette.ColorRole.ButtonText)))
        self.bubble.render(palette)


# ---- the transcript
class ChatView(QWidget):
    """Public API: add_user, add_answer, stream, finish_answer, add_error, clear, messages,
    toPlainText, set_empty_state. `sig_action` is the empty state's button."""

    sig_action = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._messages: list[Message] = []
        self._stick = True  # follow the end while the user has not scrolled up
        self._render = QTimer(self)
        self._render.setSingleShot(True)
        self._render.setInterval(RENDER_MS)
        self._render.timeout.connect(self._render_answer)

        # empty state: one line of help and the primary action
        self.empty = QWidget()
        self.empty_icon = QLabel()
        self.empty_icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text = QLabel()
        self.empty_text.setObjectName("EmptyStateText")
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text.setWordWrap(True)
        self.empty_button = make_primary(QPushButton(), "start")
        self.empty_button.clicked.connect(self.sig_action)
        empty = QVBoxLayout(self.empty)
        empty.setSpacing(12)
        empty.addStretch(1)
        empty.addWidget(self.empty_icon)
        empty.addWidget(self.empty_text)
        empty.addWidget(self.empty_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty.addStretch(1)

        # the conversation
        self.column = QWidget()
        self.column.setBackgroundRole(QPalette.ColorRole.Base)
        self.column.setAutoFillBackground(True)
        self.rows = QVBoxLayout(self.column)
        self.rows.setContentsMargins(16, 16, 16, 16)
        self.rows.setSpacing(12)
        self.rows.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        # The card draws the border; the scroll area's own sunken frame showed as a dark
        # strip down the left edge in dark mode.
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.column)
        bar = self.scroll.verticalScrollBar()
        bar.valueChanged.connect(lambda v: setattr(self, "_stick", v >= bar.maximum() - 8))
        bar.rangeChanged.connect(lambda _lo, hi: self._stick and bar.setValue(hi))

        frame = QFrame()
        frame.setObjectName("Card")
        frame.setBackgroundRole(QPalette.ColorRole.Base)
        frame.setAutoFillBackground(True)
        self.stack = QStackedLayout(frame)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(frame)
        self.set_empty_state("Ask something below.")

    # ---- Public API
    def set_empty_state(self, message: str, action: str = "") -> None:
        """What an empty transcript says, and its button (none when action is "")."""
        self.empty_text.setText(message)
        self.empty_button.setText(action)
        self.empty_button.setVisible(bool(action))
        self._empty_icon()

    def messages(self) -> list[Message]:
        return list(self._messages)

    def add_user(self, text: str) -> Message:
        return self._add(Message("user", text, self.palette()))

    def add_answer(self, text: str = "") -> Message:
        """A model answer: whole (restored) or empty, to be filled by stream()."""
        return self._add(Message("assistant", text, self.palette()))

    def add_error(self, text: str) -> Message:
        return self._add(Message("error", text, self.palette()))

    def stream(self, piece: str) -> None:
        """Add a piece to the last answer; it is re-rendered a moment later (throttled)."""
        answer = self._last_answer()
        if answer is None:
            return
        answer.bubble.text += piece
        if not self._render.isActive():
            self._render.start()

    def finish_answer(self, info: str) -> None:
        self._render.stop()
        answer = self._last_answer()
        if answer is not None:
            answer.bubble.render()
            answer.finish(info)

    def clear(self) -> None:
        self._render.stop()
        for message in self._messages:
            self.rows.removeWidget(message)
            message.deleteLater()
        self._messages.clear()
        self._stick = True
        self.stack.setCurrentWidget(self.empty)

    def toPlainText(self) -> str:  # noqa: N802 (the name QTextEdit uses)
        names = {"user": "You", "assistant": "Model", "error": "Error"}
        return "\n\n".join(f"{names[m.role]}: {m.text}" for m in self._messages)

    # ---- internals
    def _add(self, message: Message) -> Message:
        self._messages.append(message)
        self.rows.insertWidget(self.rows.count() - 1, message)
        self._fit(message)
        self._stick = True
        self.stack.setCurrentWidget(self.scroll)
        return message

    def _last_answer(self) -> Message | None:
        last = self._messages[-1] if self._messages else None
        return last if last is not None and last.role == "assistant" else None

    def _render_answer(self) -> None:
        answer = self._last_answer()
        if answer is not None:
            answer.bubble.render()

    def _fit(self, message: Message) -> None:
        width = max(200, int(self.scroll.viewport().width() * WIDTH_SHARE))
        message.bubble.set_max_width(width)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        for message in self._messages:
            self._fit(message)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            for message in self._messages:
                message.restyle(self.palette())
            self._empty_icon()
            self.empty_button.setIcon(icon("start", "#ffffff"))

    def _empty_icon(self) -> None:
        colour = self.palette().color(QPalette.ColorRole.PlaceholderText)
        self.empty_icon.setPixmap(icon("chat", colour).pixmap(44, 44))
