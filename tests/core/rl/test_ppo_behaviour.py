"""Offline PPO's behaviour policy: the starting policy (the reference) or the log-probs
stored with the data, never the policy at the start of the batch. So once the policy has
moved, the ratio differs from 1 and the clip engages even with ppo_epochs 1."""

from __future__ import annotations

import numpy as np
import pytest
from policy_helpers import moved_policy, response_logprobs
from rl_helpers import rl_config, write_jsonl

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.data import Scored, read_scored
from mlxstudio.core.rl.job import run_rl
from mlxstudio.core.rl.ppo import OfflinePPOTrainer, normalise

CLIP, KL_COEF = 0.2, 0.05
DATA = [
    Scored("Tell me about the red fox.", "The capital of France is Paris.", 1.0),
    Scored("Tell me about the blue dog.", "The lazy dog.", -0.5),
    Scored("What is MLX?", "An array framework for machine learning on Apple silicon.", 0.7),
    Scored("Describe the cat.", "No.", 0.0),
]


def trainer_for(tiny_model, tmp_path, data, scale: float):
    import mlx.optimizers as optim

    cfg = rl_config(
        tiny_model, tmp_path, "rl", ppo_epochs=1, clip_range=CLIP, kl_coef=KL_COEF, batch_size=4
    )
    model, tokenizer, reference, base = moved_policy(tiny_model, cfg, scale=scale)
    # learning rate 0: the step reports the objective of the policy as it is
    trainer = OfflinePPOTrainer(
        model, tokenizer, optim.SGD(learning_rate=0.0), cfg, data, [], reference
    )
    return trainer, model, base


def expected(ratios: list[np.ndarray], kls: list[np.ndarray], adv: np.ndarray) -> dict:
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7) and the k3 KL, per token,
    averaged over each response's tokens, then over responses."""
    policy, clipped, kl = [], [], []
    for ratio, k, a in zip(ratios, kls, adv, strict=True):
        surrogate = -np.minimum(ratio * a, np.clip(ratio, 1 - CLIP, 1 + CLIP) * a)
        policy.append(surrogate.mean())
        clipped.append((np.abs(ratio - 1) > CLIP).mean())
        kl.append(k.mean())
    return {
        "policy_loss": np.mean(policy),
        "clip_fraction": np.mean(clipped),
        "kl": np.mean(kl),
        "loss": np.mean(policy) + KL_COEF * np.mean(kl),
    }


def test_ratio_is_to_the_reference_and_the_clip_engages(tiny_model, tmp_path):
    trainer, model, base = trainer_for(tiny_model, tmp_path, DATA, scale=0.05)
    stats = trainer.step([0, 1, 2, 3])

    ratios, kls = [], []
    for prompt, response in trainer.train:
        lp = response_logprobs(model, prompt, response)
        ref = response_logprobs(base, prompt, response)
        ratios.append(np.exp(lp - ref))
        q = ref - lp
        kls.append(np.exp(q) - q - 1)
    want = expected(ratios, kls, normalise([s.reward for s in DATA]))
    assert want["clip_fraction"] > 0.2  # the test means something: the policy has moved
    for key, value in want.items():
        np.testing.assert_allclose(stats[key], value, rtol=1e-4, atol=1e-6, err_msg=key)


def test_stored_logprobs_are_the_behaviour_policy(tiny_model, tmp_path):
    """An unmoved policy (ratio 1 to the reference); stored log-probs log(1/2) below it
    give ratio 2 where they are: all of response 0, the first 2 tokens of response 1."""
    trainer, model, base = trainer_for(tiny_model, tmp_path, DATA, scale=0.0)
    rows = trainer.train
    ref = [response_logprobs(base, p, r) for p, r in rows]
    stored = [list(ref[0] - np.log(2)), list(ref[1][:2] - np.log(2)), None, None]
    data = [Scored(s.prompt, s.response, s.reward, lp) for s, lp in zip(DATA, stored, strict=True)]
    trainer, model, base = trainer_for(tiny_model, tmp_path, data, scale=0.0)
    stats = trainer.step([0, 1, 2, 3])

    ratios = [np.full(len(r), 2.0) for _, r in rows[:1]]
    ratios.append(np.r_[np.full(2, 2.0), np.ones(len(rows[1][1]) - 2)])
    ratios += [np.ones(len(r)) for _, r in rows[2:]]
    kls = [np.zeros(len(r)) for _, r in rows]
    want = expected(ratios, kls, normalise([s.reward for s in DATA]))
    np.testing.assert_allclose(want["clip_fraction"], (1 + 2 / len(rows[1][1])) / 4)
    for key, value in want.items():
        np.testing.assert_allclose(stats[key], value, rtol=1e-4, atol=1e-5, err_msg=key)


def test_logprobs_field_is_read_and_checked(tmp_path, tiny_model):
    good = {"instruction": "a", "response": "b", "reward": 1.0, "logprobs": [-0.5, -1]}
    bad = {"instruction": "a", "response": "b", "reward": 1.0, "logprobs": [0.5]}
    cfg = rl_config(tiny_model, tmp_path, "rl")
    path = write_jsonl(tmp_path / "s.jsonl", [good, {"instruction": "a", "response": "b"}])
    read = read_scored(path, cfg, need_reward=False)
    assert read[0].logprobs == [-0.5, -1.0] and read[1].logprobs is None
    with pytest.raises(UserError, match=r"s2.jsonl:2: 'logprobs' must be a list"):
        read_scored(write_jsonl(tmp_path / "s2.jsonl", [good, bad]), cfg)
    too_long = [Scored("a", "b", 1.0, [-0.1] * 50), Scored("a", "c", 0.0)]
    with pytest.raises(UserError, match="training record 1: 'logprobs' has 50 values"):
        trainer_for(tiny_model, tmp_path, too_long, scale=0.0)


def test_one_ppo_epoch_clips_once_the_policy_moves(scored_data, make_rl_config):
    cfg = make_rl_config(scored_data, "rl", ppo_epochs=1, iters=8, steps_per_report=1)
    result = run_rl(cfg, log=lambda message: None)
    assert result.status == "completed"
    train = [e for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    assert train[0]["clip_fraction"] == 0  # step 1: the policy is still the reference
    assert max(e["clip_fraction"] for e in train) > 0  # a batch-start "old" policy: always 0
