"""One `mlxstudio serve` child supervised from the GUI: start, stop, its log, its URL, and
what it serves (model and adapters), which is what the page must name, not the wizard's.

The child gets our pid (`--parent-pid`) so it exits if the app dies without stopping it,
and the API key through the environment, never on its command line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from mlxstudio.core.serve.prompts import run_folder
from mlxstudio.engine.job import JobThread, mlxstudio_command

_SERVING = re.compile(r"Serving .* at (http://\S+)")
_STOPPED_CODES = (0, 130, -2, -15)  # clean exit, Ctrl-C, SIGINT, SIGTERM
GRACE_S = 5.0  # after SIGTERM, how long a server may take before it is killed


class ServerJob(QObject):
    """Signals: `line` per log line, `ready(url)` once it answers, `ended(message)`."""

    line = Signal(str)
    ready = Signal(str)
    ended = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread: JobThread | None = None
        self.url = ""
        self.api_key = ""
        self.model: Path | None = None
        self.adapter: Path | None = None
        self.network = False
        self.grace_s = GRACE_S
        self._stopping = False
        self._ended_seen = False  # `ended` may be handled before the thread has returned

    # ---- Public API
    def is_running(self) -> bool:
        return self.thread is not None and self.thread.isRunning() and not self._ended_seen

    def is_stopping(self) -> bool:
        """True from stop() until the child has exited."""
        return self._stopping and self.is_running()

    @property
    def run_dir(self) -> Path | None:
        """The run whose adapters the live server applies (None: the bare model)."""
        return run_folder(self.adapter) if self.adapter is not None else None

    def start(
        self,
        model: Path,
        *,
        adapter: Path | None = None,
        port: int = 0,
        api_key: str = "",
        network: bool = False,
    ) -> None:
        args = ["serve", str(model), "--port", str(port), "--parent-pid", str(os.getpid())]
        if adapter is not None:
            args += ["--adapter", str(adapter)]
        if network:
            args += ["--host", "0.0.0.0", "--allow-network"]
        self.url, self.api_key = "", api_key
        self.model, self.adapter, self.network = Path(model), adapter, network
        self._stopping = self._ended_seen = False
        self.thread = JobThread(
            mlxstudio_command(*args), env={"MLXSTUDIO_API_KEY": api_key}, parent=self
        )
        self.thread.log.connect(self._line)
        self.thread.ended.connect(self._ended)
        self.thread.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after grace_s: a server has nothing to save, and must end
        even when it inherited SIGINT (or SIGTERM) ignored."""
        if self.is_running():
            self._stopping = True
            self.url = ""  # no new requests go to a server on its way out
            self.thread.stop_with_grace(self.grace_s)

    def shutdown(self) -> None:
        """Stop and wait: the server must never outlive the app."""
        if self.thread is not None and self.thread.isRunning():
            self.stop()
            if not self.thread.wait(int((self.grace_s + 5) * 1000)):
                self.thread.kill()
                self.thread.wait(5000)

    # ---- internals
    def _line(self, line: str) -> None:
        self.line.emit(line)
        match = _SERVING.search(line)
        if match and not self._stopping:
            self.url = match.group(1)
            self.ready.emit(self.url)

    def _ended(self, code: int, error: str) -> None:
        self.url = ""
        self._ended_seen = True
        stopped = self._stopping or code in _STOPPED_CODES
        self._stopping = False
        failed = f"Server failed: {error or 'see the log'}"
        self.ended.emit("Server stopped." if stopped else failed)
