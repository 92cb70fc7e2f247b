"""GRPO samples from softmax(logits / T): its behaviour ("old") log-probs, and the
reference's for the KL, are taken at that T, and the trained policy's too, so the ratio
starts at exactly 1 on the policy that sampled."""

from __future__ import annotations

import numpy as np
import pytest
from policy_helpers import moved_policy, response_logprobs
from rl_helpers import rl_config

from mlxstudio.core.rl.grpo import GRPOTrainer, logprob_temperature
from mlxstudio.core.rl.rewards import load_reward_model

T = 0.6
PROMPTS = ["The red fox", "The capital of France", "MLX is"]


def grpo_trainer(tiny_model, tmp_path, lr: float = 0.0, epochs: int = 2):
    import mlx.optimizers as optim

    cfg = rl_config(
        tiny_model,
        tmp_path,
        "grpo",
        temperature=T,
        group_size=3,
        max_new_tokens=6,
        batch_size=3,
        ppo_epochs=epochs,  # 2: the second update needs the sampling policy's log-probs
        kl_coef=0.05,
        reward_model="max_words",
        reward_kwargs={"max_words": 3},
    )
    model, tokenizer, reference, base = moved_policy(tiny_model, cfg)
    reward = load_reward_model("max_words", {"max_words": 3})
    trainer = GRPOTrainer(
        model, tokenizer, optim.SGD(learning_rate=lr), cfg, PROMPTS, [], reference, reward
    )
    return trainer, model, base


def rows_of(rollouts, trainer, indices):
    """(prompt, sampled response) token lists of each rollout row, read back from the batch."""
    tokens, mask = np.array(rollouts.tokens), np.array(rollouts.mask) > 0
    k = trainer.cfg.group_size
    out = []
    for j in range(tokens.shape[0]):
        response = tokens[j, 1:][mask[j]].tolist()
        prompt = trainer.encoded[indices[j // k]]
        assert tokens[j, : len(prompt)].tolist() == prompt
        out.append((prompt, response))
    return out


def test_old_and_reference_logprobs_are_at_the_sampling_temperature(tiny_model, tmp_path):
    import mlx.core as mx

    trainer, model, base = grpo_trainer(tiny_model, tmp_path)
    mx.random.seed(5)
    indices = [0, 1, 2]
    rollouts = trainer.sample(indices)
    mask = np.array(rollouts.mask) > 0
    old, ref = np.array(rollouts.old), np.array(rollouts.ref)
    at_one = []
    for j, (prompt, response) in enumerate(rows_of(rollouts, trainer, indices)):
        want = response_logprobs(model, prompt, response, T)  # log_softmax(logits / T)
        np.testing.assert_allclose(old[j][mask[j]], want, rtol=1e-4, atol=1e-4)
        want_ref = response_logprobs(base, prompt, response, T)
        np.testing.assert_allclose(ref[j][mask[j]], want_ref, rtol=1e-4, atol=1e-4)
        at_one.append(np.abs(response_logprobs(model, prompt, response, 1.0) - want).max())
    assert max(at_one) > 0.05  # T matters for these samples: the test can tell them apart

    # one update on what was just sampled: the ratio is exactly 1, so nothing is clipped;
    # the KL is the k3 estimate to the reference at T
    adv = mx.zeros((mask.shape[0],))
    stats = trainer.updater.run(
        rollouts.tokens, rollouts.mask, rollouts.old, rollouts.ref, adv, seed=0
    )
    assert stats["clip_fraction"] == 0
    q = ref - old
    kl = np.mean([(np.exp(q[j]) - q[j] - 1)[mask[j]].mean() for j in range(mask.shape[0])])
    assert kl > 0.01
    np.testing.assert_allclose(stats["kl"], kl, rtol=1e-4)


def test_one_update_per_step_uses_the_trained_policys_own_logprobs(tiny_model, tmp_path):
    """ppo_epochs 1: the policy trained is the one that sampled, so no forward pass is spent
    on 'old' log-probs; the update is the one the behaviour log-probs would give."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from mlxstudio.core.rl.logprobs import frozen_logprobs

    trainer, model, _ = grpo_trainer(tiny_model, tmp_path, lr=0.5, epochs=1)
    model.train()
    mx.random.seed(5)
    rollouts = trainer.sample([0, 1, 2])
    assert rollouts.old is None
    behaviour = frozen_logprobs(model, rollouts.tokens, T, rollouts.mask)
    adv = mx.array([1.0, -0.5, 0.2, -1.0, 0.7, 0.1, -0.3, 0.9, -0.6])
    start = model.trainable_parameters()
    results = []
    for old in (None, behaviour):
        model.update(start)
        stats = trainer.updater.run(rollouts.tokens, rollouts.mask, old, rollouts.ref, adv, 0)
        results.append((stats, {k: np.array(v) for k, v in tree_flatten(model.parameters())}))
    (own, a), (given, b) = results
    for key in own:
        assert own[key] == pytest.approx(given[key], rel=1e-4, abs=1e-6), key
    moved = [k for k, v in tree_flatten(start) if np.abs(a[k] - np.array(v)).max() > 1e-6]
    assert moved  # the update did something
    for key in moved:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("sampling", "logprobs"), [(0.6, 0.6), (1.0, 1.0), (0.0, 1.0)])
def test_greedy_sampling_takes_logprobs_at_one(sampling, logprobs):
    assert logprob_temperature(sampling) == logprobs
