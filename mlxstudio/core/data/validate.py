"""Validation: every record of every file read once, every problem reported with its place.

`scan` is the one pass that convert and stats build on: it reads, detects, converts and
yields the good records while problems go to a callback as they are found; `validate`
runs it to the end and adds what needs the whole picture (duplicates, token lengths).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from mlxstudio.core.data.detect import (
    FORMATS,
    describe_file,
    expand_inputs,
    make_format,
    open_reader,
)
from mlxstudio.core.data.issues import Issue, Problem, error, type_name, warning
from mlxstudio.core.data.options import DataOptions
from mlxstudio.core.data.stats import TokenStats, summarize

if TYPE_CHECKING:
    from mlxstudio.core.data.formats import Format
    from mlxstudio.core.data.tokens import TokenCounter

__all__ = [
    "Issue",
    "Example",
    "FileReport",
    "Progress",
    "StatsReport",
    "ValidationReport",
    "scan",
    "token_stats",
    "validate",
]

PROGRESS_EVERY = 4096  # rows between progress callbacks: cheap enough, still ~10/s


class Example(NamedTuple):
    """One good record, converted: where it came from and what training will read."""

    file: str
    line: int
    format: str
    kind: str
    record: dict


@dataclass
class FileReport:
    path: str
    container: str = ""
    format: str | None = None
    kind: str | None = None
    records: int = 0
    skipped: int = 0  # rows left out because of errors
    dropped: int = 0  # records the format leaves out on purpose (Second-Me's 'None')
    errors: int = 0
    warnings: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Progress:
    file: str
    files_done: int
    files: int
    bytes_done: int
    bytes_total: int
    records: int
    elapsed: float

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 1.0


@dataclass
class ValidationReport:
    files: list[FileReport] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)  # the first `max_issues`
    omitted: int = 0  # issues beyond max_issues (still passed to on_issue)
    errors: int = 0
    warnings: int = 0
    duplicates: int = 0
    elapsed: float = 0.0
    tokens: TokenStats | None = None  # with a model: lengths of all records
    token_files: dict[str, TokenStats] = field(default_factory=dict)
    max_issues: int = 1000

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def dropped(self) -> int:
        return sum(f.dropped for f in self.files)

    @property
    def formats(self) -> dict[str, str]:
        return {f.path: f.format for f in self.files if f.format}

    def add(self, issue: Issue, on_issue: Callable[[Issue], None] | None) -> None:
        file = next((f for f in reversed(self.files) if f.path == issue.file), None)
        if issue.severity == "error":
            self.errors += 1
            if file:
                file.errors += 1
        else:
            self.warnings += 1
            if file:
                file.warnings += 1
        if len(self.issues) < self.max_issues:
            self.issues.append(issue)
        else:
            self.omitted += 1
        if on_issue:
            on_issue(issue)


def scan(
    inputs: Sequence[str | Path],
    options: DataOptions,
    report: ValidationReport,
    on_issue: Callable[[Issue], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Iterator[Example]:
    """Yield every good record of the inputs; problems go to `report` and `on_issue`."""
    started = time.perf_counter()
    paths, missing = expand_inputs(inputs)
    for issue in missing:
        report.add(issue, on_issue)
    sizes = [_size(p) for p in paths]
    total, done = sum(sizes), 0

    def tick(name: str, index: int, bytes_read: int) -> None:
        if progress:
            elapsed = time.perf_counter() - started
            progress(
                Progress(name, index, len(paths), done + bytes_read, total, report.records, elapsed)
            )

    for index, path in enumerate(paths):
        fr = FileReport(str(path), bytes=sizes[index])
        report.files.append(fr)
        try:
            yield from _scan_file(
                path, fr, options, report, on_issue, lambda n, f=fr.path, i=index: tick(f, i, n)
            )
        except OSError as err:  # unreadable, vanished, a device...
            problem = error(
                "",
                f"can't read the file ({err.strerror or err})",
                "check the path and its permissions",
            )
            report.add(Issue.at(fr.path, 0, problem), on_issue)
        done += fr.bytes
    report.elapsed = time.perf_counter() - started
    tick("", len(paths), 0)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _scan_file(
    path: Path,
    fr: FileReport,
    options: DataOptions,
    report: ValidationReport,
    on_issue: Callable[[Issue], None] | None,
    tick: Callable[[int], None],
) -> Iterator[Example]:
    name = fr.path

    def add(line: int, problem: Problem) -> None:
        report.add(Issue.at(name, line, problem), on_issue)

    info = describe_file(path, options)
    fr.container, fr.format, fr.kind = info.container, info.format, info.kind
    if info.problem:
        add(0, info.problem)
    fmt = make_format(info.format, options) if info.format else None
    others = [cls(options) for n, cls in FORMATS.items() if fmt is None or n != fmt.name]
    reader = open_reader(path, info.container, options)
    rows = 0
    for line, value, problem in reader:
        rows += 1
        if rows % PROGRESS_EVERY == 0:
            tick(reader.bytes_read)
        if problem:
            add(line, problem)
            if value is None:
                fr.skipped += problem.severity == "error"
                continue
        if not isinstance(value, dict):
            add(line, _not_an_object(value))
            fr.skipped += 1
            continue
        if fmt is None:
            fr.skipped += 1
            continue
        if not fmt.matches(value):
            other = next((o for o in others if o.matches(value)), None)
            if other is not None:
                add(line, _mixed(other, fmt))
                fr.skipped += 1
                continue
        record, problems = fmt.convert(value)
        for p in problems:
            add(line, p)
        if record is None:
            if any(p.severity == "error" for p in problems):
                fr.skipped += 1
            else:
                fr.dropped += 1
            continue
        fr.records += 1
        yield Example(name, line, fmt.name, fmt.kind, record)
    if fr.records == 0 and fr.errors == 0 and fr.dropped == 0:
        what = "the file is empty" if fr.bytes == 0 else "no records in the file"
        add(0, error("", what, "add data or leave the file out"))


def _not_an_object(value: object) -> Problem:
    return error(
        "",
        f"a record must be a JSON object, got {type_name(value)}",
        'write one object per record, e.g. {"messages": [...]}',
    )


def _mixed(other: Format, fmt: Format) -> Problem:
    return error(
        "",
        f"this record is {other.label} but the file is {fmt.label} (from its first records)",
        "keep one format per file: training reads a file's format from its first record",
    )


def fingerprint(record: dict) -> int:
    """A hash of what training reads from a record, to find duplicates."""
    messages = record.get("messages")
    if messages is not None and "tools" not in record and len(record) == 1:
        return hash(tuple([(m.get("role"), m.get("content")) for m in messages]))
    return hash(_freeze(record))


def _freeze(value: object) -> object:
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class Duplicates:
    """Where each record came from and its fingerprint (16 bytes a record, not the record);
    duplicates are found at the end by sorting a copy of the fingerprints (8 more)."""

    def __init__(self) -> None:
        self.hashes = array("q")
        self.where = array("Q")  # file index << 32 | line
        self.names: list[str] = []

    def add(self, ex: Example) -> None:
        if not self.names or self.names[-1] != ex.file:
            self.names.append(ex.file)
        self.hashes.append(fingerprint(ex.record))
        self.where.append((len(self.names) - 1) << 32 | ex.line)

    def find(self) -> list[tuple[int, int]]:
        """(index of a duplicate, index of its first occurrence), in record order."""
        if len(self.hashes) < 2:
            return []
        import numpy as np

        h = np.frombuffer(self.hashes, dtype=np.int64)
        ranked = np.sort(h)  # the one full-size copy
        repeated = np.unique(ranked[1:][ranked[1:] == ranked[:-1]])
        del ranked
        if not len(repeated):
            return []
        first: dict[int, int] = {}
        pairs = []
        for start in range(0, len(h), 1 << 20):  # in blocks: constant extra memory
            part = h[start : start + (1 << 20)]
            at = np.minimum(np.searchsorted(repeated, part), len(repeated) - 1)
            for i in (np.nonzero(repeated[at] == part)[0] + start).tolist():
                key = int(h[i])
                if key in first:
                    pairs.append((i, first[key]))
                else:
                    first[key] = i
        return pairs

    def place(self, index: int) -> tuple[str, int]:
        return self.names[self.where[index] >> 32], self.where[index] & 0xFFFFFFFF

    def report(
        self,
        report: ValidationReport,
        on_issue: Callable[[Issue], None] | None,
        hint: str,
        fix: str = "",
    ) -> list[int]:
        """Warn about each duplicate; their indices, ascending."""
        found = self.find()
        for dup, first in found:
            (file, line), (ofile, oline) = self.place(dup), self.place(first)
            where = f"line {oline}" if ofile == file else f"{ofile}:{oline}"
            issue = Issue(file, line, "", f"duplicate of {where}", hint, "warning", fix)
            report.add(issue, on_issue)
        report.duplicates += len(found)
        return [dup for dup, _ in found]


def validate(
    inputs: Sequence[str | Path],
    options: DataOptions | None = None,
    *,
    model: str | Path | None = None,
    max_seq_length: int = 2048,
    on_issue: Callable[[Issue], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
    max_issues: int = 1000,
    bins: int = 20,
) -> ValidationReport:
    """Check every record of the inputs (files or folders).

    With `model`, also tokenize each record as training will and warn about those longer
    than `max_seq_length`; `report.tokens` then has the length statistics. `on_issue` sees
    every issue as it is found (the report keeps the first `max_issues`); `progress` is
    called every few thousand rows, and raising from it cancels.
    """
    options = options or DataOptions()
    report = ValidationReport(max_issues=max_issues)
    counter = None
    if model is not None:
        from mlxstudio.core.data.tokens import TokenCounter

        counter = TokenCounter(model)
    lengths: dict[str, array] = {}
    seen = Duplicates()
    for ex in scan(inputs, options, report, on_issue, progress):
        seen.add(ex)
        if counter is not None:
            n = _length(counter, ex, max_seq_length, report, on_issue)
            if n is not None:
                lengths.setdefault(ex.file, array("I")).append(n)
    seen.report(report, on_issue, "drop it, or convert with --dedupe", fix="dedupe")
    if counter is not None:
        everything = [n for part in lengths.values() for n in part]
        report.tokens = summarize(everything, max_seq_length, bins)
        report.token_files = {f: summarize(v, max_seq_length, bins) for f, v in lengths.items()}
    return report


def _length(
    counter: TokenCounter,
    ex: Example,
    max_seq_length: int,
    report: ValidationReport,
    on_issue: Callable[[Issue], None] | None,
) -> int | None:
    counter.need_template(ex.kind)
    try:
        n = counter.length(ex.kind, ex.record)
    except ValueError as err:
        problem = error("", f"the model's chat template rejects this record: {err}", "fix it")
        report.add(Issue.at(ex.file, ex.line, problem), on_issue)
        return None
    if n > max_seq_length:
        cut = n - max_seq_length
        problem = warning(
            "",
            f"{n:,} tokens, over max_seq_length {max_seq_length:,}: {cut:,} would be cut",
            "shorten it, or raise max_seq_length",
            fix="max_seq_length",
        )
        report.add(Issue.at(ex.file, ex.line, problem), on_issue)
    return n


@dataclass
class StatsReport:
    total: TokenStats
    files: dict[str, TokenStats]
    validation: ValidationReport


def token_stats(
    inputs: Sequence[str | Path],
    model: str | Path,
    options: DataOptions | None = None,
    *,
    max_seq_length: int = 2048,
    bins: int = 20,
    on_issue: Callable[[Issue], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> StatsReport:
    """Token counts of every record as `model`'s tokenizer and chat template make them."""
    report = validate(
        inputs,
        options,
        model=model,
        max_seq_length=max_seq_length,
        on_issue=on_issue,
        progress=progress,
        bins=bins,
    )
    assert report.tokens is not None
    return StatsReport(report.tokens, report.token_files, report)
