"""The `mlxstudio` command (placeholder until subcommands land)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    print("mlxstudio: no commands yet")
    return 0
