"""Stop / pause / continue a running job, from signals or from code in the same process."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Control:
    """Flags the training loop reads at each step boundary."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._paused = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        self._paused.clear()  # a paused job must wake up to save and stop

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def pause_requested(self) -> bool:
        return self._paused.is_set()

    def wait_while_paused(self, poll_s: float = 0.1) -> None:
        while self._paused.is_set() and not self._stop.is_set():
            time.sleep(poll_s)


@contextmanager
def signal_control(control: Control) -> Iterator[Control]:
    """Route SIGINT/SIGTERM (stop; a second one interrupts) and SIGUSR1/SIGUSR2 (pause,
    continue) to `control` while training. Only the main thread can own signals."""
    if threading.current_thread() is not threading.main_thread():
        yield control
        return

    def on_stop(signum, frame) -> None:
        if control.stop_requested:
            raise KeyboardInterrupt  # the user insists: do not wait for the step
        control.stop()

    handlers = {signal.SIGINT: on_stop, signal.SIGTERM: on_stop}
    if os.name == "posix":
        handlers[signal.SIGUSR1] = lambda s, f: control.pause()
        handlers[signal.SIGUSR2] = lambda s, f: control.resume()
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield control
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
