"""The evaluation section of a fused or exported model's card (README.md)."""

from __future__ import annotations

from pathlib import Path

from mlxstudio.core import runs

CARD = "README.md"
ROWS = (
    ("test_loss", "Test loss", "{:.3f}"),
    ("perplexity", "Perplexity", "{:.2f}"),
    ("exact_match", "Exact match", "{:.0%}"),
    ("contains_answer", "Contains the answer", "{:.0%}"),
    ("token_f1", "Token F1", "{:.3f}"),
    ("answer_words", "Answer length (words)", "{:.1f}"),
    ("refusal_rate", "Refusals", "{:.0%}"),
    ("mc_accuracy", "Multiple-choice accuracy", "{:.0%}"),
    ("judge_win_rate", "Judge win rate", "{:.0%}"),
)


def figure(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def eval_section(summary: dict) -> str:
    """Markdown: base vs fine-tuned on the run's test data."""
    base, tuned = summary.get("base", {}), summary.get("tuned", {})
    lines = [
        "## Evaluation",
        "",
        f"On `{Path(str(summary.get('data', ''))).name}` "
        f"({tuned.get('examples', 0)} examples), greedy answers:",
        "",
        "| | Base model | Fine-tuned |",
        "|---|---|---|",
    ]
    for key, label, fmt in ROWS:
        if key in base or key in tuned:
            lines.append(
                f"| {label} | {figure(base.get(key), fmt)} | {figure(tuned.get(key), fmt)} |"
            )
    if summary.get("judge_rubric"):
        lines += ["", f"Judge rubric: {summary['judge_rubric']}"]
    return "\n".join(lines) + "\n"


def write_card_section(model_dir: Path, run_dir: Path) -> bool:
    """Add the run's evaluation (run.json) to the card in `model_dir`; False if it has none."""
    summary = runs.read_meta(run_dir).get("eval")
    if not summary or "tuned" not in summary:
        return False
    card = Path(model_dir) / CARD
    text = card.read_text(encoding="utf-8") if card.is_file() else f"# {Path(model_dir).name}\n"
    card.write_text(text.rstrip() + "\n\n" + eval_section(summary), encoding="utf-8")
    return True
