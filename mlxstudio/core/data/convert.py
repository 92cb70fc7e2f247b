"""Convert: any supported data -> an mlx-lm dataset folder (train/valid/test.jsonl).

Two streaming passes: the first validates and writes every good record, already converted,
to a scratch file; the second deals those lines into the splits with a seeded, exact-size
random selection (Knuth's algorithm S). No record is held in memory; the duplicate check
keeps 16 bytes a record.
Everything is written in a scratch folder beside the output and renamed into place at the
end: a failed or cancelled run leaves nothing half-written, and the inputs are never touched.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mlxstudio.core.data.detect import MANIFEST, describe_file, expand_inputs
from mlxstudio.core.data.issues import Issue
from mlxstudio.core.data.options import DataOptions
from mlxstudio.core.data.validate import Duplicates, Progress, ValidationReport, scan
from mlxstudio.core.errors import UserError

SPLITS = ("train", "valid", "test")
Split = float | int  # a share (0 <= x < 1) or a number of records


@dataclass
class ConvertResult:
    out: Path
    kind: str
    counts: dict[str, int]
    report: ValidationReport
    duplicates_removed: int = 0
    files: list[Path] = field(default_factory=list)


def convert(
    inputs: Sequence[str | Path],
    out: str | Path,
    options: DataOptions | None = None,
    *,
    valid: Split = 0.1,
    test: Split = 0.0,
    seed: int = 0,
    valid_inputs: Sequence[str | Path] = (),
    test_inputs: Sequence[str | Path] = (),
    dedupe: bool = False,
    strict: bool = False,
    overwrite: bool = False,
    on_issue: Callable[[Issue], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> ConvertResult:
    """Write `out`/train.jsonl, valid.jsonl and (if any) test.jsonl from the inputs.

    `valid`/`test`: a share of the records (0.1) or a count (200), drawn with `seed`;
    ignored for a split whose records come from `valid_inputs`/`test_inputs`. Records with
    errors are left out and reported (or, with `strict`, nothing is written).
    """
    options = options or DataOptions()
    out = Path(out).expanduser()
    groups = {"train": list(inputs), "valid": list(valid_inputs), "test": list(test_inputs)}
    files = _check_inputs(groups)
    _check_output(out, [Path(p).expanduser() for g in groups.values() for p in g], overwrite)
    kind = _target_kind(files, options)

    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        report = ValidationReport()
        seen = Duplicates()
        sizes = {}
        for name, group in groups.items():
            with (tmp / f"{name}.scratch").open("wb") as fh:
                sizes[name] = _write_group(
                    group, fh, options, kind, report, seen, on_issue, progress
                )
        hint = "left out (--dedupe)" if dedupe else "drop it, or convert with --dedupe"
        drop = seen.report(report, on_issue, hint, fix="" if dedupe else "dedupe")
        if strict and report.errors:
            raise UserError(
                f"{report.errors} error(s) in the data, nothing written; fix them, or convert "
                "without --strict to leave those records out"
            )
        if not sum(sizes.values()):
            raise UserError("no usable records in the input; nothing written")
        counts = _deal(tmp, sizes, drop if dedupe else [], valid, test, seed)
        if not counts["train"]:
            raise UserError("no records left for train.jsonl; nothing written")
        _write_manifest(tmp, groups, report, kind, counts, options, valid, test, seed, dedupe)
        _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    written = [out / f"{s}.jsonl" for s in SPLITS if counts[s]]
    removed = len(drop) if dedupe else 0
    return ConvertResult(out, kind, counts, report, removed, written)


def _check_inputs(groups: dict[str, list]) -> list[Path]:
    everything = [p for g in groups.values() for p in g]
    if not everything:
        raise UserError("no input given")
    files, missing = expand_inputs(everything)
    if missing:
        raise UserError(str(missing[0]))
    return files


def _check_output(out: Path, inputs: list[Path], overwrite: bool) -> None:
    target = out.resolve()
    for given in inputs:
        source = given.resolve()
        if target == source or target in source.parents:
            raise UserError(
                f"{out}: the output folder holds the input {given}; "
                "pick a new folder, so the input is never overwritten"
            )
        if source.is_dir() and source in target.parents:
            raise UserError(
                f"{out}: the output folder is inside the input folder {given}, so its files "
                "would be read as input next time; pick a folder outside it"
            )
    if target.exists() and not target.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise UserError(f"{out}: the folder exists and is not empty; pick a new one or --overwrite")


def _target_kind(files: list[Path], options: DataOptions) -> str:
    """One output kind for all files: mlx-lm reads a file's format from its first record."""
    infos = [describe_file(p, options) for p in files]
    kinds = {i.kind for i in infos if i.kind}
    if any(i.format == "secondme" for i in infos) and not options.username:
        raise UserError(
            "Second-Me data needs a username (--username NAME): the prompts name them",
            fix="username",
        )
    if len(kinds) > 1 and kinds != {"chat", "completions"}:
        listing = "; ".join(f"{i.path}: {i.kind}" for i in infos if i.kind)
        raise UserError(
            f"these files hold different kinds of data ({listing}); one dataset holds one "
            "kind: convert them separately"
        )
    if kinds == {"chat", "completions"}:
        return "chat"  # the same to mlx-lm: it renders completions through the chat template
    return kinds.pop() if kinds else "chat"


def _as_kind(record: dict, kind: str) -> dict:
    if kind == "chat" and "prompt" in record and "completion" in record:
        messages = [
            {"role": "user", "content": record["prompt"]},
            {"role": "assistant", "content": record["completion"]},
        ]
        rest = {k: v for k, v in record.items() if k not in ("prompt", "completion")}
        return {"messages": messages, **rest}
    return record


def _write_group(
    inputs: list,
    fh: BinaryIO,
    options: DataOptions,
    kind: str,
    report: ValidationReport,
    seen: Duplicates,
    on_issue: Callable[[Issue], None] | None,
    progress: Callable[[Progress], None] | None,
) -> int:
    dumps, count = json.dumps, 0
    if not inputs:
        return 0
    for ex in scan(inputs, options, report, on_issue, progress):
        record = _as_kind(ex.record, kind)
        fh.write(dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        seen.add(ex)
        count += 1
    return count


def split_sizes(n: int, valid: Split, test: Split) -> tuple[int, int]:
    """How many of n records go to valid and test: shares are rounded, at least one each."""

    def size(x: Split, what: str) -> int:
        if isinstance(x, bool) or x < 0:
            raise UserError(f"{what}: {x!r} is not a share (0 to 1) nor a count of records")
        if isinstance(x, int):
            return x
        if x >= 1:
            raise UserError(f"{what}: a share must be below 1 (got {x}); for a count, give 200")
        k = round(n * x)
        return 1 if x > 0 and k == 0 and n >= 2 else k

    k_valid, k_test = size(valid, "valid"), size(test, "test")
    if k_valid + k_test >= n and n:
        raise UserError(
            f"only {n} record(s): holding out {k_valid} for validation and {k_test} for test "
            "leaves none to train on; lower --valid/--test",
            fix="split",
        )
    return k_valid, k_test


def _deal(
    tmp: Path, sizes: dict[str, int], drop: list[int], valid: Split, test: Split, seed: int
) -> dict[str, int]:
    """Scratch files -> split files, leaving out the `drop` indices (ascending)."""
    drop_set = set(drop)
    base = {"train": 0, "valid": sizes["train"], "test": sizes["train"] + sizes["valid"]}
    kept = sizes["train"] - sum(1 for i in drop if i < sizes["train"])
    k_valid, k_test = split_sizes(
        kept, 0 if sizes["valid"] else valid, 0 if sizes["test"] else test
    )
    rng = random.Random(seed)
    counts = dict.fromkeys(SPLITS, 0)
    outs: dict[str, BinaryIO] = {}

    def emit(split: str, line: bytes) -> None:
        if split not in outs:
            outs[split] = (tmp / f"{split}.jsonl").open("wb")
        outs[split].write(line)
        counts[split] += 1

    try:
        for name in SPLITS:
            remaining = kept if name == "train" else 0
            with (tmp / f"{name}.scratch").open("rb") as fh:
                for index, line in enumerate(fh, start=base[name]):
                    if index in drop_set:
                        continue
                    if name != "train":
                        emit(name, line)
                        continue
                    # Algorithm S: each line goes to valid/test with the odds that leave
                    # exactly k_valid/k_test picked, uniformly, in one pass.
                    u = rng.random() * remaining
                    remaining -= 1
                    if u < k_valid:
                        k_valid -= 1
                        emit("valid", line)
                    elif u < k_valid + k_test:
                        k_test -= 1
                        emit("test", line)
                    else:
                        emit("train", line)
            (tmp / f"{name}.scratch").unlink()
    finally:
        for fh in outs.values():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
    return counts


def _write_manifest(
    tmp: Path,
    groups: dict[str, list],
    report: ValidationReport,
    kind: str,
    counts: dict[str, int],
    options: DataOptions,
    valid: Split,
    test: Split,
    seed: int,
    dedupe: bool,
) -> None:
    from mlxstudio import __version__

    opts: dict[str, Any] = {
        k: v for k, v in asdict(options).items() if v != getattr(DataOptions(), k)
    }
    manifest = {
        "created_by": f"mlxstudio {__version__} data convert",
        "kind": kind,
        "records": counts,
        "split": {"valid": valid, "test": test, "seed": seed, "dedupe": dedupe},
        "inputs": {k: [str(p) for p in v] for k, v in groups.items() if v},
        "sources": [
            {"file": f.path, "format": f.format, "records": f.records, "skipped": f.skipped}
            for f in report.files
        ],
        "errors": report.errors,
        "warnings": report.warnings,
        "duplicates": report.duplicates,
        "options": opts,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished files into `out`: one rename for a new folder, else file by file."""
    if out.is_dir() and any(out.iterdir()):
        for name in [*(f"{s}.jsonl" for s in SPLITS), MANIFEST]:
            if (tmp / name).exists():
                os.replace(tmp / name, out / name)
            elif (out / name).exists():
                (out / name).unlink()  # a split an earlier conversion made, now stale
        return
    if out.is_dir():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
