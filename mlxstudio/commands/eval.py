"""`mlxstudio eval TARGET`: is the fine-tuned model better than its base? (core.eval)"""

from __future__ import annotations

import argparse
import json
import sys

from mlxstudio.core.eval.card import ROWS, figure


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a run (base vs fine-tuned) or a model on test data",
        description="Test loss and perplexity (masked as in training), greedy answers scored "
        "against the reference (exact match, contains-answer, token F1, length, refusals), "
        "multiple-choice accuracy by log-likelihood, lm-eval tasks, and an optional judge.",
    )
    p.add_argument("target", metavar="TARGET", help="a run directory, or a model folder or name")
    p.add_argument(
        "--data", metavar="FILE", help="test examples (JSONL); a run's test split by default"
    )
    p.add_argument(
        "--choices",
        metavar="FILE",
        help="multiple-choice questions, {question, choices, answer} per line; "
        "'sample' for the bundled ones",
    )
    p.add_argument("--no-answers", action="store_true", help="skip the greedy answers (loss only)")
    p.add_argument("--limit", type=int, metavar="N", help="answer at most N test prompts")
    p.add_argument("--judge", metavar="URL", help="OpenAI-compatible server whose model judges")
    p.add_argument("--judge-model", metavar="NAME", help="the judge's model name on that server")
    p.add_argument("--judge-key", metavar="KEY", help="API key of the judge's server")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="lm-eval tasks (needs lm-eval)")
    p.add_argument("--task-limit", type=int, metavar="N", help="examples per lm-eval task")
    p.add_argument("--json", action="store_true", help='print {"base": {...}, "tuned": {...}}')
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from mlxstudio.core.eval.judge import Judge
    from mlxstudio.core.eval.report import Options, evaluate

    judge = Judge(args.judge, args.judge_model, args.judge_key) if args.judge else None
    options = Options(
        data=args.data,
        choices=args.choices,
        answers=not args.no_answers,
        limit=args.limit,
        judge=judge,
        tasks=args.tasks or [],
        task_limit=args.task_limit,
    )
    shown = {"text": "", "tenth": -1}

    def progress(fraction: float, text: str) -> None:
        tenth = int(fraction * 10)
        if args.json or (text == shown["text"] and tenth == shown["tenth"]):
            return  # a line per stage and per tenth of the work
        shown.update(text=text, tenth=tenth)
        print(f"[{fraction:4.0%}] {text}", file=sys.stderr, flush=True)

    try:
        report = evaluate(args.target, options, progress)
    except KeyboardInterrupt:
        print("mlxstudio: evaluation cancelled", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def format_report(report: dict) -> str:
    sides = [s for s in ("base", "tuned", "model") if s in report]
    heads = {"base": "Base", "tuned": "Fine-tuned", "model": "Model"}
    lines = [f"{report['target']} on {report['data']}", ""]
    lines.append(f"{'':28}" + "".join(f"{heads[s]:>14}" for s in sides))
    for key, label, fmt in ROWS:
        if any(key in report[s] for s in sides):
            values = "".join(f"{figure(report[s].get(key), fmt):>14}" for s in sides)
            lines.append(f"{label:28}{values}")
    changed = [r for r in report.get("examples", []) if "tuned" in r][:3]
    for row in changed:
        lines += ["", f"Q: {row['question']}", f"  reference:  {row['reference']}"]
        for side in ("base", "tuned"):
            lines.append(f"  {heads[side].lower() + ':':11} {row[side]['answer']}")
    return "\n".join(lines)
