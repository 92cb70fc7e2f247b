"""Helpers for the data tests: real files in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

from mlxstudio.core.data import DataOptions, Issue, validate


def chat(q: str, a: str, system: str | None = None) -> dict:
    messages = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return {"messages": messages}


def write_jsonl(path: Path, records: list, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_bytes("".join(line + newline for line in lines).encode("utf-8"))
    return path


def issues_of(path: Path | list, options: DataOptions | None = None, **kw) -> list[Issue]:
    paths = path if isinstance(path, list) else [path]
    return validate(paths, options, **kw).issues


def errors_of(path: Path | list, options: DataOptions | None = None, **kw) -> list[Issue]:
    return [i for i in issues_of(path, options, **kw) if i.severity == "error"]
