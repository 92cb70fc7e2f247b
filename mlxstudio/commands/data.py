"""`mlxstudio data inspect|validate|convert|stats`: a thin skin over mlxstudio.core.data."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlxstudio.commands.generate import register as register_generate
from mlxstudio.core.errors import UserError
from mlxstudio.core.words import count

if TYPE_CHECKING:  # the CLI imports core.data only when a data command runs
    from mlxstudio.core.data import DataOptions, Issue, Progress, TokenStats, ValidationReport


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "data", help="inspect, validate, convert and measure datasets"
    ).add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = data.add_parser("inspect", help="detect each file's format; show the first records")
    _inputs(p)
    p.add_argument("--model", help="render through this model's chat template and count tokens")
    p.add_argument("-n", "--count", type=int, default=3, help="records to show per file (3)")
    p.set_defaults(func=cmd_inspect)

    p = data.add_parser("validate", help="check every record; exit 1 if any has an error")
    _inputs(p)
    _model(p, required=False)
    p.add_argument("--max-issues", type=int, help="print at most this many problems")
    p.set_defaults(func=cmd_validate)

    p = data.add_parser("convert", help="write an mlx-lm dataset folder (train/valid/test.jsonl)")
    _inputs(p)
    p.add_argument("--out", required=True, help="output folder (new, or empty)")
    p.add_argument("--valid", type=_split, default=0.1, help="share (0.1) or count (200)")
    p.add_argument("--test", type=_split, default=0.0, help="share or count (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random split (0)")
    p.add_argument("--valid-file", action="append", default=[], help="use as valid split")
    p.add_argument("--test-file", action="append", default=[], help="use as test split")
    p.add_argument("--dedupe", action="store_true", help="leave out exact duplicates")
    p.add_argument("--strict", action="store_true", help="write nothing if any record has errors")
    p.add_argument("--overwrite", action="store_true", help="replace the split files in --out")
    p.add_argument("--max-issues", type=int, help="print at most this many problems")
    p.set_defaults(func=cmd_convert)

    p = data.add_parser("stats", help="token counts and lengths with a model's tokenizer")
    _inputs(p)
    _model(p, required=True)
    p.add_argument("--bins", type=int, default=20, help="histogram bins (20)")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.set_defaults(func=cmd_stats)
    register_generate(data)


def _model(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--model", required=required, help="model folder or name: count its tokens")
    p.add_argument("--max-seq-length", type=int, default=2048, help="training's limit (2048)")


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="PATH", help="data files or folders")
    g = p.add_argument_group("how to read the data (detected when not given)")
    g.add_argument(
        "--format",
        help="chat (openai), sharegpt, alpaca, completions, text, preference, "
        "mlx-pretrain-sft, mlx-pretrain-rl, secondme",
    )
    g.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="OURS=THEIRS",
        help="read our field from yours, e.g. prompt=question (repeatable)",
    )
    g.add_argument("--mlx-pretrain-config", metavar="YAML", help="an MLX-Pretrain sft/rl config")
    g.add_argument("--prompt-format", help="MLX-Pretrain, e.g. '### Instruction:\\n{instruction}'")
    g.add_argument("--response-format", help="MLX-Pretrain, e.g. '{response}'")
    g.add_argument("--system-prompt", help="MLX-Pretrain system prompt")
    g.add_argument("--input-field", help="MLX-Pretrain instruction field")
    g.add_argument("--output-field", help="MLX-Pretrain response field")
    g.add_argument("--reward-field", help="MLX-Pretrain RL reward field")
    g.add_argument("--input-field-optional", action="store_true", help="MLX-Pretrain: may lack it")
    g.add_argument("--username", help="Second-Me: the person the model speaks for")
    g.add_argument("--cot", action="store_true", help="Second-Me: chain-of-thought prompts")
    g.add_argument("--chunk-chars", type=int, help="text files: characters a record (4000)")
    g.add_argument("--delimiter", help="CSV delimiter (default ',' and tab for .tsv)")
    g.add_argument("--max-record-mb", type=float, help="largest record read (16 MB)")


def _split(value: str) -> float | int:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: give a share (0.1) or a count (200)"
        ) from None
    if number.is_integer() and "." not in value:
        return int(number)
    return number


def _options(args: argparse.Namespace) -> tuple[DataOptions, list[str], list[str]]:
    """DataOptions, inputs and validation inputs from the flags (and an MLX-Pretrain config)."""
    from mlxstudio.core.data.options import (
        DataOptions,
        options_from_mlx_pretrain,
        parse_field_mapping,
    )

    options = DataOptions(fields=parse_field_mapping(args.field))
    inputs, valid = list(args.inputs), []
    if args.mlx_pretrain_config:
        import yaml

        path = Path(args.mlx_pretrain_config)
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise UserError(f"{path}: can't read the config ({err})") from None
        data: Any = config.get("data") if isinstance(config, dict) else None
        options = options_from_mlx_pretrain(data, options)
        if not inputs and data.get("input_file"):
            inputs = [_near(str(data["input_file"]), path)]
            if data.get("validation_file"):
                valid = [_near(str(data["validation_file"]), path)]
    fields = dict(options.fields)
    for ours, flag in (
        ("instruction", "input_field"),
        ("response", "output_field"),
        ("reward", "reward_field"),
    ):
        if getattr(args, flag):
            fields[ours] = getattr(args, flag)
    if args.reward_field and not args.format and options.format != "mlx-pretrain-rl":
        options = replace(options, format="mlx-pretrain-rl")
    changes: dict[str, Any] = {
        "fields": fields,
        "format": args.format or options.format,
        "username": args.username,
        "cot": args.cot,
        "input_field_optional": args.input_field_optional or options.input_field_optional,
    }
    for key in ("prompt_format", "response_format", "system_prompt", "delimiter"):
        value = getattr(args, key)
        if value is not None:  # '\n' and '\t' typed in a shell mean newline and tab
            changes[key] = value.replace("\\n", "\n").replace("\\t", "\t")
    if args.chunk_chars is not None:
        changes["text_chunk_chars"] = args.chunk_chars
    if args.max_record_mb is not None:
        changes["max_record_bytes"] = int(args.max_record_mb * 1e6)
    if not inputs:
        raise UserError("no data given: name one or more files or folders")
    return replace(options, **changes), inputs, valid


def _near(name: str, config: Path) -> str:
    """A path from a config: as given if it exists, else next to the config."""
    return name if Path(name).exists() else str(config.parent / name)


class _Printer:
    """Issues as they come (FILE:LINE: field: message (hint)), and progress on a terminal."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.printed, self.hidden = limit, 0, 0
        self.tty = sys.stderr.isatty()

    def issue(self, issue: Issue) -> None:
        if self.limit is not None and self.printed >= self.limit:
            self.hidden += 1
            return
        self.clear()
        print(issue, flush=False)
        self.printed += 1

    def progress(self, p: Progress) -> None:
        if self.tty and p.bytes_total:
            line = f"{p.fraction:6.1%}  {p.records:,} records  {Path(p.file).name}"
            print(f"\r{line[:78]:78}", end="", file=sys.stderr, flush=True)

    def clear(self) -> None:
        if self.tty:
            print("\r" + " " * 78 + "\r", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        self.clear()
        sys.stdout.flush()
        if self.hidden:
            print(f"... and {self.hidden:,} more problem(s) not shown (--max-issues)")


def _summary(report: ValidationReport) -> None:
    for f in report.files:
        parts = [count(f.records, "record")]
        for n, label in ((f.skipped, "left out"), (f.dropped, "dropped")):
            if n:
                parts.append(f"{n:,} {label}")
        for n, word in ((f.errors, "error"), (f.warnings, "warning")):
            if n:
                parts.append(count(n, word))
        print(f"{f.path}: {f.format or 'unknown format'}, {', '.join(parts)}")
    dups = f" ({count(report.duplicates, 'duplicate')})" if report.duplicates else ""
    print(
        f"{count(report.records, 'record')} in {count(len(report.files), 'file')}, "
        f"{report.elapsed:.2f} s: {count(report.errors, 'error')}, "
        f"{count(report.warnings, 'warning')}{dups}"
    )


def _tokens_line(t: TokenStats) -> str:
    return (
        f"tokens: {t.tokens:,} in {count(t.records, 'record')}; min {t.min:,}, "
        f"median {t.median:,.0f}, p95 {t.p95:,.0f}, max {t.max:,}; {t.truncated:,} "
        f"({t.truncated_share:.1%}) over max_seq_length {t.max_seq_length:,}, "
        f"{t.tokens_cut:,} tokens would be cut"
    )


def cmd_inspect(args: argparse.Namespace) -> int:
    from mlxstudio.core.data.detect import describe_files
    from mlxstudio.core.data.preview import preview
    from mlxstudio.core.data.tokens import TokenCounter

    options, inputs, _ = _options(args)
    infos, missing = describe_files(inputs, options)
    for issue in missing:
        print(issue)
    counter = TokenCounter(args.model) if args.model else None
    for info in infos:
        fields = ", ".join(info.fields[:12])
        print(
            f"{info.path} ({info.container}, {info.size / 1e6:,.2f} MB): "
            f"{info.format or 'unknown format'}; fields: {fields or '-'}"
        )
        if info.problem:
            print(f"{info.path}: {info.problem.message} ({info.problem.hint})")
            continue
        for rec in preview([info.path], options, model=counter, count=args.count):
            tokens = f", {rec.tokens:,} tokens" if rec.tokens is not None else ""
            print(f"--- {rec.file}:{rec.line} ({rec.format} -> {rec.kind}{tokens})")
            print(rec.rendered)
            for issue in rec.issues:
                print(issue)
        print()
    return 1 if missing else 0


def cmd_validate(args: argparse.Namespace) -> int:
    from mlxstudio.core.data.validate import validate

    options, inputs, valid = _options(args)
    out = _Printer(args.max_issues)
    report = validate(
        inputs + valid,
        options,
        model=args.model,
        max_seq_length=args.max_seq_length,
        on_issue=out.issue,
        progress=out.progress,
        max_issues=0,
    )
    out.done()
    _summary(report)
    if report.tokens is not None:
        print(_tokens_line(report.tokens))
    return 0 if report.ok else 1


def cmd_convert(args: argparse.Namespace) -> int:
    from mlxstudio.core.data.convert import convert

    options, inputs, valid = _options(args)
    out = _Printer(args.max_issues)
    result = convert(
        inputs,
        args.out,
        options,
        valid=args.valid,
        test=args.test,
        seed=args.seed,
        valid_inputs=valid + args.valid_file,
        test_inputs=args.test_file,
        dedupe=args.dedupe,
        strict=args.strict,
        overwrite=args.overwrite,
        on_issue=out.issue,
        progress=out.progress,
    )
    out.done()
    _summary(result.report)
    split = ", ".join(f"{name} {n:,}" for name, n in result.counts.items() if n)
    removed = (
        f"; {result.duplicates_removed:,} duplicates left out" if result.duplicates_removed else ""
    )
    print(f"Wrote {result.out} ({result.kind}): {split}{removed}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from mlxstudio.core.data.validate import token_stats

    options, inputs, valid = _options(args)
    out = _Printer(0)
    result = token_stats(
        inputs + valid,
        args.model,
        options,
        max_seq_length=args.max_seq_length,
        bins=args.bins,
        on_issue=out.issue,
        progress=out.progress,
    )
    out.clear()
    if args.json:
        data = {
            "total": result.total.to_dict(),
            "files": {k: v.to_dict() for k, v in result.files.items()},
        }
        print(json.dumps(data, indent=2))
        return 0
    for name, stats in result.files.items():
        print(f"{name}: {_tokens_line(stats)}")
    print(f"all: {_tokens_line(result.total)}")
    peak = max((b.count for b in result.total.histogram), default=0)
    for b in result.total.histogram:
        bar = "#" * round(40 * b.count / peak) if peak else ""
        mark = "  <- max_seq_length" if b.low <= args.max_seq_length < b.high else ""
        print(f"{b.low:>8,}-{b.high - 1:<8,} {b.count:>9,} {bar}{mark}")
    if result.validation.errors:
        print(f"({result.validation.errors:,} records with errors not counted; see validate)")
    return 0
