"""GRPO: online RL with a reward function.

Each step samples group_size responses to each of batch_size prompts from the policy,
scores them with the reward model, and takes each response's advantage relative to its
group: (r - mean) / (std + eps). No value model; the update is PPO's clipped objective with
the KL penalty to the reference (ppo.py). Groups whose rewards are all equal carry no
signal and get advantage 0.

The responses are drawn from softmax(logits / temperature), so that is the behaviour
policy: its log-probs (the "old" ones of the ratio), the trained policy's and the
reference's are all taken at the sampling temperature (as TRL does). Greedy decoding
(temperature 0) falls back to temperature 1 for the log-probs. When the step makes one
update (ppo_epochs 1, no smaller mini-batches) the policy it trains is the one that sampled:
the old log-probs are then the trained policy's own, without a gradient (as TRL and
mlx-lm-lora do), not a forward pass of their own.

The log-probs and the backward pass go through batch_size answers at a time (update.py),
so a larger group costs time, not memory.

`grpo_loss` picks the variant (policy_loss.py): dr_grpo's advantages are r - mean, not
divided by the group's spread; dapo drops the groups whose rewards are all equal before the
update (dynamic sampling: they carry no signal but would still count in the token mean).
The reward may be several weighted rewards (reward_mix.py); each one's mean is reported,
and so are the reward_checks, which are scored but never trained on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig
from mlxstudio.core.rl.data import Prompt
from mlxstudio.core.rl.logprobs import collate, encode_prompt, frozen_logprobs
from mlxstudio.core.rl.ppo import PolicyUpdater
from mlxstudio.core.rl.reward_base import RewardModel
from mlxstudio.core.rl.reward_mix import WeightedRewards

EPS = 1e-4


def sample_group(
    model, prompt: list[int], k: int, max_new_tokens: int, temperature: float, eos: set[int]
) -> list[list[int]]:
    """k responses to one prompt, decoded together. Each response keeps its
    end-of-sequence token when it produced one."""
    return sample_groups(model, [prompt], k, max_new_tokens, temperature, eos)


def sample_groups(
    model,
    prompts: list[list[int]],
    k: int,
    max_new_tokens: int,
    temperature: float,
    eos: set[int],
) -> list[list[int]]:
    """k responses to each prompt (prompt-major), all decoded in one batch: the prompts
    left-padded, the padding masked out by mlx-lm's BatchKVCache (one decoding loop for the
    whole step instead of one per prompt). A model with its own cache kind (sliding
    windows, state-space layers) decodes one prompt's group at a time."""
    import mlx.core as mx
    from mlx_lm.models.cache import BatchKVCache, make_prompt_cache

    if hasattr(model, "make_cache") and len(prompts) > 1:
        return [
            r
            for p in prompts
            for r in sample_groups(model, [p], k, max_new_tokens, temperature, eos)
        ]
    rows = [p for p in prompts for _ in range(k)]
    longest = max(len(p) for p in rows)
    padding = [longest - len(p) for p in rows]
    if any(padding):
        cache = [BatchKVCache(padding) for _ in model.layers]
    else:
        cache = make_prompt_cache(model)
    tokens = mx.array([[0] * n + p for n, p in zip(padding, rows, strict=True)])
    logits = model(tokens, cache=cache)[:, -1, :]
    out: list[list[int]] = [[] for _ in rows]
    done = [False] * len(rows)
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
    # [B*k, T-1] behaviour log-probs: the sampling policy at the sampling temperature; None
    # when the update is on-policy (the trained policy's own, without a gradient)
    old: Any
    ref: Any  # [B*k, T-1] reference log-probs at the same temperature
    rewards: np.ndarray  # [B*k]
    fields: dict[str, float]  # each reward's and each check's mean


def group_advantages(rewards: np.ndarray, k: int, scale: bool = True) -> np.ndarray:
    """Each reward relative to its group's mean, over the group's spread when `scale`
    (Dr. GRPO leaves the spread out: it would weigh easy and hard prompts unequally)."""
    groups = rewards.reshape(-1, k)
    centred = groups - groups.mean(axis=1, keepdims=True)
    if not scale:
        return centred.reshape(-1)
    return (centred / (groups.std(axis=1, keepdims=True) + EPS)).reshape(-1)


def informative_rows(rewards: np.ndarray, k: int) -> np.ndarray:
    """Indices of the responses in groups whose rewards differ (DAPO's dynamic sampling)."""
    spread = rewards.reshape(-1, k).std(axis=1) > 1e-6
    return np.flatnonzero(np.repeat(spread, k))


def means(prefix: str, scores: dict[str, np.ndarray]) -> dict[str, float]:
    """Each reward's mean, as report fields ('reward.length_window': 0.8)."""
    return {f"{prefix}.{label}": float(v.mean()) for label, v in scores.items()}


class GRPOTrainer:
    train_event = ev.PolicyTrain

    def __init__(
        self,
        model,
        tokenizer,
        optimizer,
        cfg: RunConfig,
        train: list[Prompt | str],
        valid: list[Prompt | str],
        reference,
        reward_model: RewardModel,
        checks: WeightedRewards | None = None,
    ) -> None:
        self.model, self.tokenizer, self.cfg, self.reference = model, tokenizer, cfg, reference
        if not isinstance(reward_model, WeightedRewards):  # one reward: its own part
            reward_model = WeightedRewards([(reward_model.name, reward_model, 1.0)])
        self.reward_model, self.checks = reward_model, checks
        self.prompts = [p if isinstance(p, Prompt) else Prompt(p, {}) for p in train]
        self.valid = [p if isinstance(p, Prompt) else Prompt(p, {}) for p in valid]
        self.encoded = [encode_prompt(tokenizer, p.text) for p in self.prompts]
        self.eos = set(getattr(tokenizer, "eos_token_ids", None) or [tokenizer.eos_token_id])
        self.temperature = logprob_temperature(cfg.temperature)
        self.updater = PolicyUpdater(model, optimizer, cfg, self.temperature)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode([t for t in ids if t not in self.eos]).strip()

    def rollout(self, prompts: list[Prompt], encoded: list[list[int]], k: int, temperature: float):
        """Responses (token ids and text) for each prompt, k per prompt, their rewards and
        the report fields of each reward's and each check's mean."""
        training = self.model.training
        self.model.eval()
        try:
            ids = sample_groups(
                self.model, encoded, k, self.cfg.max_new_tokens, temperature, self.eos
            )
        finally:
            self.model.train(training)
        texts = [self._decode(r) for r in ids]
        asked = [p.text for p in prompts for _ in range(k)]
        keys = {key for p in prompts for key in p.fields}  # what rewards may read (answer)
        columns = {key: [p.fields.get(key) for p in prompts for _ in range(k)] for key in keys}
        scores = self.reward_model.parts_scores(asked, texts, columns)
        fields = means("reward", scores)
        if self.checks is not None:
            fields |= means("check", self.checks.parts_scores(asked, texts, columns))
        return ids, texts, self.reward_model.total(scores).astype(np.float32), fields

    def sample(self, indices: list[int]) -> Rollouts:
        """group_size responses to each prompt, with behaviour and reference log-probs."""
        k = self.cfg.group_size
        encoded = [self.encoded[i] for i in indices]
        ids, _, rewards, fields = self.rollout(
            [self.prompts[i] for i in indices], encoded, k, self.cfg.temperature
        )
        rows = [(encoded[j // k], ids[j]) for j in range(len(ids))]
        tokens, mask = collate(rows, self.cfg.max_seq_length)
        old = None if self._one_update(len(rows)) else self._behaviour(tokens, mask)
        ref = self.reference.token_logprobs(tokens, self.temperature, mask, self.cfg.batch_size)
        return Rollouts(tokens, mask, old, ref, rewards, fields)

    def _one_update(self, rows: int) -> bool:
        """Whether the step's update is a single one, made by the policy that sampled."""
        return self.cfg.ppo_epochs == 1 and (self.cfg.ppo_mini_batch_size or rows) >= rows

    def _behaviour(self, tokens, mask):
        """The sampling policy's log-probs: the policy as it is, without dropout as when
        sampling."""
        return frozen_logprobs(self.model, tokens, self.temperature, mask, self.cfg.batch_size)

    def step(self, indices: list[int]) -> dict[str, float]:
        import mlx.core as mx

        cfg, k = self.cfg, self.cfg.group_size
        r = self.sample(indices)
        adv = group_advantages(r.rewards, k, scale=cfg.grpo_loss != "dr_grpo")
        n_tokens = float(r.mask.sum().item())
        report = r.fields | {
            "reward_mean": float(r.rewards.mean()),
            "reward_std": float(r.rewards.std()),
            "response_tokens": n_tokens / len(r.rewards),
        }
        rows = np.arange(len(r.rewards))
        if cfg.grpo_loss == "dapo":
            rows = informative_rows(r.rewards, k)
            report["kept_groups"] = len(rows) / len(r.rewards)
            if len(rows) == 0:  # every group tied: nothing to learn from this batch
                # the policy is still as far from the reference: its KL, not 0, on the curve
                old = r.old if r.old is not None else self._behaviour(r.tokens, r.mask)
                q = r.ref - old
                kl = float(((mx.exp(q) - q - 1) * r.mask).sum().item()) / max(n_tokens, 1.0)
                zero = dict(loss=0.0, policy_loss=0.0, kl=kl, clip_fraction=0.0)
                return zero | report | {"tokens": 0.0, "padded_tokens": 0.0}
        take = mx.array(rows)
        stats = self.updater.run(
            r.tokens[take],
            r.mask[take],
            None if r.old is None else r.old[take],
            r.ref[take],
            mx.array(adv[rows]),
            seed=cfg.seed + sum(indices),
            chunk=cfg.batch_size,
        )
        trained = float(r.mask[take].sum().item())
        return (
            stats
            | report
            | {
                "tokens": trained * cfg.ppo_epochs,
                "padded_tokens": float(r.tokens[take].size) * cfg.ppo_epochs,
            }
        )

    def validate(self, step: int, total_steps: int) -> ev.PolicyVal | None:
        """Mean reward of greedy answers to the held-out prompts (val_loss is its negative)."""
        if not self.valid:
            return None
        tic = time.perf_counter()
        encoded = [encode_prompt(self.tokenizer, p.text) for p in self.valid]
        _, _, rewards, fields = self.rollout(self.valid, encoded, 1, 0.0)
        mean = float(rewards.mean())
        return ev.PolicyVal(
            step=step,
            total_steps=total_steps,
            val_loss=-mean,
            val_ppl=math.exp(min(-mean, 50.0)),
            val_time_s=time.perf_counter() - tic,
            reward_mean=mean,
            rewards=fields,
        )
