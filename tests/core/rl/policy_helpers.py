"""A tiny LoRA policy moved away from its reference, and per-row log-probs in numpy.

The numpy side runs the model on each (prompt, response) row alone, unpadded, so the
values it gives are independent of the batching, padding and masks under test."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlxstudio.core.rl.reference import Reference


def moved_policy(tiny_model: Path, cfg, scale: float = 0.05, seed: int = 0):
    """(policy, tokenizer, reference, base): a LoRA policy whose adapters were given random
    values after the Reference was taken, and a plain copy of the base (the reference,
    since a fresh adapter adds nothing)."""
    import mlx.core as mx
    from mlx.utils import tree_map
    from mlx_lm import load

    from mlxstudio.core.train.trainable import apply_fine_tune_type

    model, tokenizer = load(str(tiny_model))
    apply_fine_tune_type(model, cfg)
    reference = Reference(model)
    mx.random.seed(seed)
    model.update(
        tree_map(lambda a: a + scale * mx.random.normal(a.shape), model.trainable_parameters())
    )
    mx.eval(model.parameters())
    base, _ = load(str(tiny_model))
    model.eval()
    base.eval()
    return model, tokenizer, reference, base


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def response_logprobs(
    model, prompt: list[int], response: list[int], temperature: float = 1.0
) -> np.ndarray:
    """log softmax(logits / T) of each response token, the row run alone: [len(response)]."""
    import mlx.core as mx

    row = prompt + response
    logits = np.array(model(mx.array([row[:-1]])).astype(mx.float32))[0] / temperature
    lp = log_softmax(logits.astype(np.float64))
    positions = np.arange(len(prompt) - 1, len(row) - 1)
    return lp[positions, np.array(response)]
