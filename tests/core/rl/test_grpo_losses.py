"""GRPO's objective and its variants against their papers' formulas in numpy, on responses
of different lengths (each response's own tokens, no mask arithmetic).

grpo (Shao et al. 2024, eq. 3): mean over responses of the mean over its tokens of
  -min(rho A, clip(rho, 1 - e, 1 + e) A) + kl_coef KL, rho = p / p_old per token.
dapo (Yu et al. 2025, eq. 8): the same terms summed over every token of the batch / the
  batch's token count; clip(rho, 1 - e_low, 1 + e_high).
dr_grpo (Liu et al. 2025): the token sum / (responses x max_new_tokens).
gspo (Zheng et al. 2025, eq. 5): one ratio per response, s = exp(mean token log-ratio).
KL: the k3 estimate exp(q) - q - 1, q = log p_ref - log p.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlxstudio.core.rl.grpo import group_advantages, informative_rows
from mlxstudio.core.rl.policy_loss import policy_objective

LENGTHS = [2, 6, 4, 1]
WIDTH, MAX_LEN = 7, 10
LOW, HIGH, KL_COEF = 0.2, 0.28, 0.05


def numpy_objective(kind, lp, old, ref, adv):
    """(loss, policy loss, KL) from lists of per-response token arrays."""
    hi = HIGH if kind == "dapo" else LOW
    terms, kls = [], []
    for a, t, o, r in zip(adv, lp, old, ref, strict=True):
        rho = np.exp(t - o)
        if kind == "gspo":
            rho = np.full_like(t, np.exp(np.mean(t - o)))
        terms.append(-np.minimum(rho * a, np.clip(rho, 1 - LOW, 1 + hi) * a))
        q = r - t
        kls.append(np.exp(q) - q - 1)
    if kind == "dapo":
        reduce = lambda xs: np.concatenate(xs).sum() / sum(len(x) for x in xs)  # noqa: E731
    elif kind == "dr_grpo":
        reduce = lambda xs: np.concatenate(xs).sum() / (len(xs) * MAX_LEN)  # noqa: E731
    else:
        reduce = lambda xs: np.mean([x.mean() for x in xs])  # noqa: E731
    policy, kl = reduce(terms), reduce(kls)
    return policy + KL_COEF * kl, policy, kl


@pytest.mark.parametrize("kind", ["grpo", "dapo", "dr_grpo", "gspo"])
def test_objective_matches_the_formula_with_unequal_lengths(kind):
    import mlx.core as mx

    rng = np.random.default_rng(3)
    n = len(LENGTHS)
    mask = (np.arange(WIDTH)[None, :] < np.array(LENGTHS)[:, None]).astype(np.float32)
    old = -rng.uniform(0.1, 3.0, (n, WIDTH)).astype(np.float32)
    lp = old + rng.normal(0, 0.4, (n, WIDTH)).astype(np.float32)  # ratios far enough to clip
    ref = old + rng.normal(0, 0.3, (n, WIDTH)).astype(np.float32)
    adv = np.array([1.5, -0.7, 0.9, -1.2], np.float32)
    loss, (policy, kl, clipped) = policy_objective(
        *(mx.array(x) for x in (lp, old, ref, mask, adv)),
        kind=kind,
        clip_low=LOW,
        clip_high=HIGH if kind == "dapo" else None,
        kl_coef=KL_COEF,
        max_len=MAX_LEN,
    )
    own = lambda x: [x[i, : LENGTHS[i]].astype(np.float64) for i in range(n)]  # noqa: E731
    want = numpy_objective(kind, own(lp), own(old), own(ref), adv)
    for got, expected in zip((loss, policy, kl), want, strict=True):
        np.testing.assert_allclose(got.item(), expected, rtol=1e-5, atol=1e-6)
    assert 0 < clipped.item() < 1  # some ratios clipped, some not: the clip is exercised


def test_variants_differ_where_their_papers_say():
    """Token-level mean: a long response's tokens weigh more than under per-response means;
    clip-higher lets a ratio above 1 + low still count for a positive advantage."""
    import mlx.core as mx

    mask = mx.array([[1.0, 0, 0, 0], [1, 1, 1, 1]])
    old = mx.zeros((2, 4))
    lp = mx.array([[0.0, 0, 0, 0], [0.22, 0.22, 0.22, 0.22]])  # ratio 1.246 on the long one
    adv = mx.array([0.0, 1.0])
    args = dict(clip_low=0.2, kl_coef=0.0, max_len=4)
    grpo, _ = policy_objective(lp, old, old, mask, adv, kind="grpo", **args)
    dapo, _ = policy_objective(lp, old, old, mask, adv, kind="dapo", clip_high=0.28, **args)
    # grpo: (0 + -1.2 clipped) / 2 responses; dapo: 4 x -1.246 unclipped / 5 tokens
    assert grpo.item() == pytest.approx(-1.2 / 2, rel=1e-5)
    assert dapo.item() == pytest.approx(-4 * np.exp(0.22) / 5, rel=1e-5)


def test_dr_grpo_advantages_keep_the_groups_spread():
    rewards = np.array([1.0, 0.0, 5.0, 3.0], np.float32)
    np.testing.assert_allclose(group_advantages(rewards, 2, scale=False), [0.5, -0.5, 1, -1])
    scaled = group_advantages(rewards, 2)
    np.testing.assert_allclose(scaled, [1, -1, 1, -1], atol=1e-3)  # std-scaled: both alike


def test_dynamic_sampling_keeps_only_groups_whose_rewards_differ():
    rewards = np.array([1.0, 1.0, 0.0, 1.0, 0.5, 0.5], np.float32)
    assert informative_rows(rewards, 2).tolist() == [2, 3]
    assert informative_rows(np.ones(4, np.float32), 2).tolist() == []
