"""Serve & Chat page: run an OpenAI-compatible server for the model (with the run's
adapters) and talk to it: a chat playground kept per run, base vs fine-tuned side by side,
and a list of test prompts answered in one go.

What the page names as served is always the live server's (the job's) model and adapters;
when the wizard's run or model has changed since it started, a banner says so and offers
Restart. The conversation shown is the wizard's run's, restored from its chat log.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core.serve.loading import has_adapters, run_base_model
from mlxstudio.core.serve.prompts import (
    append_chat,
    conversation_messages,
    new_chat_id,
    read_conversation,
)
from mlxstudio.engine.job import JobThread
from mlxstudio.gui.icons import icon
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.widgets.chat_compare import ComparePanel
from mlxstudio.gui.widgets.chat_test_prompts import TestPromptsPanel
from mlxstudio.gui.widgets.chat_view import ChatView
from mlxstudio.gui.widgets.chat_worker import ChatWorker
from mlxstudio.gui.widgets.serve_job import ServerJob
from mlxstudio.gui.widgets.server_box import ServerBox

_NO_RUN = object()  # the conversation shown before any run was chosen
COMPACT_BELOW = 560  # page height (px) under which the Server box collapses to one line


class ServePage(Page):
    title = "Serve & Chat"
    subtitle = "Serve your model on this Mac with an OpenAI-compatible API and talk to it."

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        # ---- attributes
        self.job = ServerJob(self)
        self.worker: ChatWorker | None = None
        self._answering = False  # until the window has taken the whole answer in
        self.history: list[dict] = []
        self.answer = ""
        self.chat_id = new_chat_id()
        self._chat_ids: dict[Path, str] = {}  # run -> its conversation on screen
        self._chat_run: object = _NO_RUN  # the run whose conversation is shown
        self._served = (None, None)  # the wizard's (model, run) when the server started
        self._restart = False  # start again once the server has stopped
        self._asked: tuple | None = None
        self._note = "Not serving."  # the status line while no server runs
        self._adapter_run: object = _NO_RUN  # the run the adapters box was set for

        # ---- widgets and layout
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_server_box())
        layout.addWidget(self._build_tabs(), 1)

        # ---- signals
        self.server_box.sig_toggle.connect(self.toggle_server)
        self.server_box.sig_restart.connect(self.restart_server)
        self.job.line.connect(self.server_box.append_log)
        self.job.ready.connect(self._server_ready)
        self.job.ended.connect(self._server_ended)
        self.state.model_changed.connect(self.refresh)
        self.state.run_changed.connect(self.refresh)
        self.refresh()

    # ---- layout
    def _build_server_box(self) -> ServerBox:
        """The server's model, adapters, port, key, Start/Stop, status and log."""
        self.server_box = ServerBox()
        # The box's controls, by the names the window and tests reach them by.
        for name in (
            "model_label", "adapter_check", "no_adapters", "port", "api_key", "network_check",
            "serve_button", "server_status", "server_log", "log_button", "stale_banner",
            "stale_label", "restart_button",
        ):  # fmt: skip
            setattr(self, name, getattr(self.server_box, name))
        return self.server_box

    def _build_tabs(self) -> QTabWidget:
        """Chat, Side by side (base vs fine-tuned) and Test prompts."""
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_chat(), icon("chat"), "Chat")
        self.compare = ComparePanel(self._served_model, self.tuned_server, self.chat_settings)
        self.tabs.addTab(self.compare, icon("compare"), "Side by side")
        self.test_prompts = TestPromptsPanel(self.prompts_context)
        self.tabs.addTab(self.test_prompts, icon("start"), "Test prompts")
        return self.tabs

    def _build_sampling(self) -> QHBoxLayout:
        """The system prompt, and the sampling settings behind a Settings toggle."""
        self.system = QLineEdit()
        self.system.setPlaceholderText("System prompt (optional)")
        self.temperature = _spin(0.0, 2.0, 0.1, 0.7)
        self.temperature.setToolTip("0 always picks the likeliest word; higher is more varied.")
        self.top_p = _spin(0.05, 1.0, 0.05, 1.0)
        self.top_p.setToolTip("Sample only from the likeliest words covering this share.")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 8192)
        self.max_tokens.setValue(256)
        self.max_tokens.setToolTip("The longest answer, in tokens (about ¾ of a word each).")
        # Sampling settings sit behind a toggle: the chat gets the room.
        self.settings_button = QPushButton(icon("settings"), "Settings")
        self.settings_button.setCheckable(True)
        self.sampling = QWidget()
        sampling = QHBoxLayout(self.sampling)
        sampling.setContentsMargins(0, 0, 0, 0)
        for label, widget in (
            ("Temperature", self.temperature),
            ("Top-p", self.top_p),
            ("Max tokens", self.max_tokens),
        ):
            sampling.addWidget(QLabel(label))
            sampling.addWidget(widget)
            sampling.addSpacing(8)
        sampling.addStretch(1)
        self.sampling.hide()
        self.settings_button.toggled.connect(self.sampling.setVisible)
        for widget in (self.temperature, self.top_p, self.max_tokens):
            widget.valueChanged.connect(self._settings_tip)
        self._settings_tip()
        settings = QHBoxLayout()
        settings.addWidget(self.system, 1)
        settings.addWidget(self.settings_button)
        return settings

    def _build_chat(self) -> QWidget:
        """The conversation, the question line with Send, Stop and New chat."""
        settings = self._build_sampling()
        self.transcript = ChatView()
        self.transcript.sig_action.connect(self._empty_action)
        self.question = QLineEdit()
        self.question.returnPressed.connect(self.send)
        self.send_button = QPushButton(icon("send"), "Send")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton(icon("stop"), "Stop")
        self.stop_button.setToolTip("Stop the answer being written")
        self.stop_button.clicked.connect(self.stop_answer)
        self.clear_button = QPushButton(icon("chat"), "New chat")
        self.clear_button.setToolTip("Start a fresh conversation (this one stays in the run)")
        self.clear_button.clicked.connect(self.new_chat)
        ask = QHBoxLayout()
        ask.addWidget(self.question, 1)
        for button in (self.send_button, self.stop_button, self.clear_button):
            ask.addWidget(button)
        tab = QWidget()
        chat = QVBoxLayout(tab)
        chat.addLayout(settings)
        chat.addWidget(self.sampling)
        chat.addWidget(self.transcript, 1)
        chat.addLayout(ask)
        return tab

    def _settings_tip(self) -> None:
        # The hidden values, readable without opening the row.
        self.settings_button.setToolTip(
            f"Temperature {self.temperature.value():.2f} · top-p {self.top_p.value():.2f} · "
            f"at most {self.max_tokens.value()} tokens"
        )

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        # A short window gives the chat the room: the Server box becomes one line.
        self.server_box.set_compact(self.height() < COMPACT_BELOW)

    # ---- Public API
    @property
    def url(self) -> str:
        return self.job.url

    @property
    def server(self) -> JobThread | None:
        return self.job.thread

    def enter(self) -> None:
        if not self.adapter_check.isEnabled() and not self.job.is_running():
            self._adapter_run = _NO_RUN  # the run may have saved its adapters since
        self.test_prompts.load_run(self.state.run_dir)
        self.refresh()
        # The next thing to do has the focus: ask when serving, else start the server.
        (self.question if self.url else self.serve_button).setFocus()

    def refresh(self) -> None:
        """Bring every label, the conversation and the buttons in line with the wizard's
        state and the live server's."""
        run = self.state.run_dir
        if run != self._chat_run:
            self.show_conversation(run)
        if not self.job.is_running() and run != self._adapter_run:
            self._adapter_run = run  # the box follows the run; the user may then untick it
            self.server_box.set_adapters(run.name if run else None, has_adapters(run))
        self.server_box.set_model_text(self._model_text())
        self._banner()
        self._controls()

    def serve_run(self, run_dir: Path) -> None:
        """Select run_dir (and the model it was trained from) and serve it with its
        adapters; a server serving something else is restarted."""
        model = run_base_model(run_dir)
        if model is not None and model != self.state.model_path:
            self.state.set_model(model)
        if run_dir != self.state.run_dir:
            self.state.set_run(run_dir)
        self.enter()
        if self.job.is_running():
            if self.is_stale():
                self.restart_server()
        else:
            self.start_server()

    def is_stale(self) -> bool:
        """True when the wizard's model or run changed since the live server started."""
        return self.job.is_running() and self._served != (
            self.state.model_path,
            self.state.run_dir,
        )

    def chat_settings(self) -> dict:
        return {
            "system": self.system.text().strip(),
            "temperature": self.temperature.value(),
            "top_p": self.top_p.value(),
            "max_tokens": self.max_tokens.value(),
        }

    def is_answering(self) -> bool:
        """True from Send until the answer's last piece and its end have reached the window
        (the thread ends a moment before its queued signals are handled)."""
        return self._answering

    # ---- server
    def toggle_server(self) -> None:
        if self.job.is_running():
            self.stop_server()
        else:
            self.start_server()

    def start_server(self) -> None:
        model = self.state.model_path
        if model is None or self.job.is_running():
            return
        adapter = self.state.run_dir if self.adapter_check.isChecked() else None
        self._served = (model, self.state.run_dir)
        self.server_box.clear_log()
        self.server_box.set_status("Loading the model…")
        self.job.start(model, adapter=adapter, **self.server_box.access())
        self.refresh()

    def stop_server(self) -> None:
        """SIGTERM, SIGKILL after a grace period: it always stops."""
        if not self.job.is_running():
            return
        self.stop_answer()
        self.compare.stop_answers()
        self.job.stop()
        self.server_box.set_status("Stopping the server…")
        self._controls()

    def restart_server(self) -> None:
        """Stop the live server and start one for the wizard's model and run."""
        if self.job.is_running():
            self._restart = True
            self.stop_server()
        else:
            self.start_server()

    def _server_ready(self, url: str) -> None:
        where = "reachable from the network" if self.job.network else "this Mac only"
        key = " · API key required" if self.job.api_key else ""
        self.server_box.set_status(f"Serving at {url}  ({where}{key})")
        self.refresh()

    def _server_ended(self, message: str) -> None:
        self._note = message
        self.server_box.set_status(message)
        if message != "Server stopped.":
            self.server_box.show_log()  # the cause is in the log
        if self._restart:
            self._restart = False
            self._adapter_run = _NO_RUN  # the adapters box follows the wizard's run again
            self.refresh()
            self.start_server()
            return
        self.refresh()

    def shutdown(self) -> None:
        """Stop every server and worker and wait for them: none may outlive the app."""
        if self.worker is not None:
            self.worker.stop()
            self.worker.wait(5000)
        self.compare.shutdown()
        self.test_prompts.shutdown()
        self.job.shutdown()

    # ---- what is served
    def _served_model(self) -> Path | None:
        return self.job.model if self.job.is_running() else self.state.model_path

    def tuned_server(self) -> tuple[str, str]:
        """(url, api key) of the live server when it applies adapters, else ("", "")."""
        return (self.url, self.job.api_key) if self.url and self.job.adapter else ("", "")

    def prompts_context(self) -> tuple[Path | None, Path | None, dict]:
        """(model, run, settings) for Test prompts: the live server's when one runs."""
        # With a server up, the prompts go to what it serves, not to the wizard's choice.
        settings = {**self.chat_settings(), "temperature": 0.0}  # greedy: compared run to run
        if self.job.is_running():
            settings["adapter"] = self.job.adapter is not None
            return self.job.model, self.job.run_dir or self.state.run_dir, settings
        settings["adapter"] = self.adapter_check.isChecked()
        return self.state.model_path, self.state.run_dir, settings

    def _model_text(self) -> str:
        if self.job.is_running():
            run = self.job.run_dir
            adapters = f" with the adapters of run {run.name}" if run else " (no adapters)"
            return f"{self.job.model.name}{adapters} (the running server)"
        model = self.state.model_path
        if model is None:
            return "No model chosen yet: pick one on the Model page."
        return model.name

    def _banner(self) -> None:
        stale, text = self.is_stale(), ""
        if stale:
            wanted_run = self.state.run_dir if has_adapters(self.state.run_dir) else None
            live = _describe(self.job.model, self.job.run_dir)
            wanted = _describe(self.state.model_path, wanted_run)
            if live == wanted:  # the same run on another model: name the models
                live += f" on {self.job.model.name}"
                wanted += f" on {self.state.model_path.name if self.state.model_path else '?'}"
            text = f"Serving {live} — restart to serve {wanted}."
        self.server_box.set_stale(
            text, self.state.model_path is not None and not self.job.is_stopping()
        )

    def _controls(self) -> None:
        serving = bool(self.url)
        running = self.job.is_running()
        stopping = self.job.is_stopping()
        # The window's answering state, not the worker thread's: `finished` may be handled
        # while QThread still reports running, which left Send disabled after an answer.
        chatting = self._answering
        self.server_box.set_serving(
            running=running, stopping=stopping, can_start=bool(self.state.model_path), url=self.url
        )
        if not running:
            self.server_box.set_status(
                self._note
                if self.state.model_path
                else "Pick a model on the Model page to serve it."
            )
        why = self._why_no_chat(serving, running, stopping)
        self.question.setEnabled(not why)
        self.question.setPlaceholderText(why or "Ask something…  (Enter sends)")
        self.send_button.setEnabled(not why and not chatting)
        self.send_button.setToolTip(why)
        self.stop_button.setEnabled(chatting)
        self.stop_button.setToolTip("" if chatting else "Nothing is being answered.")
        self.clear_button.setEnabled(not self._answering)
        if not self.transcript.messages():
            if self.is_stale() and not stopping:
                self.transcript.set_empty_state(why, "Restart server")
            elif running or stopping:
                self.transcript.set_empty_state(why or "Ask something below.")
            else:
                action = "Start server" if self.state.model_path else ""
                self.transcript.set_empty_state(why, action)

    def _why_no_chat(self, serving: bool, running: bool, stopping: bool) -> str:
        """Why there can be no chat now ("" when there can)."""
        if stopping:
            return "The server is stopping."
        if running and not serving:
            return "The model is loading…"
        if not running:
            if not self.state.model_path:
                return "Pick a model on the Model page, then start the server to chat."
            return "Start the server to chat with the model."
        if self.is_stale():
            return "The server serves something else: restart it to chat with this run."
        return ""

    def _empty_action(self) -> None:
        if self.is_stale():
            self.restart_server()
        else:
            self.start_server()

    # ---- chat
    def show_conversation(self, run: Path | None) -> None:
        """Show run's conversation (the one on screen earlier, or the latest saved)."""
        if self._answering:  # the answer being written belonged to the other conversation
            self.stop_answer()
            self._answering, self._asked = False, None
        self._chat_run = run
        self.transcript.clear()
        self.history = []
        turns: list[dict] = []
        if run is not None:
            chat_id = self._chat_ids.get(run)
            turns = read_conversation(run, chat_id)
            if chat_id is None:
                chat_id = (turns[-1].get("chat") if turns else None) or new_chat_id()
                self._chat_ids[run] = chat_id
            self.chat_id = chat_id
        else:
            self.chat_id = new_chat_id()
        for turn in turns:
            self.transcript.add_user(str(turn.get("prompt", "")))
            self.transcript.add_answer(str(turn.get("answer", "")))
            self.transcript.finish_answer(
                _speed(
                    turn.get("tokens") or 0,
                    turn.get("seconds") or 0.0,
                    turn.get("tokens_per_second"),
                    str(turn.get("time", "")),
                )
            )
        self.history = conversation_messages(turns)

    def send(self) -> None:
        text = self.question.text().strip()
        if not text or not self.send_button.isEnabled() or not self.url:
            return
        self.question.clear()
        settings = self.chat_settings()
        if settings["system"] and not self.history:
            self.history.append({"role": "system", "content": settings["system"]})
        self.history.append({"role": "user", "content": text})
        self.transcript.add_user(text)
        self.transcript.add_answer()
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
        self._asked = (text, settings, self._chat_run, self.chat_id, self.worker)
        self._answering = True
        self.worker.start()
        self._controls()

    def _delta(self, piece: str) -> None:
        if self._asked is None or self.sender() is not self._asked[4]:
            return  # an answer for a conversation no longer shown
        self.answer += piece
        self.transcript.stream(piece)

    def _failed(self, message: str) -> None:
        if self._asked is not None and self.sender() is self._asked[4]:
            self.transcript.add_error(message)

    def _answer_done(self) -> None:
        worker, asked = self.sender(), self._asked
        if asked is None or worker is not asked[4]:
            return
        self._answering = False
        self._asked = None
        if self.answer:
            self.history.append({"role": "assistant", "content": self.answer})
            self.transcript.finish_answer(_speed(worker.tokens, worker.seconds))
            self._save_turn(worker, asked)
        else:
            # Nothing came: drop the question from the context, keep it on screen.
            self.history.pop()
            self.transcript.finish_answer("No answer.")
        self._controls()

    def _save_turn(self, worker: ChatWorker, asked: tuple) -> None:
        # The run directory keeps every prompt asked of its model, with the answer.
        question, settings, run, chat_id, _ = asked
        if not isinstance(run, Path) or not run.is_dir():
            return
        append_chat(
            run,
            {
                "chat": chat_id,
                "prompt": question,
                "answer": self.answer,
                "adapter": self.job.adapter is not None,
                **settings,
                "tokens": worker.tokens,
                "seconds": round(worker.seconds, 2),
                "tokens_per_second": round(worker.tokens_per_second(), 1),
            },
        )

    def stop_answer(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def new_chat(self) -> None:
        """A fresh conversation; the last one stays in the run's chat log."""
        if self._answering:
            return
        self.chat_id = new_chat_id()
        if isinstance(self._chat_run, Path):
            self._chat_ids[self._chat_run] = self.chat_id
        self.history.clear()
        self.transcript.clear()
        self._controls()


# ---- helpers
def _describe(model: Path | None, run: Path | None) -> str:
    if model is None:
        return "no model"
    return f"run {run.name}" if run else f"{model.name} without adapters"


def _speed(tokens: int, seconds: float, rate: float | None = None, when: str = "") -> str:
    """'12 tokens · 3.4 s · 3.5 tokens/s' under an answer (and its day, once restored)."""
    if rate is None and tokens and seconds:
        rate = tokens / seconds
    parts = [f"{tokens} tokens"] if tokens else []
    if seconds:
        parts.append(f"{seconds:.1f} s")
    if rate:
        parts.append(f"{rate:.1f} tokens/s")
    with contextlib.suppress(ValueError):  # no time (a live answer) or an odd one
        parts.append(time.strftime("%d %b %H:%M", time.strptime(when, "%Y-%m-%dT%H:%M:%S")))
    return " · ".join(parts)


def _spin(low: float, high: float, step: float, value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    return box
