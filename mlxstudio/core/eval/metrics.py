"""Scores of one answer against its reference (SQuAD-style normalisation), and refusals."""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
# Phrases of a model declining to answer, lower-case, checked at the answer's start.
REFUSALS = (
    "i can't",
    "i cannot",
    "i can not",
    "i'm sorry",
    "i am sorry",
    "sorry, i",
    "i'm unable",
    "i am unable",
    "i won't",
    "i will not",
    "as an ai",
    "i'm not able",
    "i am not able",
)


def normalize(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def exact_match(answer: str, reference: str) -> float:
    return float(normalize(answer) == normalize(reference))


def contains_answer(answer: str, reference: str) -> float:
    ref = normalize(reference)
    return float(bool(ref) and ref in normalize(answer))


def token_f1(answer: str, reference: str) -> float:
    """Harmonic mean of word precision and recall after normalisation."""
    got, want = normalize(answer).split(), normalize(reference).split()
    if not got or not want:
        return float(got == want)
    common = sum((Counter(got) & Counter(want)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def is_refusal(answer: str) -> bool:
    head = answer.strip().lower().replace("’", "'")[:80]
    return any(head.startswith(p) or f" {p}" in head[:40] for p in REFUSALS)


def score(answer: str, reference: str) -> dict[str, float]:
    return {
        "exact_match": exact_match(answer, reference),
        "contains_answer": contains_answer(answer, reference),
        "token_f1": token_f1(answer, reference),
        "answer_words": float(len(answer.split())),
        "refusal": float(is_refusal(answer)),
    }


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
