"""Side by side: one prompt answered by the base model and by the fine-tuned one.

The fine-tuned answer comes from the page's server (started with the run's adapters);
the base model gets a second server of its own, started on the first comparison, so the
two answers stream at the same time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.gui.widgets.chat_view import chat_colours, markdown_html
from mlxstudio.gui.widgets.chat_worker import ChatWorker
from mlxstudio.gui.widgets.serve_job import ServerJob

SIDES = ("base", "tuned")


class ComparePanel(QWidget):
    """`settings()` gives the page's chat settings; `tuned()` the fine-tuned server's
    (url, api key), url empty when none serves the adapters."""

    def __init__(
        self,
        model: Callable[[], Path | None],
        tuned: Callable[[], tuple[str, str]],
        settings: Callable[[], dict],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._model, self._tuned, self._settings = model, tuned, settings
        self.base_server = ServerJob(self)
        self.base_server.ready.connect(lambda _url: self._run_pending())
        self.base_server.ended.connect(self._base_ended)
        self.workers: dict[str, ChatWorker] = {}
        self.pending = ""
        # Sides whose answer the window has not wholly taken in: a worker's thread ends a
        # moment before its queued pieces and its `finished` are handled here.
        self.answering: set[str] = set()

        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("One prompt for both models…")
        self.prompt.returnPressed.connect(self.compare)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setDefault(True)
        self.compare_button.clicked.connect(self.compare)
        self.status = QLabel(
            "The base model runs in a second server, started on the first comparison."
        )
        self.status.setObjectName("Hint")
        self.status.setWordWrap(True)
        ask = QHBoxLayout()
        ask.addWidget(self.prompt, 1)
        ask.addWidget(self.compare_button)

        self.panes: dict[str, QTextBrowser] = {}
        self.speeds: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        for column, (side, title) in enumerate(
            zip(SIDES, ("Base model", "Fine-tuned"), strict=True)
        ):
            heading = QLabel(title)
            heading.setStyleSheet("font-weight: 600;")
            pane = QTextBrowser()
            pane.setPlaceholderText(f"The {title.lower()} answer appears here.")
            speed = QLabel()
            speed.setObjectName("Hint")
            grid.addWidget(heading, 0, column)
            grid.addWidget(pane, 1, column)
            grid.addWidget(speed, 2, column)
            self.panes[side], self.speeds[side] = pane, speed
        grid.setRowStretch(1, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(ask)
        layout.addWidget(self.status)
        layout.addLayout(grid, 1)

    def busy(self) -> bool:
        """True from Compare until both answers (pieces, speed) are on screen."""
        return bool(self.pending) or bool(self.answering)

    def compare(self) -> None:
        text = self.prompt.text().strip()
        model = self._model()
        if not text or self.busy() or model is None:
            return
        if not self._tuned()[0]:
            self.status.setText(
                "Start the server with the run's adapters applied: its answers are the "
                "fine-tuned side."
            )
            return
        self.pending = text
        for side in SIDES:
            self.panes[side].clear()
            self.speeds[side].clear()
        if self.base_server.url:
            self._run_pending()
        elif not self.base_server.is_running():
            self.status.setText("Loading the base model in a second server…")
            self.base_server.start(model)
        self._controls()

    def _run_pending(self) -> None:
        text, self.pending = self.pending, ""
        if not text:
            return
        tuned_url, key = self._tuned()
        if not tuned_url:
            self.status.setText("The fine-tuned server stopped.")
            self._controls()
            return
        self.status.setText(f"Both models answer: “{text}”")
        settings = self._settings()
        messages = [{"role": "system", "content": settings["system"]}] if settings["system"] else []
        messages.append({"role": "user", "content": text})
        urls = {"base": (self.base_server.url, ""), "tuned": (tuned_url, key)}
        for side in SIDES:
            url, api_key = urls[side]
            worker = ChatWorker(
                url,
                messages,
                temperature=settings["temperature"],
                top_p=settings["top_p"],
                max_tokens=settings["max_tokens"],
                api_key=api_key,
                parent=self,
            )
            # Bound methods, not lambdas: the slots then run on the GUI thread.
            worker.setObjectName(side)
            worker.delta.connect(self._piece)
            worker.failed.connect(self.panes[side].append)
            worker.finished.connect(self._finished)
            self.workers[side] = worker
            self.answering.add(side)
            worker.start()
        self._controls()

    def _piece(self, piece: str) -> None:
        _append(self.panes[self.sender().objectName()], piece)

    def _finished(self) -> None:
        worker = self.sender()
        side = worker.objectName()
        if self.workers.get(side) is worker:  # not an earlier comparison's worker
            self._done(side)

    def _done(self, side: str) -> None:
        self.answering.discard(side)
        worker = self.workers[side]
        if worker.text:  # the whole answer: render its Markdown
            colours = chat_colours(self.panes[side].palette())
            self.panes[side].setHtml(markdown_html(worker.text, colours["assistant_code"]))
        self.speeds[side].setText(
            f"{worker.tokens} tokens · {worker.tokens_per_second():.1f} tokens/s"
        )
        self._controls()

    def _base_ended(self, message: str) -> None:
        if self.pending:
            self.pending = ""
            self.status.setText(f"The base model's server: {message}")
        self._controls()

    def _controls(self) -> None:
        self.compare_button.setEnabled(not self.busy())

    def stop_answers(self) -> None:
        """Stop the answers being written (their server is going away)."""
        self.pending = ""
        for worker in self.workers.values():
            worker.stop()

    def shutdown(self) -> None:
        for worker in self.workers.values():
            worker.stop()
            worker.wait(5000)
        self.base_server.shutdown()


def _append(pane: QTextBrowser, text: str) -> None:
    """Add streamed text at the end, wherever the user clicked meanwhile."""
    cursor = pane.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    cursor.insertText(text)
    pane.setTextCursor(cursor)
