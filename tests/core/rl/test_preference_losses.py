"""Every preference loss against its paper's formula, written out in numpy, on pairs whose
chosen and rejected answers have different lengths.

DPO (Rafailov et al. 2023, eq. 7): -log sigmoid(beta * ((pc - rc) - (pr - rr))), p / r the
  policy / reference log-probs summed over the response.
IPO (Azar et al. 2023, eq. 17, as TRL implements it): (h - 1/(2 beta))^2 with
  h = (pc - rc) / n_chosen - (pr - rr) / n_rejected, each log-ratio averaged over its own
  response's tokens.
ORPO (Hong et al. 2024, eqs. 6-7): -mc + beta * -log sigmoid(log(odds_c / odds_r)),
  m the mean token log-prob, odds = e^m / (1 - e^m).
CPO (Xu et al. 2024, eq. 6 with TRL's NLL weight alpha): -log sigmoid(beta (pc - pr)) +
  alpha x the chosen answer's mean token NLL; no reference.
SimPO (Meng et al. 2024, eq. 6): -log sigmoid(beta (pc / n_chosen - pr / n_rejected) - gamma);
  no reference.
KTO (Ethayarajh et al. 2024, eq. 8 as TRL implements it): 1 - sigmoid(beta (r - z)) for good
  answers, 1 - sigmoid(beta (z - r)) for bad ones, r the summed log-ratio to the reference and
  z = max(0, mean log-ratio of mismatched pairs).
Bradley-Terry (reward model; Ouyang et al. 2022, eq. 1): -log sigmoid(r_chosen - r_rejected).
"""

from __future__ import annotations

import numpy as np
import pytest
from policy_helpers import moved_policy, response_logprobs
from rl_helpers import rl_config

from mlxstudio.core.rl.data import Pair
from mlxstudio.core.rl.dpo import REFERENCE_FREE, DPOTrainer, encode_pair, preference_loss
from mlxstudio.core.rl.kto import kto_loss
from mlxstudio.core.rl.reward_head import attach_head
from mlxstudio.core.rl.reward_train import RewardTrainer, bradley_terry


def neg_log_sigmoid(x):
    return np.logaddexp(0.0, -x)


GAMMA, ALPHA = 0.5, 1.0  # SimPO's margin and CPO's NLL weight: the config's defaults


def numpy_loss(kind: str, beta: float, pc, pr, rc, rr, nc, nr) -> tuple:
    """(loss, chosen reward, rejected reward) per pair from summed log-probs and lengths."""
    if kind == "cpo":
        return neg_log_sigmoid(beta * (pc - pr)) + ALPHA * -pc / nc, beta * pc, beta * pr
    if kind == "simpo":
        mc, mr = pc / nc, pr / nr
        return neg_log_sigmoid(beta * (mc - mr) - GAMMA), beta * mc, beta * mr
    if kind == "orpo":
        mc, mr = pc / nc, pr / nr
        log_odds = np.log(np.exp(mc) / (1 - np.exp(mc))) - np.log(np.exp(mr) / (1 - np.exp(mr)))
        return -mc + beta * neg_log_sigmoid(log_odds), beta * mc, beta * mr
    if kind == "ipo":
        h = (pc - rc) / nc - (pr - rr) / nr
        loss = (h - 1 / (2 * beta)) ** 2
    else:
        loss = neg_log_sigmoid(beta * ((pc - rc) - (pr - rr)))
    return loss, beta * (pc - rc), beta * (pr - rr)


CHOSEN_LEN, REJECTED_LEN = [3, 7, 1], [6, 2, 5]


@pytest.mark.parametrize("kind", ["sigmoid", "ipo", "orpo", "cpo", "simpo"])
def test_loss_matches_the_formula_with_masks(kind):
    import mlx.core as mx

    rng = np.random.default_rng(1)
    lengths = np.array(CHOSEN_LEN + REJECTED_LEN)
    width = 8
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.float32)
    pol_tok = -rng.uniform(0.05, 3.0, (6, width)).astype(np.float32)
    ref_tok = -rng.uniform(0.05, 3.0, (6, width)).astype(np.float32)
    m = mx.array(mask)
    pol = (mx.array(pol_tok) * m).sum(axis=1)  # as DPOTrainer sums them
    ref = (mx.array(ref_tok) * m).sum(axis=1)
    beta = 0.3
    loss, chosen, rejected = preference_loss(kind, beta, pol, ref, m.sum(axis=1), GAMMA, ALPHA)

    # numpy: each response's own tokens, no mask arithmetic
    p = np.array([pol_tok[i, : lengths[i]].sum(dtype=np.float64) for i in range(6)])
    r = np.array([ref_tok[i, : lengths[i]].sum(dtype=np.float64) for i in range(6)])
    nc, nr = np.array(CHOSEN_LEN, float), np.array(REJECTED_LEN, float)
    want = numpy_loss(kind, beta, p[:3], p[3:], r[:3], r[3:], nc, nr)
    for got, expected in zip((loss, chosen, rejected), want, strict=True):
        np.testing.assert_allclose(np.array(got), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n_chosen", "n_rejected"), [(2, 5), (5, 2), (3, 3)])
def test_ipo_does_not_depend_on_which_answer_is_longer(n_chosen, n_rejected):
    import mlx.core as mx

    # per-token log-ratios +2 (chosen) and -2 (rejected): h = 4; beta 0.5: (4 - 1)^2 = 9
    pol = mx.array([2.0 * n_chosen, -2.0 * n_rejected])
    ref = mx.zeros((2,))
    loss, _, _ = preference_loss("ipo", 0.5, pol, ref, mx.array([n_chosen, n_rejected]))
    np.testing.assert_allclose(np.array(loss), [9.0], rtol=1e-6)


PAIRS = [
    Pair("Describe the red fox.", "The quick red fox jumps over the lazy dog.", "No."),
    Pair("Where is Paris?", "Paris.", "The capital of France is Paris, a city on the Seine."),
    Pair("What is MLX?", "An array framework for machine learning.", "A model."),
]


@pytest.mark.parametrize("kind", ["sigmoid", "ipo", "orpo", "cpo", "simpo"])
def test_dpo_trainer_loss_on_the_tiny_model(tiny_model, tmp_path, kind):
    """The trainer's batched, padded, masked loss equals the formula over rows run alone."""
    import mlx.optimizers as optim

    beta = 0.2
    cfg = rl_config(tiny_model, tmp_path, "dpo", preference_loss=kind, beta=beta, batch_size=2)
    model, tokenizer, reference, base = moved_policy(tiny_model, cfg)
    if kind in REFERENCE_FREE:
        reference = None  # as the job builds it: these losses never read one
    trainer = DPOTrainer(model, tokenizer, optim.SGD(learning_rate=0.0), cfg, [], PAIRS, reference)
    val = trainer.validate(0, 1)

    rows = [encode_pair(tokenizer, p) for p in PAIRS]
    assert all(len(c) != len(r) for _, c, r in rows)  # unequal lengths in every pair

    def summed(net, prompt, response):
        return response_logprobs(net, prompt, response).sum()

    pc = np.array([summed(model, p, c) for p, c, _ in rows])
    pr = np.array([summed(model, p, r) for p, _, r in rows])
    rc = np.array([summed(base, p, c) for p, c, _ in rows])
    rr = np.array([summed(base, p, r) for p, _, r in rows])
    nc = np.array([len(c) for _, c, _ in rows], float)
    nr = np.array([len(r) for _, _, r in rows], float)
    loss, chosen, rejected = numpy_loss(kind, beta, pc, pr, rc, rr, nc, nr)
    assert np.abs(pc - rc).min() > 0.1  # the policy really differs from its reference
    if kind in REFERENCE_FREE:
        loss, chosen, rejected = numpy_loss(kind, beta, pc, pr, 0 * rc, 0 * rr, nc, nr)
    np.testing.assert_allclose(val.val_loss, loss.mean(), rtol=1e-4)
    np.testing.assert_allclose(val.margin, (chosen - rejected).mean(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(val.chosen_logprob, pc.mean(), rtol=1e-4)
    np.testing.assert_allclose(val.rejected_logprob, pr.mean(), rtol=1e-4)


def test_kto_matches_the_formula_with_unequal_lengths():
    """Good and bad answers of different lengths; z from mismatched rows, floored at 0."""
    import mlx.core as mx

    from mlxstudio.core.rl.kto import kl_estimate

    rng = np.random.default_rng(2)
    lengths = np.array([3, 7, 1, 5, 2, 6])
    good = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    width = 8
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.float32)
    pol_tok = -rng.uniform(0.05, 3.0, (6, width)).astype(np.float32)
    ref_tok = -rng.uniform(0.05, 3.0, (6, width)).astype(np.float32)
    m = mx.array(mask)
    pol = (mx.array(pol_tok) * m).sum(axis=1)
    ref = (mx.array(ref_tok) * m).sum(axis=1)
    p = np.array([pol_tok[i, : lengths[i]].sum(dtype=np.float64) for i in range(6)])
    r = np.array([ref_tok[i, : lengths[i]].sum(dtype=np.float64) for i in range(6)])
    beta = 0.4
    for mismatched, z in ((slice(3, 6), max(0.0, (p[3:] - r[3:]).mean())), (None, 0.7)):
        kl = kl_estimate(pol[mismatched], ref[mismatched]) if mismatched else mx.array(z)
        np.testing.assert_allclose(kl.item(), z, rtol=1e-5, atol=1e-6)
        loss, reward = kto_loss(beta, pol, ref, mx.array(good), kl)
        sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
        want = np.where(good > 0, 1 - sig(beta * (p - r - z)), 1 - sig(beta * (z - (p - r))))
        np.testing.assert_allclose(np.array(loss), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.array(reward), beta * (p - r), rtol=1e-5, atol=1e-5)
    # a negative mean log-ratio is floored: z = 0, never a bonus for drifting down
    assert kl_estimate(mx.array([-1.0, -2.0]), mx.array([0.0, 0.0])).item() == 0.0


def test_bradley_terry_formula():
    import mlx.core as mx

    c = np.array([1.5, -0.3, 4.0, 0.0], np.float32)
    r = np.array([0.5, 0.2, -3.0, 0.0], np.float32)
    got = bradley_terry(mx.array(c), mx.array(r))
    want = -np.log(1 / (1 + np.exp(-(c.astype(np.float64) - r))))
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5)
    np.testing.assert_allclose(np.array(got)[3], np.log(2.0), rtol=1e-6)


def test_reward_trainer_loss_reads_each_rows_last_token(tiny_model, tmp_path):
    """Padded pairs of unequal lengths: each reward is the head on that row's own last
    token (its end-of-sequence), as if the row ran alone; the loss is Bradley-Terry."""
    import mlx.core as mx
    import mlx.optimizers as optim

    cfg = rl_config(tiny_model, tmp_path, "reward", batch_size=3)
    model, tokenizer, _, _ = moved_policy(tiny_model, cfg)
    head = attach_head(model, seed=3)
    mx.random.seed(4)
    head.bias = mx.array([0.0])
    head.weight = mx.random.normal(head.weight.shape)  # rewards far apart: a real test
    trainer = RewardTrainer(model, tokenizer, optim.SGD(learning_rate=0.0), cfg, [], PAIRS)
    val = trainer.validate(0, 1)

    def alone(prompt, response):
        hidden = model.model(mx.array([prompt + response]))[0, -1]
        return float(head(hidden.astype(mx.float32)).item())

    rows = [encode_pair(tokenizer, p) for p in PAIRS]
    c = np.array([alone(p, ch) for p, ch, _ in rows])
    r = np.array([alone(p, rj) for p, _, rj in rows])
    assert np.abs(c - r).min() > 0.05
    np.testing.assert_allclose(val.val_loss, neg_log_sigmoid(c - r).mean(), rtol=1e-4)
    np.testing.assert_allclose(val.chosen_reward, c.mean(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(val.rejected_reward, r.mean(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(val.margin, (c - r).mean(), rtol=1e-4, atol=1e-5)
