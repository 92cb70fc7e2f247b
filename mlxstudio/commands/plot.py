"""`mlxstudio plot RUN_DIR [RUN_DIR...] --out FILE.png`: runs' curves as an image, for
people who train headless (core/curves_image.py draws it; the window saves the same)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot",
        help="draw runs' curves (loss, learning rate, tokens/s, memory; reward and KL for RL) "
        "into an image; several runs are overlaid",
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="run folders, or run names under runs/"
    )
    p.add_argument(
        "--out", required=True, metavar="FILE.png", help="the image to write (.png, .svg, .pdf)"
    )
    p.set_defaults(func=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    from mlxstudio.core.curves_image import save_curves

    out = save_curves(args.runs, args.out)
    print(f"Wrote {out}")
    return 0
