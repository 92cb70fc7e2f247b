"""GRPO: online RL with a reward function.

Each step samples group_size responses to each of batch_size prompts from the policy,
scores them with the reward model, and takes each response's advantage relative to its
group: (r - mean) / (std + eps). No value model; the update is PPO's clipped objective with
the KL penalty to the reference (ppo.py). Groups whose rewards are all equal carry no
signal and get advantage 0.

The responses are drawn from softmax(logits / temperature), so that is the behaviour
policy: its log-probs (the "old" ones of the ratio), the trained policy's and the
reference's are all taken at the sampling temperature (as TRL does). Greedy decoding
(temperature 0) falls back to temperature 1 for the log-probs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig
from mlxstudio.core.rl.logprobs import collate, encode_prompt, frozen_logprobs
from mlxstudio.core.rl.ppo import PolicyUpdater
from mlxstudio.core.rl.rewards import RewardModel, score

EPS = 1e-4


def sample_group(
    model, prompt: list[int], k: int, max_new_tokens: int, temperature: float, eos: set[int]
) -> list[list[int]]:
    """k responses to one prompt, decoded together (the same prompt: no padding needed).
    Each response keeps its end-of-sequence token when it produced one."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model)
    logits = model(mx.array([prompt] * k), cache=cache)[:, -1, :]
    out: list[list[int]] = [[] for _ in range(k)]
    done = [False] * k
    for _ in range(max_new_tokens):
        if temperature > 0:
            token = mx.random.categorical(logits.astype(mx.float32) / temperature)
        else:
            token = mx.argmax(logits, axis=-1)
        mx.eval(token)
        for i, t in enumerate(token.tolist()):
            if not done[i]:
                out[i].append(t)
                done[i] = t in eos
        if all(done):
            break
        logits = model(token[:, None], cache=cache)[:, -1, :]
    return out


def logprob_temperature(temperature: float) -> float:
    """The temperature log-probs are taken at: the sampling one, 1 for greedy decoding."""
    return temperature if temperature > 0 else 1.0


@dataclass
class Rollouts:
    """One step's sampled responses, collated, with what the update needs."""

    tokens: Any  # [B*k, T] prompt + response
    mask: Any  # [B*k, T-1] response targets
    old: Any  # [B*k, T-1] behaviour log-probs: the sampling policy at the sampling temperature
    ref: Any  # [B*k, T-1] reference log-probs at the same temperature
    rewards: np.ndarray  # [B*k]


def group_advantages(rewards: np.ndarray, k: int) -> np.ndarray:
    groups = rewards.reshape(-1, k)
    centred = groups - groups.mean(axis=1, keepdims=True)
    return (centred / (groups.std(axis=1, keepdims=True) + EPS)).reshape(-1)


class GRPOTrainer:
    train_event = ev.PolicyTrain

    def __init__(
        self,
        model,
        tokenizer,
        optimizer,
        cfg: RunConfig,
        train: list[str],
        valid: list[str],
        reference,
        reward_model: RewardModel,
    ) -> None:
        self.model, self.tokenizer, self.cfg, self.reference = model, tokenizer, cfg, reference
        self.reward_model = reward_model
        self.prompts, self.valid = train, valid
        self.encoded = [encode_prompt(tokenizer, p) for p in train]
        self.eos = set(getattr(tokenizer, "eos_token_ids", None) or [tokenizer.eos_token_id])
        self.temperature = logprob_temperature(cfg.temperature)
        self.updater = PolicyUpdater(model, optimizer, cfg, self.temperature)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode([t for t in ids if t not in self.eos]).strip()

    def rollout(self, prompts: list[str], encoded: list[list[int]], k: int, temperature: float):
        """Responses (token ids and text) for each prompt, k per prompt, and their rewards."""
        training = self.model.training
        self.model.eval()
        try:
            ids = []
            for prompt in encoded:
                ids += sample_group(
                    self.model, prompt, k, self.cfg.max_new_tokens, temperature, self.eos
                )
        finally:
            self.model.train(training)
        texts = [self._decode(r) for r in ids]
        rewards = score(self.reward_model, [p for p in prompts for _ in range(k)], texts)
        return ids, texts, np.asarray(rewards, np.float32)

    def sample(self, indices: list[int]) -> Rollouts:
        """group_size responses to each prompt, with behaviour and reference log-probs."""
        k = self.cfg.group_size
        encoded = [self.encoded[i] for i in indices]
        ids, _, rewards = self.rollout(
            [self.prompts[i] for i in indices], encoded, k, self.cfg.temperature
        )
        rows = [(encoded[j // k], ids[j]) for j in range(len(ids))]
        tokens, mask = collate(rows, self.cfg.max_seq_length)
        # the policy that just sampled, without dropout as when sampling
        old = frozen_logprobs(self.model, tokens, self.temperature)
        ref = self.reference.token_logprobs(tokens, self.temperature)
        return Rollouts(tokens, mask, old, ref, rewards)

    def step(self, indices: list[int]) -> dict[str, float]:
        import mlx.core as mx

        r = self.sample(indices)
        adv = mx.array(group_advantages(r.rewards, self.cfg.group_size))
        stats = self.updater.run(
            r.tokens, r.mask, r.old, r.ref, adv, seed=self.cfg.seed + sum(indices)
        )
        n_tokens = float(r.mask.sum().item())
        return stats | {
            "tokens": n_tokens * self.cfg.ppo_epochs,
            "padded_tokens": float(r.tokens.size) * self.cfg.ppo_epochs,
            "reward_mean": float(r.rewards.mean()),
            "reward_std": float(r.rewards.std()),
            "response_tokens": n_tokens / len(r.rewards),
        }

    def validate(self, step: int, total_steps: int) -> ev.PolicyVal | None:
        """Mean reward of greedy answers to the held-out prompts (val_loss is its negative)."""
        if not self.valid:
            return None
        tic = time.perf_counter()
        encoded = [encode_prompt(self.tokenizer, p) for p in self.valid]
        _, _, rewards = self.rollout(self.valid, encoded, 1, 0.0)
        mean = float(rewards.mean())
        return ev.PolicyVal(
            step=step,
            total_steps=total_steps,
            val_loss=-mean,
            val_ppl=math.exp(min(-mean, 50.0)),
            val_time_s=time.perf_counter() - tic,
            reward_mean=mean,
        )
