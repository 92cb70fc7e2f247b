"""Which files an input names, how each is stored (container) and what its records are
(format). Detection reads only the start of a file, so dropping a file on the window is
instant; every choice can be overridden through DataOptions."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from mlxstudio.core.data.formats import (
    Alpaca,
    Chat,
    Completions,
    Format,
    Labeled,
    Preference,
    PretrainRL,
    PretrainSFT,
    Prompts,
    ShareGPT,
    Text,
)
from mlxstudio.core.data.issues import Issue, Problem, error
from mlxstudio.core.data.options import DataOptions
from mlxstudio.core.data.readers import CsvReader, JsonlReader, JsonReader, TextReader
from mlxstudio.core.data.secondme import SecondMe
from mlxstudio.core.errors import UserError

# Detection order: the most specific first (a preference pair also has a "prompt").
FORMATS: dict[str, type[Format]] = {
    f.name: f
    for f in (
        SecondMe,
        Preference,
        Labeled,
        PretrainRL,
        PretrainSFT,
        Alpaca,
        ShareGPT,
        Chat,
        Completions,
        Prompts,
        Text,
    )
}
ALIASES = {
    "openai": "chat",
    "messages": "chat",
    "mlx-pretrain": "mlx-pretrain-sft",
    "second-me": "secondme",
    "dpo": "preference",
}
TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
DATA_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".tsv", *TEXT_SUFFIXES}
MANIFEST = "mlxstudio-dataset.json"  # written by convert; not data
SAMPLE = 50


@dataclass
class FileInfo:
    """What detection found in one file."""

    path: Path
    container: str
    format: str | None
    kind: str | None
    size: int
    fields: list[str] = field(default_factory=list)
    problem: Problem | None = None


def make_format(name: str, options: DataOptions) -> Format:
    """The format called `name` (or an alias), set up with the options."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FORMATS:
        known = ", ".join([*FORMATS, *ALIASES])
        raise UserError(f"unknown data format '{name}'; known formats: {known}")
    return FORMATS[key](options)


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[Issue]]:
    """Data files named by the inputs (folders searched recursively), and what is missing."""
    files: list[Path] = []
    issues: list[Issue] = []
    seen: set[Path] = set()
    for given in inputs:
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in DATA_SUFFIXES
                and p.name != MANIFEST
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                kinds = ", ".join(sorted(DATA_SUFFIXES))
                issues.append(
                    Issue(str(path), 0, "", "no data files in this folder", f"expected {kinds}")
                )
        elif path.is_file():
            kind = not_a_dataset(path)
            if kind:
                hint = "drop a text file of examples (JSONL, JSON, CSV/TSV, .txt or .md)"
                issues.append(Issue(str(path), 0, "", f"not a dataset: {kind}", hint))
                continue
            found = [path]
        else:
            issues.append(Issue(str(path), 0, "", "no such file or folder", "check the path"))
            continue
        for p in found:
            if p.resolve() not in seen:
                seen.add(p.resolve())
                files.append(p)
    return files, issues


# The first bytes of files people drop by mistake (images, documents, archives, models).
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"GGUF", "a GGUF model (import it on the Model page)"),
    (b"\x7fELF", "a program"),
    (b"\xcf\xfa\xed\xfe", "a program"),
    (b"SQLite format 3", "an SQLite database"),
)


def not_a_dataset(path: Path) -> str:
    """What the file is when it is clearly not text data ('' when it may be data)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return ""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if path.suffix.lower() in {".safetensors", ".npz", ".npy", ".bin", ".pt"}:
        return "model weights or an array file"
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "a binary file"
    return ""


def _head(path: Path, size: int = 1 << 16) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size).removeprefix(b"\xef\xbb\xbf").lstrip()


def _first_line_is_json(path: Path, limit: int) -> bool:
    with path.open("rb") as fh:
        line = fh.readline(limit)
    try:
        json.loads(line.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return True


def detect_container(path: Path, options: DataOptions | None = None) -> str:
    """'jsonl', 'json', 'csv', 'tsv' or 'text': by extension, then by the first bytes."""
    options = options or DataOptions()
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    if suffix in TEXT_SUFFIXES:
        return "text"
    head = _head(path)
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        if suffix == ".json" and not _first_line_is_json(path, options.max_record_bytes):
            return "json"  # one pretty-printed object
        return "jsonl"
    return "jsonl" if suffix in (".jsonl", ".ndjson", ".json") else "text"


def open_reader(
    path: Path, container: str, options: DataOptions
) -> JsonlReader | JsonReader | CsvReader | TextReader:
    limit = options.max_record_bytes
    if container == "jsonl":
        return JsonlReader(path, limit)
    if container == "json":
        return JsonReader(path, limit)
    if container in ("csv", "tsv"):
        delimiter = options.delimiter or ("\t" if container == "tsv" else ",")
        return CsvReader(path, limit, delimiter)
    return TextReader(path, limit, options.text_chunk_chars, options.field("text"))


def detect_format(
    records: Iterable[object], options: DataOptions
) -> tuple[str | None, list[str], Problem | None]:
    """The format most of the records match (in detection order), the fields seen, why not."""
    candidates = [cls(options) for cls in FORMATS.values()]
    votes: Counter[str] = Counter()
    fields: list[str] = []
    for record in records:
        if not isinstance(record, dict):
            continue
        fields = fields or list(record)
        for fmt in candidates:
            if fmt.matches(record):
                votes[fmt.name] += 1
                break
    if votes:
        best = max(votes.values())
        return next(n for n in FORMATS if votes[n] == best), fields, None
    if not fields:
        return None, fields, None
    names = ", ".join(repr(f) for f in fields[:12])
    return (
        None,
        fields,
        error(
            "",
            f"can't tell the format: the first record has fields {names}",
            f"name it with --format ({', '.join(FORMATS)}) and map fields with "
            "--field OURS=THEIRS, e.g. --field prompt=question",
            fix="map_fields",
        ),
    )


def describe_file(path: Path, options: DataOptions | None = None) -> FileInfo:
    """Container, format and fields of one file, from its first records."""
    options = options or DataOptions()
    container = detect_container(path, options)
    size = path.stat().st_size
    reader = open_reader(path, container, options)
    sample = list(islice((v for _, v, p in reader if v is not None), SAMPLE))
    if options.format:
        fmt = make_format(options.format, options)
        fields = list(sample[0]) if sample and isinstance(sample[0], dict) else []
        return FileInfo(path, container, fmt.name, fmt.kind, size, fields)
    if container == "text":
        return FileInfo(path, container, "text", "text", size, [options.field("text")])
    name, fields, problem = detect_format(sample, options)
    kind = make_format(name, options).kind if name else None
    return FileInfo(path, container, name, kind, size, fields, problem)


def describe_files(
    inputs: Sequence[str | Path], options: DataOptions | None = None
) -> tuple[list[FileInfo], list[Issue]]:
    """describe_file for every data file the inputs name."""
    files, issues = expand_inputs(inputs)
    return [describe_file(p, options) for p in files], issues
