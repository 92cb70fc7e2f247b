"""`mlxstudio push RUN_DIR_OR_MODEL --repo user/name [--private]`: publish to the Hugging
Face Hub with a model card written from the run (core/push.py)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "push",
        help="publish a run (fused into its base model, or --adapter-only) or a model folder "
        "to the Hugging Face Hub, with a model card from the run",
    )
    p.add_argument("source", metavar="RUN_DIR_OR_MODEL", help="a run folder or model folder")
    p.add_argument(
        "--repo",
        required=True,
        metavar="USER/NAME",
        help="the Hub repo to create or update (a bare NAME goes under the token's user)",
    )
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument(
        "--adapter-only",
        action="store_true",
        help="publish only the run's adapters (small; loading them needs the base model)",
    )
    p.add_argument(
        "--license",
        metavar="ID",
        help="the card's license (default: the base model's, else 'other')",
    )
    p.add_argument(
        "--token",
        metavar="TOKEN",
        help="a Hub token with write access (default: HF_TOKEN or `hf auth login`'s)",
    )
    p.set_defaults(func=cmd_push)


def cmd_push(args: argparse.Namespace) -> int:
    from mlxstudio.core.push import push

    url = push(
        args.source,
        args.repo,
        private=args.private,
        token=args.token,
        adapter_only=args.adapter_only,
        license=args.license,
        progress=lambda _fraction, text: print(text, file=sys.stderr, flush=True),
    )
    print(url)
    return 0
