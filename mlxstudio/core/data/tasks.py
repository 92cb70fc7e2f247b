"""The Data page's slow steps as plain functions `fn(progress, *args)`, which the window runs
in a child process (engine/task.py): checking, measuring token lengths, preparing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlxstudio.core.data.convert import ConvertResult, convert
from mlxstudio.core.data.detect import FileInfo, describe_files
from mlxstudio.core.data.options import DataOptions
from mlxstudio.core.data.preview import PreviewRecord, preview
from mlxstudio.core.data.validate import StatsReport, ValidationReport, token_stats, validate

Report = Callable[[float, str], None]
PREVIEW_ROWS = 30


def is_dataset_folder(path: Path) -> bool:
    """Already in mlx-lm's layout: a folder with train.jsonl (and usually valid.jsonl)."""
    return path.is_dir() and (path / "train.jsonl").is_file()


def data_files(inputs: list[Path]) -> list[Path]:
    """An mlx-lm dataset folder is its split files (other files there are not data)."""
    if len(inputs) == 1 and is_dataset_folder(inputs[0]):
        folder = inputs[0]
        return [folder / f"{n}.jsonl" for n in SPLITS if (folder / f"{n}.jsonl").is_file()]
    return list(inputs)


SPLITS = ("train", "valid", "test")


@dataclass
class Checked:
    report: ValidationReport
    records: list[PreviewRecord]
    files: list[FileInfo]  # format and first record's fields of each file


def check(progress: Report, inputs: list[Path], options: DataOptions) -> Checked:
    files = data_files(inputs)
    report = validate(files, options, progress=lambda p: progress(p.fraction, p.file))
    infos = describe_files(files, options)[0] if report.files else []
    records = preview(files, options, count=PREVIEW_ROWS) if report.records else []
    return Checked(report, records, infos)


def lengths(
    progress: Report, inputs: list[Path], model: Path, options: DataOptions, limit: int
) -> StatsReport:
    return token_stats(
        data_files(inputs),
        model,
        options,
        max_seq_length=limit,
        progress=lambda p: progress(p.fraction, p.file),
    )


def prepare(
    progress: Report,
    inputs: list[Path],
    out: Path,
    options: DataOptions,
    split: tuple[float, float, int],
    dedupe: bool,
) -> ConvertResult:
    valid, test, seed = split
    return convert(
        data_files(inputs),
        out,
        options,
        valid=valid,
        test=test,
        seed=seed,
        dedupe=dedupe,
        progress=lambda p: progress(p.fraction, p.file),
    )
