"""`mlxstudio fuse|export|serve|chat|test-prompts`: a thin skin over mlxstudio.core.serve,
core.fuse and core.export."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlxstudio.core.errors import UserError

API_KEY_ENV = "MLXSTUDIO_API_KEY"  # same as core.serve.server.API_KEY_ENV (no MLX import here)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fuse", help="fuse a run's adapter into a standalone model folder")
    p.add_argument("run_dir", help="the run directory (or an adapter folder)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--dequantize", action="store_true", help="write full-precision weights")
    p.set_defaults(func=cmd_fuse)

    p = subparsers.add_parser(
        "export", help="export a run as a fused MLX folder (and a GGUF + Ollama Modelfile)"
    )
    p.add_argument("run_dir", help="the run directory (or an adapter folder)")
    p.add_argument("--out", required=True, help="output folder (new, or empty)")
    p.add_argument("--gguf", action="store_true", help="also write model.gguf and a Modelfile")
    p.add_argument(
        "--gguf-type",
        type=str.upper,
        help="GGUF weights (implies --gguf): F16 (default), BF16, Q8_0, Q4_0; "
        "Q4_K_M, Q5_K_M with llama-cpp-python installed",
    )
    p.add_argument("--base", help="base model (default: the one the run was trained on)")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("serve", help="serve a model over an OpenAI-compatible API")
    p.add_argument("model", help="model folder or local model name")
    p.add_argument("--adapter", help="run directory or adapter folder to apply")
    p.add_argument("--port", type=int, default=8080, help="port (0: a free one; default 8080)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument(
        "--allow-network",
        action="store_true",
        help="allow a --host other machines can reach (e.g. 0.0.0.0)",
    )
    _api_key(p, "require this key from clients (Authorization: Bearer KEY)")
    # Set by the app: exit when that process dies, so no server outlives it.
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_serve)

    p = subparsers.add_parser("chat", help="send one chat request to a served model")
    p.add_argument("question")
    p.add_argument("--url", default="http://127.0.0.1:8080/v1", help="server URL")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, default=256)
    _api_key(p, "the server's API key")
    p.set_defaults(func=cmd_chat)

    p = subparsers.add_parser(
        "test-prompts", help="answer a list of prompts with a model; save the answers as JSONL"
    )
    p.add_argument("model", help="model folder or local model name")
    p.add_argument("--adapter", metavar="RUN", help="run directory or adapter folder to apply")
    p.add_argument(
        "--prompts", required=True, help="a .txt (one prompt a line), .jsonl or .json list"
    )
    p.add_argument("--out", help="answers file (default: RUN/test_prompts/answers-TIME.jsonl)")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, default=128)
    p.set_defaults(func=cmd_test_prompts)


def _api_key(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument(
        "--api-key", default=os.environ.get(API_KEY_ENV) or None, help=f"{help} [{API_KEY_ENV}]"
    )


def _progress(message: str) -> None:
    print(message, flush=True)


def cmd_fuse(args: argparse.Namespace) -> int:
    from mlxstudio.core.fuse import fuse

    out = fuse(Path(args.run_dir), Path(args.out), dequantize=args.dequantize, progress=_progress)
    print(f"Fused model written to {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mlxstudio.core.export import export

    result = export(
        Path(args.run_dir),
        Path(args.out),
        gguf=args.gguf or args.gguf_type is not None,
        quant=args.gguf_type or "F16",
        base=args.base,
        progress=_progress,
    )
    print(f"MLX model folder: {result.mlx_dir}")
    if result.gguf is not None:
        print(f"GGUF: {result.gguf}")
        print(f"Ollama Modelfile: {result.modelfile} (ollama create NAME -f {result.modelfile})")
    for note in result.notes:
        print(note)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.local import resolve_model
    from mlxstudio.core.serve.server import check_host, serve

    if args.parent_pid:
        from mlxstudio.core.serve.lifeline import exit_with_parent

        exit_with_parent(args.parent_pid)
    check_host(args.host, args.allow_network)  # before the slow load
    model = str(resolve_model(args.model))
    print(f"Loading {model}", flush=True)

    def ready(url: str) -> None:
        print(f"Serving {model} at {url}", flush=True)
        if args.api_key:
            print("Clients must send the API key (Authorization: Bearer KEY).", flush=True)
        if args.allow_network:
            print(f"Reachable from the network on {args.host}:{url.rsplit(':')[-1]}", flush=True)

    serve(
        model,
        adapter=args.adapter,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        allow_network=args.allow_network,
        on_ready=ready,
    )
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from mlxstudio.core.serve.client import chat

    answer = chat(
        args.url,
        args.question,
        system=args.system,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        api_key=args.api_key,
    )
    print(answer)
    return 0


def cmd_test_prompts(args: argparse.Namespace) -> int:
    from mlxstudio.core.models.local import resolve_model
    from mlxstudio.core.serve.prompts import answers_path, read_prompts, run_test_prompts

    prompts = read_prompts(Path(args.prompts))
    if args.out:
        out = Path(args.out)
    elif args.adapter:
        out = answers_path(Path(args.adapter))
    else:
        raise UserError("without --adapter there is no run directory: give --out FILE")
    run_test_prompts(
        resolve_model(args.model),
        Path(args.adapter) if args.adapter else None,
        prompts,
        out,
        system=args.system,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        progress=_progress,
    )
    print(f"Answers to {len(prompts)} prompts written to {out}", flush=True)
    return 0
