"""Supervise one `mlxstudio` child process from a QThread and re-emit its events as signals.

A crash in MLX (out of memory aborts the process) must not take the window down, so every
job is a child process. It prints `@event {json}` lines (see core/events.py); other
lines are log text. Stop/pause/continue are signals to the child, which handles them
between steps and reports them as events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from mlxstudio.core import events as ev
from mlxstudio.core.platform import with_fast_blas


def mlxstudio_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlxstudio", *args]


class JobThread(QThread):
    """Runs one command; emits `event` per event line, `log` per other line, then `ended`."""

    event = Signal(dict)
    log = Signal(str)
    ended = Signal(int, str)  # exit code, last error message ("" if none)

    def __init__(
        self, command: list[str], cwd: Path | None = None, env: dict | None = None, parent=None
    ) -> None:
        super().__init__(parent)
        self.command = command
        self.cwd = cwd
        self.env = env
        self.process: subprocess.Popen | None = None
        self._last_error = ""
        self._terminate_grace: float | None = None  # asked before the child existed

    def run(self) -> None:
        env = with_fast_blas(dict(os.environ, **(self.env or {})))
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                errors="replace",
            )
        except OSError as err:
            self.ended.emit(-1, f"could not start the job: {err}")
            return
        if self._terminate_grace is not None:
            self.stop_with_grace(self._terminate_grace)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._handle(line.rstrip("\n"))
        code = self.process.wait()
        self.ended.emit(code, self._last_error)

    def _handle(self, line: str) -> None:
        record = ev.parse_line(line)
        if record is not None:
            if record.get("event") == ev.Error.kind:
                self._last_error = str(record.get("message", ""))
            self.event.emit(record)
            return
        if line.startswith("mlxstudio: error: "):
            self._last_error = line[len("mlxstudio: error: ") :]
        self.log.emit(line)

    def _signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self) -> None:
        """Ask the job to finish its current step, save and exit."""
        self._signal(signal.SIGINT)

    def pause(self) -> None:
        self._signal(signal.SIGUSR1)

    def resume(self) -> None:
        self._signal(signal.SIGUSR2)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def stop_with_grace(self, grace_s: float = 5.0) -> None:
        """End the job for good: SIGTERM now, SIGKILL if it still runs after grace_s.

        For jobs with nothing to save (a server). stop() is not enough there: a child of
        an app started with SIGINT ignored inherits the ignore and would run on. The kill
        is timed by a plain thread, so it happens even while no event loop runs.
        """
        process = self.process
        if process is None:
            self._terminate_grace = grace_s  # run() ends it as soon as it starts
            return
        if process.poll() is not None:
            return
        process.terminate()
        timer = threading.Timer(grace_s, _kill_if_alive, args=(process,))
        timer.daemon = True
        timer.start()


def _kill_if_alive(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
