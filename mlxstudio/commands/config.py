"""`mlxstudio config keys [KEY ...]`: every config key with its type, default, limits and
what it does, from RunConfig's field metadata (the README's table says the same)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    config = subparsers.add_parser("config", help="the keys a training config accepts")
    sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    p = sub.add_parser("keys", help="list every key: type, default, limits, what it does")
    p.add_argument("keys", nargs="*", metavar="KEY", help="only these keys (default: all)")
    p.set_defaults(func=cmd_keys)


def cmd_keys(args: argparse.Namespace) -> int:
    import difflib

    from mlxstudio.core.config_table import key_names, keys_text
    from mlxstudio.core.errors import UserError

    known = key_names()
    for key in args.keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"no config key '{key}'{hint}; `mlxstudio config keys` lists them")
    print(keys_text(args.keys or None), flush=True)
    return 0
