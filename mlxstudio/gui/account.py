"""Who is using this computer, for defaults such as Second-Me's username."""

from __future__ import annotations

import getpass
import os


def full_name() -> str:
    """The account's full name (macOS and Linux keep it in the password database's GECOS
    field), else the login name, else ''."""
    try:
        import pwd

        gecos = pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0].strip()
        if gecos:
            return gecos
    except (ImportError, KeyError):
        pass
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
