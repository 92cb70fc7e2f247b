"""Serve & Chat page: run an OpenAI-compatible server for the model (with the run's
adapters) and talk to it: a chat playground, base vs fine-tuned side by side, and a list
of test prompts answered in one go."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
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
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core.serve.prompts import append_chat
from mlxstudio.engine.job import JobThread
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.widgets.chat_compare import ComparePanel
from mlxstudio.gui.widgets.chat_test_prompts import TestPromptsPanel
from mlxstudio.gui.widgets.chat_worker import ChatWorker
from mlxstudio.gui.widgets.serve_job import ServerJob


class ServePage(Page):
    title = "Serve & Chat"
    subtitle = "Serve your model on this Mac with an OpenAI-compatible API and talk to it."

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.job = ServerJob(self)
        self.job.line.connect(self._server_line)
        self.job.ready.connect(self._server_ready)
        self.job.ended.connect(self._server_ended)
        self.worker: ChatWorker | None = None
        self._answering = False  # until the window has taken the whole answer in
        self.history: list[dict] = []
        self.answer = ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._server_box())
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._chat_tab(), "Chat")
        self.compare = ComparePanel(
            lambda: self.state.model_path, self._tuned_server, self.chat_settings
        )
        self.tabs.addTab(self.compare, "Side by side")
        self.test_prompts = TestPromptsPanel(self._test_context)
        self.tabs.addTab(self.test_prompts, "Test prompts")
        layout.addWidget(self.tabs, 1)
        self._controls()

    # ---- layout
    def _server_box(self) -> QGroupBox:
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.adapter_check = QCheckBox("Apply the fine-tuned adapters of the current run")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(0)
        self.port.setSpecialValueText("next free")
        self.port.setMaximumWidth(120)
        self.api_key = QLineEdit()
        self.api_key.setPlaceholderText("none")
        self.api_key.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.api_key.setMaximumWidth(200)
        self.api_key.setToolTip("Clients must send it as 'Authorization: Bearer KEY'.")
        self.network_check = QCheckBox("Allow other computers on the network")
        self.network_check.setToolTip(
            "Off: the server listens on 127.0.0.1, this Mac only. On: on every network "
            "interface; set an API key."
        )
        access = QHBoxLayout()
        access.addWidget(QLabel("Port"))
        access.addWidget(self.port)
        access.addSpacing(16)
        access.addWidget(QLabel("API key"))
        access.addWidget(self.api_key)
        access.addSpacing(16)
        access.addWidget(self.network_check)
        access.addStretch(1)
        self.serve_button = QPushButton("Start server")
        self.serve_button.clicked.connect(self.toggle_server)
        self.server_status = QLabel("Not serving.")
        self.server_status.setObjectName("Hint")
        # Selectable, so the URL can be copied into another client.
        self.server_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.server_log = QPlainTextEdit()
        self.server_log.setReadOnly(True)
        self.server_log.setMaximumBlockCount(2000)
        self.server_log.setMaximumHeight(70)
        self.server_log.setPlaceholderText("The server's log appears here.")
        form = QFormLayout()
        form.addRow("Model", self.model_label)
        form.addRow("", self.adapter_check)
        form.addRow("Access", access)
        row = QHBoxLayout()
        row.addWidget(self.serve_button)
        row.addWidget(self.server_status, 1)
        box = QGroupBox("Server")
        box_layout = QVBoxLayout(box)
        box_layout.addLayout(form)
        box_layout.addLayout(row)
        box_layout.addWidget(self.server_log)
        return box

    def _chat_tab(self) -> QWidget:
        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional)")
        self.temperature = _spin(0.0, 2.0, 0.1, 0.7)
        self.temperature.setToolTip("0 always picks the likeliest word; higher is more varied.")
        self.top_p = _spin(0.05, 1.0, 0.05, 1.0)
        self.top_p.setToolTip("Sample only from the likeliest words covering this share.")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 8192)
        self.max_tokens.setValue(256)
        settings = QHBoxLayout()
        settings.addWidget(self.system, 1)
        for label, widget in (
            ("Temperature", self.temperature),
            ("Top-p", self.top_p),
            ("Max tokens", self.max_tokens),
        ):
            settings.addSpacing(8)
            settings.addWidget(QLabel(label))
            settings.addWidget(widget)
        self.transcript = QTextBrowser()
        self.transcript.setPlaceholderText("Start the server, then ask something.")
        self.question = QLineEdit()
        self.question.setPlaceholderText("Ask something…")
        self.question.returnPressed.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_answer)
        self.clear_button = QPushButton("New chat")
        self.clear_button.clicked.connect(self.new_chat)
        ask = QHBoxLayout()
        ask.addWidget(self.question, 1)
        for button in (self.send_button, self.stop_button, self.clear_button):
            ask.addWidget(button)
        self.speed = QLabel()
        self.speed.setObjectName("Hint")
        tab = QWidget()
        chat = QVBoxLayout(tab)
        chat.addLayout(settings)
        chat.addWidget(self.transcript, 1)
        chat.addLayout(ask)
        chat.addWidget(self.speed)
        return tab

    # ---- state
    @property
    def url(self) -> str:
        return self.job.url

    @property
    def server(self) -> JobThread | None:
        return self.job.thread

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
        self.test_prompts.load_run(run)
        self._controls()

    def chat_settings(self) -> dict:
        return {
            "system": self.system.text().strip(),
            "temperature": self.temperature.value(),
            "top_p": self.top_p.value(),
            "max_tokens": self.max_tokens.value(),
        }

    def _tuned_server(self) -> tuple[str, str]:
        return (self.url, self.job.api_key) if self.url and self.job.adapter else ("", "")

    def _test_context(self):
        settings = {**self.chat_settings(), "adapter": self.adapter_check.isChecked()}
        settings["temperature"] = 0.0  # test answers are compared run to run: greedy
        return self.state.model_path, self.state.run_dir, settings

    def _controls(self) -> None:
        serving = bool(self.url)
        starting = self.job.is_running() and not serving
        chatting = self.worker is not None and self.worker.isRunning()
        self.serve_button.setText("Stop server" if serving or starting else "Start server")
        self.serve_button.setEnabled(bool(self.state.model_path) or serving or starting)
        for widget in (self.port, self.api_key, self.network_check, self.adapter_check):
            widget.setEnabled(not (serving or starting))
        if not (serving or starting):
            self.adapter_check.setEnabled(self.state.run_dir is not None)
        self.send_button.setEnabled(serving and not chatting)
        self.question.setEnabled(serving)
        self.stop_button.setEnabled(chatting)

    # ---- server
    def toggle_server(self) -> None:
        if self.job.is_running():
            self.server_status.setText("Stopping…")
            self.job.stop()
            return
        adapter = self.state.run_dir if self.adapter_check.isChecked() else None
        self.server_log.clear()
        self.server_status.setText("Loading the model…")
        self.job.start(
            self.state.model_path,
            adapter=adapter,
            port=self.port.value(),
            api_key=self.api_key.text().strip(),
            network=self.network_check.isChecked(),
        )
        self._controls()

    def _server_line(self, line: str) -> None:
        self.server_log.appendPlainText(line)

    def _server_ready(self, url: str) -> None:
        where = "reachable from the network" if self.network_check.isChecked() else "this Mac only"
        key = " · API key required" if self.job.api_key else ""
        self.server_status.setText(f"Serving at {url}  ({where}{key})")
        self._controls()

    def _server_ended(self, message: str) -> None:
        self.server_status.setText(message)
        self._controls()

    def shutdown(self) -> None:
        """Stop every server and worker and wait for them: none may outlive the app."""
        if self.worker is not None:
            self.worker.stop()
            self.worker.wait(5000)
        self.compare.shutdown()
        self.test_prompts.shutdown()
        self.job.shutdown()

    # ---- chat
    def send(self) -> None:
        text = self.question.text().strip()
        if not text or not self.url or (self.worker and self.worker.isRunning()):
            return
        self.question.clear()
        settings = self.chat_settings()
        if settings["system"] and not self.history:
            self.history.append({"role": "system", "content": settings["system"]})
        self.history.append({"role": "user", "content": text})
        self.transcript.append(f"<p><b>You</b><br>{_html(text)}</p>")
        self.answer = ""
        self.worker = ChatWorker(
            self.url,
            list(self.history),
            temperature=settings["temperature"],
            top_p=settings["top_p"],
            max_tokens=settings["max_tokens"],
            api_key=self.job.api_key,
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
        self.speed.setText("Thinking…")
        self._asked = (text, settings, time.strftime("%H:%M:%S"))
        self._answering = True
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

    def is_answering(self) -> bool:
        """True from Send until the answer's last piece and its end have reached the window
        (the thread ends a moment before its queued signals are handled)."""
        return self._answering

    def _answer_done(self) -> None:
        self._answering = False
        worker = self.worker
        if self.answer and worker is not None:
            self.history.append({"role": "assistant", "content": self.answer})
            self.speed.setText(
                f"{worker.tokens} tokens in {worker.seconds:.1f} s · "
                f"{worker.tokens_per_second():.1f} tokens/s"
            )
            self._save_turn(worker)
        elif worker is not None:
            self.speed.clear()
        self._controls()

    def _save_turn(self, worker: ChatWorker) -> None:
        # The run directory keeps every prompt asked of its model, with the answer.
        run = self.state.run_dir
        if run is None or not run.is_dir():
            return
        question, settings, _ = self._asked
        append_chat(
            run,
            {
                "prompt": question,
                "answer": self.answer,
                "adapter": self.job.adapter is not None,
                **settings,
                "tokens": worker.tokens,
                "tokens_per_second": round(worker.tokens_per_second(), 1),
            },
        )

    def stop_answer(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def new_chat(self) -> None:
        self.history.clear()
        self.transcript.clear()
        self.speed.clear()


def _spin(low: float, high: float, step: float, value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
