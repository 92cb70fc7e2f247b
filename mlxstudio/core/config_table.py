"""The config keys as text, from RunConfig's field metadata: the README's table and the
list `mlxstudio config keys` prints.

`python -m mlxstudio.core.config_table` rewrites the table between the README's markers;
with `--check` it only says whether the README is current (exit 1 if not).
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import yaml

from mlxstudio.core.config import NOT_A_KEY, settings
from mlxstudio.core.settings import Setting

START = "<!-- config-table:start (python -m mlxstudio.core.config_table writes it) -->"
END = "<!-- config-table:end -->"
MODULE = "mlxstudio.core.config_table"
README = Path(__file__).resolve().parents[2] / "README.md"


def _rows() -> Iterator[tuple[str, Setting]]:
    """Every key with its description, a mapping's keys as dotted names after it."""
    for name, spec in settings().items():
        yield name, spec
        for sub, sub_spec in (spec.keys or {}).items():
            yield f"{name}.{sub}", sub_spec
    yield from NOT_A_KEY.items()


def key_names() -> list[str]:
    """Every key, a mapping's keys as dotted names (lora_parameters.rank)."""
    return [name for name, _ in _rows()]


def _default(value: object) -> str:
    """A value as it is written in YAML."""
    if isinstance(value, float):
        return f"{value:g}"
    if value == "":
        return '""'
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000)
    return text.strip().removesuffix("...").strip()


def _default_of(spec: Setting, code: str = "") -> str:
    """The default as written in YAML (between `code` marks), or "required"."""
    if spec.default is None and not spec.optional:
        return "required"  # a key a mapping must have
    return f"{code}{_default(spec.default)}{code}"


def _limits(spec: Setting) -> str:
    if spec.refused:
        return "refused unless " + _default(spec.default)
    return spec.limit_words()


def _help(spec: Setting) -> str:
    if spec.refused:
        return f"{spec.help} Not supported: {spec.refused}."
    return spec.help


def markdown_table() -> str:
    """The README's table: key, type, default, limits, what it does."""
    lines = ["| Key | Type | Default | Limits | What it does |", "|---|---|---|---|---|"]
    for name, spec in _rows():
        cells = (f"`{name}`", spec.type_words, _default_of(spec, "`"), _limits(spec))
        text = " | ".join(c.replace("|", "\\|") for c in (*cells, _help(spec)))
        lines.append(f"| {text} |")
    return "\n".join(lines)


def keys_text(names: list[str] | None = None) -> str:
    """The keys (all, or those named) for a terminal: the key, its type, default and
    limits on one line, its help indented below."""
    rows = [(n, s) for n, s in _rows() if not names or n in names or n.split(".")[0] in names]
    out = []
    for name, spec in rows:
        default = _default_of(spec)
        facts = [spec.type_words, default if default == "required" else f"default {default}"]
        facts += [_limits(spec)] if _limits(spec) else []
        out.append(f"{name}  ({'; '.join(facts)})")
        out += textwrap.wrap(_help(spec), 88, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(out)


def with_table(readme: str) -> str:
    """The README text with the table between the markers replaced by the current one."""
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the README has no {START} ... {END} markers")
    return f"{head}{START}\n{markdown_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = README.read_text(encoding="utf-8")
    current = with_table(text)
    if "--check" in argv:
        if current != text:
            print(f"{README}: the config table is out of date; run python -m {MODULE}")
            return 1
        return 0
    if current != text:
        README.write_text(current, encoding="utf-8")
        print(f"Updated the config table in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
