"""One `mlxstudio serve` child supervised from the GUI: start, stop, its log, its URL.

The child gets our pid (`--parent-pid`) so it exits if the app dies without stopping it,
and the API key through the environment, never on its command line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from mlxstudio.engine.job import JobThread, mlxstudio_command

_SERVING = re.compile(r"Serving .* at (http://\S+)")
_STOPPED_CODES = (0, 130, -2, -15)  # clean exit, Ctrl-C, SIGINT, SIGTERM


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
        self.adapter: Path | None = None

    def is_running(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

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
        self.url, self.api_key, self.adapter = "", api_key, adapter
        self.thread = JobThread(
            mlxstudio_command(*args), env={"MLXSTUDIO_API_KEY": api_key}, parent=self
        )
        self.thread.log.connect(self._line)
        self.thread.ended.connect(self._ended)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()

    def shutdown(self) -> None:
        """Stop and wait: the server must never outlive the app."""
        if self.is_running():
            self.thread.stop()
            if not self.thread.wait(10000):
                self.thread.kill()
                self.thread.wait(5000)

    def _line(self, line: str) -> None:
        self.line.emit(line)
        match = _SERVING.search(line)
        if match:
            self.url = match.group(1)
            self.ready.emit(self.url)

    def _ended(self, code: int, error: str) -> None:
        self.url = ""
        self.ended.emit(
            "Server stopped."
            if code in _STOPPED_CODES
            else f"Server failed: {error or 'see the log'}"
        )
