"""DAPO's dynamic sampling skips a step whose groups all tie; its report still gives the
policy's KL to the reference (the curve read 0 there, 8 of the demo's 12 steps)."""

from __future__ import annotations

import numpy as np
from policy_helpers import moved_policy, response_logprobs

from mlxstudio.core.rl.grpo import GRPOTrainer
from mlxstudio.core.rl.reward_base import RewardModel
from mlxstudio.core.train.trainable import build_optimizer


class Same(RewardModel):
    """Every answer scores 1: every group ties."""

    def compute_reward(self, prompts, responses):
        return [1.0] * len(responses)


def test_a_skipped_dapo_step_reports_the_policys_kl(tiny_model, make_rl_config, prompt_data):
    import mlx.core as mx

    cfg = make_rl_config(
        prompt_data, "grpo", grpo_loss="dapo", group_size=3, max_new_tokens=5, temperature=1.0
    )
    policy, tokenizer, reference, base = moved_policy(tiny_model, cfg, scale=0.2)
    prompts = ["The red cat", "The blue dog"]
    trainer = GRPOTrainer(
        policy, tokenizer, build_optimizer(cfg), cfg, prompts, [], reference, Same()
    )
    before = [np.array(p) for _, p in _flat(policy.trainable_parameters())]
    mx.random.seed(0)
    stats = trainer.step([0, 1])
    assert stats["kept_groups"] == 0 and stats["tokens"] == 0.0  # nothing trained on
    after = [np.array(p) for _, p in _flat(policy.trainable_parameters())]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))

    # the same responses again (same seed), their k3 KL per token, each row run alone
    mx.random.seed(0)
    encoded = [trainer.encoded[0], trainer.encoded[1]]
    ids = trainer.rollout([trainer.prompts[0], trainer.prompts[1]], encoded, 3, 1.0)[0]
    terms = []
    for j, response in enumerate(ids):
        lp = response_logprobs(policy, encoded[j // 3], response)
        ref = response_logprobs(base, encoded[j // 3], response)
        q = ref - lp
        terms.extend(np.exp(q) - q - 1)
    expected = float(np.mean(terms))  # DAPO's token-level mean
    assert expected > 1e-3  # the policy was moved away from the reference
    assert abs(stats["kl"] - expected) < 1e-3 * max(1.0, expected)


def _flat(tree):
    from mlx.utils import tree_flatten

    return tree_flatten(tree)
