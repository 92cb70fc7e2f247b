"""Greedy answers to the test prompts, scored against the reference answers."""

from __future__ import annotations

from collections.abc import Callable

from mlxstudio.core.eval import metrics
from mlxstudio.core.eval.data import QA

MAX_NEW_TOKENS = 256


def greedy_answers(
    model, tokenizer, pairs: list[QA], step: Callable[[int], None] | None = None
) -> list[str]:
    """Temperature-0 answers; each may run to twice its reference's length (plus room)."""
    from mlx_lm import generate

    answers = []
    for pair in pairs:
        prompt = tokenizer.apply_chat_template(
            pair.messages, add_generation_prompt=True, return_dict=False
        )
        budget = min(MAX_NEW_TOKENS, 16 + 2 * len(tokenizer.encode(pair.reference)))
        answers.append(generate(model, tokenizer, prompt, max_tokens=budget).strip())
        if step is not None:
            step(1)
    return answers


def answer_figures(answers: list[str], pairs: list[QA]) -> tuple[dict, list[dict]]:
    """Means over the examples (exact_match, contains_answer, token_f1, answer_words,
    refusal_rate) and each example's scores."""
    scores = [metrics.score(a, p.reference) for a, p in zip(answers, pairs, strict=True)]
    figures = {
        key: metrics.mean([s[key] for s in scores])
        for key in ("exact_match", "contains_answer", "token_f1", "answer_words")
    }
    figures["refusal_rate"] = metrics.mean([s["refusal"] for s in scores])
    return figures, scores
