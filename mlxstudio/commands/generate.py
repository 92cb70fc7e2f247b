"""`mlxstudio data generate FOLDER --out DIR`: a dataset from a folder of documents."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from mlxstudio.core.docs.chunks import CHUNK_CHARS, OVERLAP_CHARS
from mlxstudio.core.docs.writers import API_KEY_ENV
from mlxstudio.core.words import count


def register(data: argparse._SubParsersAction) -> None:
    p = data.add_parser(
        "generate",
        help="questions and answers in your voice from a folder of notes (.md .txt .html .pdf)",
        description="Reads the folder's documents, splits them into chunks and asks a model "
        "for question/answer pairs about each, as Second-Me does. Writes merged.json "
        "(Second-Me's format) and chat.jsonl (train on it) into --out. Nothing leaves this "
        "machine unless you give --url. Run it again to continue where it stopped.",
    )
    p.add_argument("folder", help="the folder of documents (searched with its subfolders)")
    p.add_argument("--out", required=True, help="output folder (new, or one this made before)")
    p.add_argument("--username", required=True, help="your name: the questions are yours")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", help="local MLX model folder or name (default: largest installed)")
    src.add_argument("--url", help="an OpenAI-compatible server: the chunks are sent there")
    p.add_argument("--server-model", help="with --url: the server's model name")
    p.add_argument(
        "--api-key-env",
        default=API_KEY_ENV,
        help=f"with --url: env var with the key ({API_KEY_ENV})",
    )
    p.add_argument("--pairs", type=int, default=3, help="questions asked per chunk (3)")
    p.add_argument("--cot", action="store_true", help="answers think first (<think>/<answer>)")
    p.add_argument(
        "--mask-private",
        action="store_true",
        help="mask e-mail addresses, phone, card and bank numbers before the model sees them",
    )
    p.add_argument(
        "--chunk-chars", type=int, default=CHUNK_CHARS, help=f"chunk size ({CHUNK_CHARS})"
    )
    p.add_argument(
        "--overlap", type=int, default=OVERLAP_CHARS, help=f"chunk overlap ({OVERLAP_CHARS})"
    )
    p.add_argument("--restart", action="store_true", help="replace what an earlier run made")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from mlxstudio.core.docs.generate import GenerateOptions, generate

    options = GenerateOptions(
        folder=args.folder,
        out=args.out,
        username=args.username,
        model=args.server_model if args.url else args.model,
        url=args.url,
        api_key_env=args.api_key_env,
        pairs=args.pairs,
        cot=args.cot,
        mask_private=args.mask_private,
        chunk_chars=args.chunk_chars,
        overlap=args.overlap,
        restart=args.restart,
    )
    last = [""]

    def progress(_fraction: float, text: str) -> None:
        if text != last[0]:
            last[0] = text
            print(text, file=sys.stderr, flush=True)

    try:
        result = generate(progress, options)
    except KeyboardInterrupt:
        print(
            f"Stopped. What was made is kept in {args.out}: run the same command to continue.",
            flush=True,
        )
        return 130
    if args.json:
        print(json.dumps(asdict(result), indent=1))
        return 0 if result.errors == 0 else 1
    print(
        f"{count(result.pairs, 'pair')} from {count(result.documents, 'document')} "
        f"({count(result.chunks, 'chunk')}; {result.chunks_done_before} done before; "
        f"{count(result.retries, 'answer')} asked again, "
        f"{result.chunks_skipped} unreadable; {count(result.duplicates, 'duplicate')} dropped) "
        f"in {result.seconds:.0f} s{' by ' + result.writer if result.writer else ''}."
    )
    for problem in result.unreadable_documents:
        print(f"  not read: {problem}")
    print(f"Second-Me: {result.merged}\nChat JSONL: {result.chat}")
    if result.errors:
        print(f"{result.errors} records have errors: mlxstudio data validate {result.chat}")
        return 1
    print(f"Next: mlxstudio data convert {result.chat} --out DATASET_FOLDER, then train on it.")
    return 0
