"""A judge model (any OpenAI-compatible server: `mlxstudio serve`, or a URL the user gives)
compares the base and the tuned answer to each test prompt; the rubric is kept with the
verdicts. The two answers swap places on every other prompt, against position bias."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mlxstudio.core.eval.data import QA
from mlxstudio.core.serve.client import base_url, chat

RUBRIC = (
    "You are a strict, impartial judge of answers to a user's question. You see the "
    "question, a reference answer, and two candidate answers, A and B. Prefer the answer "
    "that is correct, agrees with the reference in content and style, and is helpful and "
    "concise. Ignore answer order and length for its own sake. Reply with exactly one word: "
    "A, B, or TIE."
)
_VERDICT = re.compile(r"\b(A|B|TIE)\b", re.IGNORECASE)


@dataclass
class Judge:
    url: str
    model: str | None = None
    api_key: str | None = None
    rubric: str = RUBRIC


def _prompt(pair: QA, first: str, second: str) -> str:
    return (
        f"Question:\n{pair.question}\n\nReference answer:\n{pair.reference}\n\n"
        f"Answer A:\n{first}\n\nAnswer B:\n{second}\n\nWhich answer is better: A, B, or TIE?"
    )


def verdict(text: str) -> str:
    """'A', 'B' or 'TIE' from a judge's reply; anything else counts as a tie."""
    found = _VERDICT.search(text.strip())
    return found.group(1).upper() if found else "TIE"


def judge_answers(
    judge: Judge,
    pairs: list[QA],
    base: list[str],
    tuned: list[str],
    step: Callable[[int], None] | None = None,
) -> dict:
    """Win rates of base and tuned (a tie counts half to each) and every verdict."""
    verdicts = []
    for i, (pair, b, t) in enumerate(zip(pairs, base, tuned, strict=True)):
        swapped = i % 2 == 1  # tuned is A on odd prompts
        first, second = (t, b) if swapped else (b, t)
        reply = chat(
            judge.url,
            _prompt(pair, first, second),
            system=judge.rubric,
            temperature=0.0,
            max_tokens=8,
            model=judge.model,
            api_key=judge.api_key,
            timeout=120,
        )
        said = verdict(reply)
        winner = "tie" if said == "TIE" else ("tuned" if (said == "A") == swapped else "base")
        verdicts.append({"index": i, "winner": winner, "reply": reply.strip()[:200]})
        if step is not None:
            step(1)
    n = len(verdicts) or 1
    wins = {side: sum(v["winner"] == side for v in verdicts) for side in ("base", "tuned")}
    ties = sum(v["winner"] == "tie" for v in verdicts)
    return {
        "url": base_url(judge.url),
        "model": judge.model,
        "rubric": judge.rubric,
        "win_rate": {side: (wins[side] + ties / 2) / n for side in wins},
        "ties": ties,
        "verdicts": verdicts,
    }
