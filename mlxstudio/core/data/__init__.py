"""Datasets: detect, read, validate (file:line problems), preview, convert to the mlx-lm
layout, and token statistics. Nothing here imports Qt; MLX is loaded only for tokens."""

from mlxstudio.core.data.convert import ConvertResult, convert, split_sizes
from mlxstudio.core.data.detect import (
    FORMATS,
    FileInfo,
    describe_file,
    describe_files,
    detect_container,
    expand_inputs,
    make_format,
)
from mlxstudio.core.data.issues import Issue, Problem
from mlxstudio.core.data.options import DataOptions, options_from_mlx_pretrain
from mlxstudio.core.data.preview import PreviewRecord, preview, render_plain
from mlxstudio.core.data.stats import TokenStats, summarize
from mlxstudio.core.data.validate import (
    Example,
    FileReport,
    Progress,
    StatsReport,
    ValidationReport,
    scan,
    token_stats,
    validate,
)

__all__ = [
    "FORMATS",
    "ConvertResult",
    "DataOptions",
    "Example",
    "FileInfo",
    "FileReport",
    "Issue",
    "PreviewRecord",
    "Problem",
    "Progress",
    "StatsReport",
    "TokenStats",
    "ValidationReport",
    "convert",
    "describe_file",
    "describe_files",
    "detect_container",
    "expand_inputs",
    "make_format",
    "options_from_mlx_pretrain",
    "preview",
    "render_plain",
    "scan",
    "split_sizes",
    "summarize",
    "token_stats",
    "validate",
]
