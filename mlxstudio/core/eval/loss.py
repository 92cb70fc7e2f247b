"""Masked losses per example, mirroring mlx-lm's `default_loss` and `iterate_batches` (the
training loss): padding to 1 + a multiple of 32, truncation to max_seq_length, and a mask
from each example's prompt offset to its length. Summed per example rather than per batch,
so every example counts (mlx-lm's evaluate drops a last partial batch) and the examples
that changed most can be shown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlxstudio.core.eval.data import Choice

PAD_TO = 32


@dataclass
class ExampleLoss:
    nll: float  # summed over the example's scored tokens
    tokens: int

    @property
    def mean(self) -> float | None:
        return self.nll / self.tokens if self.tokens else None


def example_losses(
    model,
    examples: list[tuple[list[int], int]],
    *,
    batch_size: int = 4,
    max_seq_length: int = 2048,
    step: Callable[[int], None] | None = None,
) -> list[ExampleLoss]:
    """One ExampleLoss per (tokens, offset); `step(n)` after each batch of n examples."""
    import mlx.core as mx
    import mlx.nn as nn

    model.eval()
    results: list[ExampleLoss | None] = [None] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        lengths = [min(len(examples[i][0]), max_seq_length) for i in chosen]
        width = min(1 + PAD_TO * ((max(lengths) + PAD_TO - 1) // PAD_TO), max_seq_length)
        batch = np.zeros((len(chosen), width), np.int32)
        for row, i in enumerate(chosen):
            batch[row, : lengths[row]] = examples[i][0][: lengths[row]]
        bounds = mx.array([[examples[i][1], n] for i, n in zip(chosen, lengths, strict=True)])
        tokens = mx.array(batch)
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        steps = mx.arange(1, targets.shape[1] + 1)
        mask = mx.logical_and(steps >= bounds[:, 0:1], steps <= bounds[:, 1:])
        ce = nn.losses.cross_entropy(model(inputs), targets).astype(mx.float32) * mask
        sums, counts = ce.sum(axis=1), mask.sum(axis=1)
        mx.eval(sums, counts)
        for row, i in enumerate(chosen):
            results[i] = ExampleLoss(float(sums[row].item()), int(counts[row].item()))
        if step is not None:
            step(len(chosen))
    return [r for r in results if r is not None]


def total_loss(losses: list[ExampleLoss]) -> float | None:
    """Token-weighted mean, as mlx-lm's evaluate weights its batches."""
    tokens = sum(r.tokens for r in losses)
    return sum(r.nll for r in losses) / tokens if tokens else None


def choice_examples(tokenizer, item: Choice) -> list[tuple[list[int], int]]:
    """Each choice as the assistant's answer to the question; only the answer is scored."""
    prompt = [{"role": "user", "content": item.question}]
    offset = len(
        tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=False)
    )
    return [
        (
            tokenizer.apply_chat_template(
                prompt + [{"role": "assistant", "content": choice}], return_dict=False
            ),
            offset,
        )
        for choice in item.choices
    ]


def choice_accuracy(
    model, tokenizer, items: list[Choice], step: Callable[[int], None] | None = None
) -> tuple[float, list[int]]:
    """Accuracy when the choice of highest log-likelihood is the model's pick; the picks."""
    picks = []
    for item in items:
        losses = example_losses(model, choice_examples(tokenizer, item), batch_size=8)
        picks.append(int(np.argmin([r.nll for r in losses])))
        if step is not None:
            step(1)
    right = sum(p == item.answer for p, item in zip(picks, items, strict=True))
    return right / len(items), picks
