"""token_logprobs with the targets' mask computes only from the first response position on:
the same log-probs and the same gradient as over every position, in less memory."""

from __future__ import annotations

import numpy as np
from policy_helpers import moved_policy, response_logprobs
from rl_helpers import rl_config

from mlxstudio.core.rl.logprobs import collate, response_start, token_logprobs

ROWS = [([5, 9, 14, 22, 31, 7], [40, 41, 2]), ([8, 3, 11, 19], [50, 51, 52, 53, 2])]


def test_masked_logprobs_match_every_position_and_skip_the_prompts(tiny_model, tmp_path):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    cfg = rl_config(tiny_model, tmp_path, "grpo")
    model, _, _, _ = moved_policy(tiny_model, cfg)
    tokens, mask = collate(ROWS, 64)
    start = response_start(mask)
    assert start == 3  # the shorter prompt's last token predicts its first response token
    for temperature in (1.0, 0.7):
        full = np.array(token_logprobs(model, tokens, temperature))
        lean = np.array(token_logprobs(model, tokens, temperature, mask))
        assert lean.shape == full.shape
        m = np.array(mask) > 0
        np.testing.assert_allclose(lean[m], full[m], atol=1e-5)
        assert not lean[:, :start].any() and full[:, :start].any()
        for i, (prompt, response) in enumerate(ROWS):  # each row alone, in float64
            want = response_logprobs(model, prompt, response, temperature)
            np.testing.assert_allclose(lean[i][m[i]], want, atol=1e-4)

    split = np.array(token_logprobs(model, tokens, 0.7, mask))  # the head on answers only
    model.model_type = "gemma2"  # a model we do not split: computed in full, then cut
    np.testing.assert_allclose(np.array(token_logprobs(model, tokens, 0.7, mask)), split, atol=1e-5)
    model.model_type = "llama"

    def objective(model, use_mask):
        lp = token_logprobs(model, tokens, 0.7, mask if use_mask else None)
        return (lp * mask).sum()

    grads = [
        dict(tree_flatten(nn.value_and_grad(model, objective)(model, m)[1])) for m in (False, True)
    ]
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for k, g in grads[0].items():
        want = np.array(g)  # float32 rounding of matmuls of other shapes, no more
        np.testing.assert_allclose(np.array(grads[1][k]), want, atol=2e-6 * np.abs(want).max())
    assert any(float(mx.abs(g).max()) > 0 for g in grads[0].values())


def test_response_start_of_an_empty_mask_is_zero():
    assert response_start(np.zeros((2, 5), np.float32)) == 0
