"""GRPO's backward pass in chunks of rows (the group's answers a few at a time): the same
update, loss and statistics as the whole batch at once, for every objective; and chunked
frozen log-probs equal to unchunked ones."""

from __future__ import annotations

import numpy as np
import pytest
from policy_helpers import moved_policy

from mlxstudio.core.config import RunConfig
from mlxstudio.core.rl.logprobs import collate, frozen_logprobs
from mlxstudio.core.rl.ppo import PolicyUpdater

PAIRS = [  # prompts and responses of different lengths: chunks start their answers apart
    ([1, 5, 9, 4], [7, 3, 2]),
    ([1, 6], [8, 8, 8, 8, 2]),
    ([1, 5, 9, 4, 6, 3], [4]),
    ([1, 2, 3], [9, 9]),
    ([1, 7, 7, 7, 7], [3, 5, 6, 2]),
]


def rollouts(policy, reference):
    import mlx.core as mx

    tokens, mask = collate(PAIRS, 64)
    old = reference.token_logprobs(tokens, 1.0, mask)  # the policy has moved off it
    ref = old + 0.1 * mx.random.normal(old.shape, key=mx.random.key(1))
    adv = mx.array([1.2, -0.4, 0.8, -1.5, 0.3])
    return tokens, mask, old, ref * mask, adv


def trained(model) -> dict[str, np.ndarray]:
    from mlx.utils import tree_flatten

    return {k: np.array(v) for k, v in tree_flatten(model.trainable_parameters())}


@pytest.mark.parametrize("kind", ["grpo", "dapo", "dr_grpo", "gspo"])
def test_chunked_update_equals_the_whole_batch(tiny_model, kind):
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten

    cfg = RunConfig(
        stage="grpo", grpo_loss=kind, kl_coef=0.05, clip_range=0.2, max_new_tokens=6, num_layers=-1
    )
    policy, _, reference, _ = moved_policy(tiny_model, cfg, scale=0.002)
    policy.train()
    batch = rollouts(policy, reference)
    start = policy.trainable_parameters()
    results = {}
    for chunk in (None, 2):
        policy.update(start)
        updater = PolicyUpdater(policy, optim.SGD(learning_rate=0.5), cfg)
        stats = updater.run(*batch, seed=0, chunk=chunk)
        results[chunk] = stats, trained(policy)
        mx.eval(policy.parameters())
    (whole, a), (split, b) = results[None], results[2]
    assert whole.keys() == split.keys()
    for key in whole:
        assert split[key] == pytest.approx(whole[key], rel=1e-4, abs=1e-6), key
    assert 0 < whole["clip_fraction"] < 1  # clipped and unclipped tokens both in play
    before = {k: np.array(v) for k, v in tree_flatten(start)}
    for key in a:  # the same step, to float32 rounding (chunks are matmuls of other shapes)
        step = a[key] - before[key]
        assert np.abs(step).max() > 0, key
        np.testing.assert_allclose(b[key] - before[key], step, atol=1e-3 * np.abs(step).max())


def test_chunked_frozen_logprobs_equal_unchunked(tiny_model):
    cfg = RunConfig(stage="grpo", num_layers=-1)
    policy, _, _, _ = moved_policy(tiny_model, cfg)
    tokens, mask = collate(PAIRS, 64)
    answers = np.array(mask)  # before a chunk's first answer, positions are left at 0
    whole = np.array(frozen_logprobs(policy, tokens, 0.7, mask)) * answers
    for chunk in (1, 2, 3):
        got = np.array(frozen_logprobs(policy, tokens, 0.7, mask, chunk)) * answers
        np.testing.assert_allclose(got, whole, atol=1e-5)
    assert (whole < 0).sum() == answers.sum()  # every answer token has its log-prob
