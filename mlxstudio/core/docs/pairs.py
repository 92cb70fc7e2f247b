"""The generated pairs on disk, and the dataset made from them.

An output folder holds `pairs.jsonl` (one pair a line, with its source file and chunk: what
the window shows and edits), `chunks.jsonl` (the chunks already done: what a second run
skips), and the dataset: Second-Me's `merged.json` and the chat JSONL we train on.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from mlxstudio.core.docs.prompts import TIME

PAIRS, CHUNKS, MERGED, CHAT = "pairs.jsonl", "chunks.jsonl", "merged.json", "chat.jsonl"
_WORDS = re.compile(r"\w+")


@dataclass
class Pair:
    question: str
    answer: str
    kind: str  # prompts.MEMORY or prompts.TIME
    source: str  # the document, relative to the folder read
    chunk: int  # the chunk's index in its document
    chunk_id: str
    date: str | None = None  # the document's date (time questions)

    def key(self) -> str:
        """What makes two pairs the same question: its words, case and punctuation aside."""
        return " ".join(_WORDS.findall(self.question.casefold()))

    def secondme(self) -> dict:
        """The pair as a record of Second-Me's merged.json, with its provenance."""
        record: dict = {"user": self.question, "assistant": self.answer}
        if self.kind == TIME and self.date:
            record.update(timestamp=self.date, is_timeqa=True)
        return {**record, "source": self.source, "chunk": self.chunk}


def read_jsonl(path: Path) -> list[dict]:
    """The objects of a JSONL file we wrote; a line cut short by a kill is left out."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """One write per call, flushed and synced: a kill between calls loses nothing written."""
    if not rows:
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        fh.flush()
        os.fsync(fh.fileno())


def load_pairs(out: Path) -> list[Pair]:
    names = {f.name for f in fields(Pair)}
    return [
        Pair(**{k: v for k, v in row.items() if k in names})
        for row in read_jsonl(Path(out) / PAIRS)
        if isinstance(row.get("question"), str) and isinstance(row.get("answer"), str)
    ]


def save_pairs(out: Path, pairs: list[Pair]) -> None:
    """Replace the folder's pairs (the window's edits), atomically."""
    path = Path(out) / PAIRS
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs),
        encoding="utf-8",
    )
    os.replace(tmp, path)


def dedupe(pairs: list[Pair], seen: set[str] | None = None) -> tuple[list[Pair], int]:
    """The pairs whose question was not asked before (in `seen`, which is updated)."""
    seen = set() if seen is None else seen
    kept = []
    for pair in pairs:
        key = pair.key()
        if key and key not in seen:
            seen.add(key)
            kept.append(pair)
    return kept, len(pairs) - len(kept)


@dataclass
class Dataset:
    merged: Path
    chat: Path
    records: int
    duplicates: int
    errors: int
    warnings: int


def write_dataset(out: Path, username: str, cot: bool = False) -> Dataset:
    """merged.json and chat.jsonl from the folder's pairs, validated as any dataset is."""
    from mlxstudio.core.data import DataOptions, validate
    from mlxstudio.core.data.secondme import SecondMe

    out = Path(out)
    pairs, duplicates = dedupe(load_pairs(out))
    records = [p.secondme() for p in pairs]
    merged = out / MERGED
    merged.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    converter = SecondMe(DataOptions(username=username, cot=cot))
    chat_rows = []
    for record in records:
        converted, _problems = converter.convert(record)
        if converted is not None:
            chat_rows.append({**converted, "source": record["source"], "chunk": record["chunk"]})
    chat = out / CHAT
    chat.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chat_rows), encoding="utf-8"
    )
    report = validate([chat], DataOptions(format="chat"))
    return Dataset(merged, chat, len(chat_rows), duplicates, report.errors, report.warnings)
