"""Make a server child exit when the process that started it dies, however it dies.

The app stops its server on quit, but a crash or SIGKILL of the app runs no cleanup, and
an orphaned server would hold the port and gigabytes of RAM. On Linux the kernel sends
us SIGTERM when the parent goes (prctl PR_SET_PDEATHSIG); macOS has no such call, so a
watchdog thread also polls os.getppid(), which changes when we are re-parented.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

from mlxstudio.core.errors import UserError

_PR_SET_PDEATHSIG = 1


def exit_with_parent(parent_pid: int, poll_seconds: float = 0.5) -> None:
    """End this process (SIGTERM) as soon as the process parent_pid is no longer our parent.

    Linux caveat: the kernel fires when the parent *thread* that forked us ends, so the
    parent must start us from a thread that lives as long as we should.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The parent may have died before prctl took effect: check once after setting it.
    if os.getppid() != parent_pid:
        raise UserError(f"the process that started this server ({parent_pid}) has ended")
    watchdog = threading.Thread(
        target=_watch, args=(parent_pid, poll_seconds), name="mlxstudio-lifeline", daemon=True
    )
    watchdog.start()


def _watch(parent_pid: int, poll_seconds: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll_seconds)
    os.kill(os.getpid(), signal.SIGTERM)
