"""Keep the computer awake while a job runs: `caffeinate` on macOS, `systemd-inhibit` on
Linux. The helper watches the job's pid, so the hold ends with the job however it ends —
even killed with SIGKILL, when no code of ours runs to release it."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from mlxstudio.core.events import Awake, Emitter

# A helper that fails (no session bus, no logind) does so at once; one that holds waits.
STARTUP_CHECK_S = 0.3


@dataclass
class Hold:
    """What keeps the machine awake now: `how` is the helper's name, '' for nothing."""

    how: str = ""
    process: subprocess.Popen | None = None

    @property
    def held(self) -> bool:
        return self.process is not None


def inhibitor_command(pid: int, why: str, system: str | None = None) -> list[str] | None:
    """The command that keeps the machine from sleeping while `pid` lives; None if the
    system has no such helper."""
    system = system or platform.system()
    if system == "Darwin" and shutil.which("caffeinate"):
        # -i: no idle sleep (the display may still sleep); -w: until pid exits
        return ["caffeinate", "-i", "-w", str(pid)]
    if system == "Linux" and shutil.which("systemd-inhibit") and shutil.which("tail"):
        return [
            "systemd-inhibit",
            "--what=sleep:idle",
            "--who=MLX Studio",
            f"--why={why}",
            "tail",
            f"--pid={pid}",
            "-f",
            "/dev/null",
        ]
    return None


def start_hold(why: str, log: Callable[[str], None], system: str | None = None) -> Hold:
    """Start the helper for this process; a missing or failing helper is logged, not raised."""
    command = inhibitor_command(os.getpid(), why, system)
    if command is None:
        log("Sleep is not prevented while training: no caffeinate or systemd-inhibit here")
        return Hold()
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C for the job is not one for the helper
        )
    except OSError as err:
        log(f"Sleep is not prevented while training: {command[0]}: {err}")
        return Hold()
    try:
        code = process.wait(timeout=STARTUP_CHECK_S)
    except subprocess.TimeoutExpired:
        return Hold(how=command[0], process=process)
    detail = (process.stderr.read() if process.stderr else b"").decode(errors="replace").strip()
    log(f"Sleep is not prevented while training: {command[0]} exited ({code}) {detail}".strip())
    return Hold()


def release(hold: Hold) -> None:
    """End the helper and whatever it started (its session); it may have ended already."""
    process = hold.process
    if process is None:
        return
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.stderr is not None:
        process.stderr.close()
    hold.process = None


@contextmanager
def keep_awake(why: str, log: Callable[[str], None] = print) -> Iterator[Hold]:
    """Hold the machine awake for the with-block (and no longer than this process)."""
    hold = start_hold(why, log)
    try:
        yield hold
    finally:
        release(hold)


@contextmanager
def awake_while_training(run_name: str, emitter: Emitter, log: Callable[[str], None]) -> Iterator:
    """keep_awake for a training job; its `awake` event follows the run's `start` event."""
    with keep_awake(f"Training {run_name}", log) as hold:
        emitter.after_start.append(Awake(held=hold.held, how=hold.how))
        if hold.held:
            log(f"Keeping the computer awake while training ({hold.how})")
        yield hold
