"""A quick check of an mlx-lm dataset folder before a run, so bad data fails in seconds
with file:line rather than minutes into loading a model. The full validator is core.data."""

from __future__ import annotations

import json
from pathlib import Path

from mlxstudio.core.config import hub_dataset_problem
from mlxstudio.core.errors import UserError

_FORMATS = (("messages",), ("prompt", "completion"), ("text",))


def _check_line(path: Path, number: int, line: str) -> None:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict):
        raise UserError(f"{where}: each line must be a JSON object, got {type(record).__name__}")
    if not any(all(k in record for k in keys) for keys in _FORMATS):
        raise UserError(
            f"{where}: no 'messages', 'prompt'+'completion' or 'text' field "
            f"(found: {', '.join(record) or 'nothing'}); convert the data to one of these forms"
        )
    messages = record.get("messages")
    if messages is not None and (not isinstance(messages, list) or not messages):
        raise UserError(f"{where}: 'messages' must be a non-empty list of role/content objects")


def check_jsonl(path: Path) -> int:
    """Check every line of a JSONL file; returns the number of records."""
    count = 0
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    _check_line(path, number, line)
                    count += 1
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    return count


def check_data_folder(data: str, need_test: bool = False) -> Path:
    """The dataset folder as an absolute path, after checking its files."""
    if not data:
        raise UserError(
            "no dataset given; set 'data:' to a folder with train.jsonl and valid.jsonl"
        )
    path = Path(data).expanduser()
    if hub := hub_dataset_problem(data):
        raise UserError(f"config: {hub}")
    if not path.exists():
        raise UserError(f"{path}: no such dataset folder")
    if path.is_file():
        raise UserError(
            f"{path}: 'data' must be a folder holding train.jsonl and valid.jsonl, not a file"
        )
    for name, required in (("train", True), ("valid", False), ("test", need_test)):
        file = path / f"{name}.jsonl"
        if not file.exists():
            if required:
                raise UserError(f"{path}: no {name}.jsonl in the dataset folder")
            continue
        if check_jsonl(file) == 0 and required:
            raise UserError(f"{file}: the file has no records")
    return path.resolve()
