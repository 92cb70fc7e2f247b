"""The Serve page's Server box: what is served (model, adapters), how it is reached (port,
API key, network), Start/Stop with the status line, the server's log, and the banner that
offers a restart when the wizard moved on.

The box shows; the page decides. It emits `sig_toggle` (Start/Stop) and `sig_restart`, and
the page tells it what to show through the Public API below. On a short window it collapses
to one line (model · status · Start/Stop · Log), with an Options button for the rest.
"""

from __future__ import annotations

from urllib.parse import urlparse

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.gui.icons import IconLabel, icon
from mlxstudio.gui.style import repolish

# Until icons.py names it: the log toggles' picture (a terminal).

FIXED = "Fixed while the server runs: stop it to change this."
PORT_TIP = "The port clients connect to; 'next free' picks one."


class ServerBox(QGroupBox):
    """Public API: access, set_model_text, set_adapters, set_status, status_text,
    append_log, clear_log, show_log, set_serving, set_stale, set_compact, is_compact.
    Signals: sig_toggle (Start/Stop pressed), sig_restart (Restart server pressed)."""

    sig_toggle = Signal()
    sig_restart = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Server", parent)
        # ---- attributes
        self._compact = False
        self.adapters_usable = False  # the wizard's run has adapters to apply
        self._model_text = ""
        self._chosen_port = 0  # the user's port, shown again once the server stops
        self._live_port = False  # the port box shows the live server's port

        # ---- widgets
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.adapter_check = QCheckBox("Apply the fine-tuned adapters of the current run")
        self.no_adapters = QLabel()
        self.no_adapters.setObjectName("Hint")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("next free")
        self.port.setFixedWidth(140)
        self.port.setToolTip(PORT_TIP)
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
        self._access_tips = {w: w.toolTip() for w in (self.port, self.api_key, self.network_check)}
        self.serve_button = QPushButton("Start server")
        self.serve_button.setMinimumWidth(130)
        self.server_status = QLabel("Not serving.")
        self.server_status.setObjectName("Hint")
        self.server_status.setWordWrap(True)
        # Selectable, so the URL can be copied into another client.
        self.server_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary = QLabel()  # the one line of the collapsed box: model · status
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # One line that clips rather than widens the window (the tooltip has it whole).
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.hide()
        self.server_log = QPlainTextEdit()
        self.server_log.setReadOnly(True)
        self.server_log.setMaximumBlockCount(2000)
        self.server_log.setMaximumHeight(64)
        self.server_log.setPlaceholderText("The server's log appears here.")
        self.server_log.hide()  # shown on demand, and when the server fails
        self.log_button = _toggle("log", "Log", "Show the server's log")
        self.options_button = _toggle(
            "preferences", "Options", "Show the adapters, port, API key and network settings"
        )
        self.options_button.hide()  # only in the collapsed box
        self.stale_banner = QFrame()
        self.stale_banner.setObjectName("Card")
        self.stale_icon = IconLabel("warning", 16)
        self.stale_label = QLabel()
        self.stale_label.setWordWrap(True)
        self.restart_button = QPushButton(icon("resume"), "Restart server")
        self.stale_banner.hide()

        # ---- layout
        access = QHBoxLayout()
        access.setContentsMargins(0, 0, 0, 0)
        access.addWidget(QLabel("Port"))
        access.addWidget(self.port)
        access.addSpacing(16)
        access.addWidget(QLabel("API key"))
        access.addWidget(self.api_key)
        access.addSpacing(16)
        access.addWidget(self.network_check)
        access.addStretch(1)
        adapters = QVBoxLayout()
        adapters.setContentsMargins(0, 0, 0, 0)
        adapters.addWidget(self.adapter_check)
        adapters.addWidget(self.no_adapters)
        self.details = QWidget()  # what the collapsed box hides
        form = QFormLayout(self.details)
        form.setContentsMargins(0, 0, 0, 0)
        self._model_row_label = QLabel("Model")
        form.addRow(self._model_row_label, self.model_label)
        form.addRow("", adapters)
        form.addRow("Access", access)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.serve_button)
        row.addWidget(self.server_status, 1)
        row.addWidget(self.options_button)
        row.addWidget(self.log_button)
        banner = QHBoxLayout(self.stale_banner)
        banner.setContentsMargins(10, 6, 10, 6)
        banner.addWidget(self.stale_icon)
        banner.addWidget(self.stale_label, 1)
        banner.addWidget(self.restart_button)
        box = QVBoxLayout(self)
        box.addWidget(self.details)
        box.addLayout(row)
        box.addWidget(self.stale_banner)
        box.addWidget(self.server_log)

        # ---- signals
        self.serve_button.clicked.connect(self.sig_toggle)
        self.restart_button.clicked.connect(self.sig_restart)
        self.log_button.toggled.connect(self.server_log.setVisible)
        self.options_button.toggled.connect(self._show_options)

    # ---- Public API
    def access(self) -> dict:
        """What a new server is started with: port (0: next free), api_key, network."""
        return {
            "port": self.port.value(),
            "api_key": self.api_key.text().strip(),
            "network": self.network_check.isChecked(),
        }

    def set_model_text(self, text: str) -> None:
        self._model_text = text
        self.model_label.setText(text)
        self._summarise()

    def set_adapters(self, run_name: str | None, usable: bool) -> None:
        """The adapters choice for the wizard's run: a ticked box when it has adapters,
        else one line saying the base model is served (no dead box)."""
        self.adapters_usable = usable
        self.adapter_check.setEnabled(usable)
        self.adapter_check.setChecked(usable)
        self.adapter_check.setText(
            f"Apply the fine-tuned adapters of run {run_name}" if run_name else ""
        )
        self.adapter_check.setVisible(usable)
        self.no_adapters.setVisible(not usable)
        self.no_adapters.setText(
            f"Run {run_name} has no adapters yet: serving the base model"
            if run_name
            else "No training run yet: serving the base model"
        )

    def set_status(self, text: str) -> None:
        self.server_status.setText(text)
        self._summarise()

    def status_text(self) -> str:
        return self.server_status.text()

    def append_log(self, line: str) -> None:
        self.server_log.appendPlainText(line)

    def clear_log(self) -> None:
        self.server_log.clear()

    def show_log(self) -> None:
        """Open the log (a failed server's cause is in it)."""
        self.log_button.setChecked(True)

    def set_serving(self, *, running: bool, stopping: bool, can_start: bool, url: str = "") -> None:
        """Start/Stop and the access settings for the server's state; while it runs the
        port box shows the port it really listens on."""
        self.serve_button.setText(
            "Stopping…" if stopping else "Stop server" if running else "Start server"
        )
        if self.serve_button.property("primary") != (not running):
            self.serve_button.setProperty("primary", not running)  # Start is the next step
            repolish(self.serve_button)
        self.serve_button.setIcon(icon("stop") if running else icon("start", "#ffffff"))
        self.serve_button.setEnabled(not stopping and (running or can_start))
        self.serve_button.setToolTip(
            "" if can_start or running else "Pick a model on the Model page first."
        )
        for widget, tip in self._access_tips.items():
            widget.setEnabled(not running)
            widget.setToolTip(FIXED if running else tip)
        if running:
            self.adapter_check.setEnabled(False)
            self.adapter_check.setToolTip(FIXED)
        else:  # a choice again once the server is stopped
            self.adapter_check.setEnabled(self.adapters_usable)
            self.adapter_check.setToolTip("")
        self._show_port(running, url)

    def set_stale(self, text: str, can_restart: bool) -> None:
        """The banner: text names what is served and what would be (empty: hidden)."""
        self.stale_banner.setVisible(bool(text))
        if text:
            self.stale_label.setText(text)
        self.restart_button.setEnabled(bool(text) and can_restart)

    def set_compact(self, on: bool) -> None:
        """One line (model · status · Start/Stop · Options · Log) for a short window."""
        if on == self._compact:
            return
        self._compact = on
        self.setTitle("" if on else "Server")
        self.setProperty("compact", on)
        repolish(self)
        self.summary.setVisible(on)
        self.server_status.setVisible(not on)
        self.options_button.setVisible(on)
        self.details.setVisible(not on or self.options_button.isChecked())
        self._summarise()

    def is_compact(self) -> bool:
        return self._compact

    # ---- internals
    def _show_options(self, on: bool) -> None:
        self.details.setVisible(on or not self._compact)

    def _summarise(self) -> None:
        if self._compact:
            model = self._model_text.removesuffix(" (the running server)")
            self.summary.setText(f"<b>{_escape(model)}</b> · {_escape(self.status_text())}")
            self.summary.setToolTip(f"{model}\n{self.status_text()}")

    def _show_port(self, running: bool, url: str) -> None:
        port = urlparse(url).port if running and url else None
        self.port.blockSignals(True)  # what is shown, not a choice the user made
        if port and not self._live_port:
            self._chosen_port, self._live_port = self.port.value(), True
            self.port.setSpecialValueText("")
        if port:
            self.port.setValue(port)
        elif not running and self._live_port:
            self._live_port = False
            self.port.setValue(self._chosen_port)
            self.port.setSpecialValueText("next free")
        self.port.blockSignals(False)


def _toggle(icon_name: str, text: str, tip: str) -> QPushButton:
    """A checkable button with an icon and a frame: it looks pressable, and pressed."""
    button = QPushButton(icon(icon_name), text)
    button.setCheckable(True)
    button.setToolTip(tip)
    return button


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
