"""Serve & Chat page: run an OpenAI-compatible server for the model (with the run's
adapters) and chat with it: system prompt, temperature, streaming, multi-turn."""

from __future__ import annotations

import re
import time

from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QTextBlockFormat, QTextCharFormat
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
)

from mlxstudio.core.errors import UserError
from mlxstudio.engine.job import JobThread, mlxstudio_command
from mlxstudio.gui.pages.base import Page

_SERVING = re.compile(r"Serving .* at (http://\S+)")


class ChatWorker(QThread):
    """Streams one answer off the GUI thread; `stop()` ends it between tokens."""

    delta = Signal(str)
    failed = Signal(str)

    def __init__(
        self, url: str, messages: list[dict], temperature: float, max_tokens: int, parent=None
    ) -> None:
        super().__init__(parent)
        self.url, self.messages = url, messages
        self.temperature, self.max_tokens = temperature, max_tokens
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    def run(self) -> None:
        from mlxstudio.core.serve.client import stream_chat

        question = self.messages[-1]["content"]
        system = next((m["content"] for m in self.messages if m["role"] == "system"), None)
        history = [m for m in self.messages[:-1] if m["role"] != "system"]
        try:
            for piece in stream_chat(
                self.url,
                question,
                system=system,
                history=history,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
            ):
                if self._stop:
                    break
                self.delta.emit(piece)
        except UserError as err:
            self.failed.emit(str(err))


class ServePage(Page):
    title = "Serve & Chat"
    subtitle = "Serve your model on this Mac with an OpenAI-compatible API and talk to it."

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.server: JobThread | None = None
        self.url = ""
        self.worker: ChatWorker | None = None
        self.history: list[dict] = []
        self.answer = ""
        self.answer_started = 0.0

        self.model_label = QLabel()
        self.adapter_check = QCheckBox("Apply the fine-tuned adapters of the current run")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(0)
        self.port.setSpecialValueText("next free")
        self.port.setToolTip("The server listens on 127.0.0.1 (this Mac only).")
        self.port.setMaximumWidth(140)
        self.serve_button = QPushButton("Start server")
        self.serve_button.clicked.connect(self.toggle_server)
        self.server_status = QLabel("Not serving.")
        self.server_status.setObjectName("Hint")
        self.server_log = QPlainTextEdit()
        self.server_log.setReadOnly(True)
        self.server_log.setMaximumBlockCount(2000)
        self.server_log.setMaximumHeight(110)
        form = QFormLayout()
        form.addRow("Model", self.model_label)
        form.addRow("", self.adapter_check)
        form.addRow("Port", self.port)
        row = QHBoxLayout()
        row.addWidget(self.serve_button)
        row.addWidget(self.server_status, 1)
        server_box = QGroupBox("Server")
        server_layout = QVBoxLayout(server_box)
        server_layout.addLayout(form)
        server_layout.addLayout(row)
        server_layout.addWidget(self.server_log)

        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional)")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.7)
        self.temperature.setToolTip("0 always picks the likeliest word; higher is more varied.")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 8192)
        self.max_tokens.setValue(256)
        settings = QHBoxLayout()
        settings.addWidget(self.system, 1)
        settings.addWidget(QLabel("Temperature"))
        settings.addWidget(self.temperature)
        settings.addWidget(QLabel("Max tokens"))
        settings.addWidget(self.max_tokens)
        self.transcript = QTextBrowser()
        self.question = QLineEdit()
        self.question.setPlaceholderText("Ask something…")
        self.question.returnPressed.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_answer)
        self.clear_button = QPushButton("New chat")
        self.clear_button.clicked.connect(self.new_chat)
        ask = QHBoxLayout()
        ask.addWidget(self.question, 1)
        for b in (self.send_button, self.stop_button, self.clear_button):
            ask.addWidget(b)
        self.speed = QLabel()
        self.speed.setObjectName("Hint")
        chat_box = QGroupBox("Chat")
        chat_layout = QVBoxLayout(chat_box)
        chat_layout.addLayout(settings)
        chat_layout.addWidget(self.transcript, 1)
        chat_layout.addLayout(ask)
        chat_layout.addWidget(self.speed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(server_box)
        layout.addWidget(chat_box, 1)
        self._controls()

    def enter(self) -> None:
        model = self.state.model_path
        self.model_label.setText(str(model) if model else "No model chosen (see the Model page)")
        run = self.state.run_dir
        self.adapter_check.setEnabled(run is not None)
        self.adapter_check.setChecked(run is not None)
        self.adapter_check.setText(
            f"Apply the fine-tuned adapters of run {run.name}"
            if run
            else "No training run yet: serving the base model"
        )
        self._controls()

    def _controls(self) -> None:
        serving = bool(self.url)
        starting = self.server is not None and self.server.isRunning() and not serving
        chatting = self.worker is not None and self.worker.isRunning()
        self.serve_button.setText("Stop server" if serving or starting else "Start server")
        self.serve_button.setEnabled(bool(self.state.model_path) or serving or starting)
        self.send_button.setEnabled(serving and not chatting)
        self.question.setEnabled(serving)
        self.stop_button.setEnabled(chatting)

    # ---- server
    def toggle_server(self) -> None:
        if self.server is not None and self.server.isRunning():
            self.server_status.setText("Stopping…")
            self.server.stop()
            return
        args = ["serve", str(self.state.model_path), "--port", str(self.port.value())]
        if self.adapter_check.isChecked() and self.state.run_dir:
            args += ["--adapter", str(self.state.run_dir)]
        self.server_log.clear()
        self.server_status.setText("Loading the model…")
        self.server = JobThread(mlxstudio_command(*args), parent=self)
        self.server.log.connect(self._server_line)
        self.server.ended.connect(self._server_ended)
        self.server.start()
        self._controls()

    def _server_line(self, line: str) -> None:
        self.server_log.appendPlainText(line)
        match = _SERVING.search(line)
        if match:
            self.url = match.group(1)
            self.server_status.setText(f"Serving at {self.url}")
            self._controls()

    def _server_ended(self, code: int, error: str) -> None:
        self.url = ""
        self.server_status.setText(
            "Server stopped."
            if code in (0, 130, -2)
            else f"Server failed: {error or 'see the log'}"
        )
        self._controls()

    def shutdown(self) -> None:
        """Stop the server and wait for it: it must never outlive the app."""
        if self.worker is not None:
            self.worker.stop()
            self.worker.wait(5000)
        if self.server is not None and self.server.isRunning():
            self.server.stop()
            if not self.server.wait(10000):
                self.server.kill()
                self.server.wait(5000)

    # ---- chat
    def send(self) -> None:
        text = self.question.text().strip()
        if not text or not self.url or (self.worker and self.worker.isRunning()):
            return
        self.question.clear()
        if self.system.text().strip() and not self.history:
            self.history.append({"role": "system", "content": self.system.text().strip()})
        self.history.append({"role": "user", "content": text})
        self.transcript.append(f"<p><b>You</b><br>{_html(text)}</p>")
        self.answer = ""
        self.answer_started = time.time()
        self.worker = ChatWorker(
            self.url,
            list(self.history),
            self.temperature.value(),
            self.max_tokens.value(),
            parent=self,
        )
        self.worker.delta.connect(self._delta)
        self.worker.failed.connect(self._failed)
        self.worker.finished.connect(self._answer_done)
        self.transcript.append("<b>Model</b>")
        cursor = self.transcript.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())  # plain text for the answer
        self.transcript.setTextCursor(cursor)
        self.worker.start()
        self._controls()

    def _delta(self, piece: str) -> None:
        self.answer += piece
        cursor = self.transcript.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(piece, QTextCharFormat())
        self.transcript.setTextCursor(cursor)

    def _failed(self, message: str) -> None:
        self.transcript.append(f"<p><i>{_html(message)}</i></p>")

    def _answer_done(self) -> None:
        if self.answer:
            self.history.append({"role": "assistant", "content": self.answer})
            seconds = max(time.time() - self.answer_started, 1e-6)
            words = len(self.answer.split())
            self.speed.setText(f"{words} words in {seconds:.1f} s")
        self._controls()

    def stop_answer(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def new_chat(self) -> None:
        self.history.clear()
        self.transcript.clear()
        self.speed.clear()


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
