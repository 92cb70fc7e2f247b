"""Preview: the first records as the model will see them, through its chat template when a
model is given (else a plain role-by-role rendering)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from mlxstudio.core.data.issues import Issue
from mlxstudio.core.data.options import DataOptions
from mlxstudio.core.data.tokens import TokenCounter
from mlxstudio.core.data.validate import ValidationReport, scan


@dataclass
class PreviewRecord:
    file: str
    line: int
    format: str
    kind: str
    record: dict  # what convert writes
    rendered: str  # what the model reads
    tokens: int | None = None  # with a model
    issues: list[Issue] = field(default_factory=list)  # warnings on this record


def render_plain(kind: str, record: dict) -> str:
    """A readable rendering without a tokenizer: one [role] block per message."""
    if kind == "text":
        return record["text"]
    parts = []
    conversations = TokenCounter.conversations(kind, record)
    for label, messages in zip(("chosen", "rejected"), conversations, strict=False):
        if kind == "preference":
            parts.append(f"--- {label} ---")
        for m in messages:
            parts.append(f"[{m.get('role')}]\n{m.get('content') or ''}")
        if kind != "preference":
            break
    if "reward" in record:
        parts.append(f"[reward] {record['reward']}")
    if isinstance(record.get("label"), bool):  # KTO: this answer is marked good or bad
        parts.append(f"[label] {'good' if record['label'] else 'bad'}")
    return "\n".join(parts)


def preview(
    inputs: Sequence[str | Path],
    options: DataOptions | None = None,
    *,
    model: str | Path | TokenCounter | None = None,
    count: int = 3,
) -> list[PreviewRecord]:
    """The first `count` good records of the inputs, rendered."""
    options = options or DataOptions()
    counter = TokenCounter(model) if isinstance(model, (str, Path)) else model
    issues: list[Issue] = []
    report = ValidationReport(max_issues=0)
    records = []
    for ex in islice(scan(inputs, options, report, issues.append), count):
        own = [i for i in issues if i.file == ex.file and i.line == ex.line]
        if counter is None:
            rendered, tokens = render_plain(ex.kind, ex.record), None
        else:
            counter.need_template(ex.kind)
            try:
                rendered = counter.render(ex.kind, ex.record)
                tokens = counter.length(ex.kind, ex.record)
            except ValueError as err:
                rendered, tokens = f"(the model's chat template rejects this record: {err})", None
        records.append(
            PreviewRecord(ex.file, ex.line, ex.format, ex.kind, ex.record, rendered, tokens, own)
        )
    return records
