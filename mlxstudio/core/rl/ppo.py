"""PPO's clipped surrogate with a KL penalty, and offline PPO from scored responses.

Offline (stage rl, MLX-Pretrain style): each record is a prompt, a response and its
reward. Advantages are the rewards normalised over the training set. The responses were
written by some earlier policy, not by the one being trained, so the "old" (behaviour)
policy of the ratio is that one: the per-token log-probs stored with a record (`logprobs`)
when it has them, else the starting policy (the reference). ppo_epochs passes of
ppo_mini_batch_size updates minimise, per response token,
    -min(ratio * A, clip(ratio, 1 - clip_range, 1 + clip_range) * A) + kl_coef * KL
with ratio = p / p_old and KL the k3 estimate exp(q) - q - 1, q = log p_ref - log p. The
clip thus keeps the policy within a trust region of the behaviour policy across the whole
run, not just within one batch (a batch-start "old" policy would make the ratio exactly 1
with ppo_epochs 1, and the clip would never engage).
"""

from __future__ import annotations

import math
import time

import numpy as np

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.data import Scored
from mlxstudio.core.rl.logprobs import (
    collate,
    encode_prompt,
    encode_response,
    frozen_logprobs,
    token_logprobs,
    with_response_logprobs,
)
from mlxstudio.core.rl.policy_loss import policy_objective
from mlxstudio.core.rl.update import make_update


class PolicyUpdater:
    """ppo_epochs x mini-batches of clipped-objective updates on one batch of rollouts.

    Log-probs are taken under softmax(logits / temperature): GRPO trains the policy it
    samples from at that temperature (as TRL does); offline PPO uses 1."""

    def __init__(self, model, optimizer, cfg: RunConfig, temperature: float = 1.0) -> None:
        self.model, self.cfg, self.temperature = model, cfg, temperature
        self._update = make_update(model, optimizer, self._loss, cfg.grad_clip)

    def _loss(self, model, tokens, mask, old, ref, adv, batch):
        import mlx.core as mx

        cfg = self.cfg
        lp = token_logprobs(model, tokens, self.temperature, mask)
        return policy_objective(
            lp,
            mx.stop_gradient(lp) if old is None else old,
            ref,
            mask,
            adv,
            kind=cfg.grpo_loss,
            clip_low=cfg.clip_range,
            clip_high=cfg.clip_range_high,
            kl_coef=cfg.kl_coef,
            max_len=cfg.max_new_tokens,
            batch=batch,
        )

    def run(
        self, tokens, mask, old, ref, adv, seed: int, chunk: int | None = None
    ) -> dict[str, float]:
        """old: the behaviour policy's token log-probs [B, T-1], the policy that wrote the
        responses (None: the policy being trained wrote them, for a single on-policy
        update); ref: the reference's, for the KL term. `chunk`: rows per backward pass
        (the update is the same; fewer activations are alive at once)."""
        import mlx.core as mx

        mini = self.cfg.ppo_mini_batch_size or tokens.shape[0]  # default: all at once
        rng = np.random.default_rng(seed)
        sums = dict(loss=0.0, policy_loss=0.0, kl=0.0, clip_fraction=0.0)
        updates = 0
        for _ in range(self.cfg.ppo_epochs):
            order = rng.permutation(tokens.shape[0])
            for start in range(0, len(order), mini):
                idx = mx.array(order[start : start + mini])
                part = mask[idx]
                loss, (policy, kl, clipped) = self._update(
                    tokens[idx],
                    part,
                    None if old is None else old[idx],
                    ref[idx],
                    adv[idx],
                    (len(idx), float(part.sum().item())),
                    chunk=chunk,
                )
                for key, value in zip(sums, (loss, policy, kl, clipped), strict=True):
                    sums[key] += value.item()
                updates += 1
        return {k: v / updates for k, v in sums.items()}


def normalise(rewards: list[float]) -> np.ndarray:
    r = np.asarray(rewards, np.float32)
    std = float(r.std())
    return (r - r.mean()) / (std if std > 1e-8 else 1.0)


class OfflinePPOTrainer:
    train_event = ev.PolicyTrain

    def __init__(self, model, tokenizer, optimizer, cfg: RunConfig, train, valid, reference):
        self.model, self.cfg, self.reference = model, cfg, reference
        rewards = [s.reward for s in train]
        if float(np.std(rewards)) <= 1e-8:
            raise UserError("every training reward is the same; there is nothing to learn from")
        self.rewards = np.asarray(rewards, np.float32)
        self.adv = normalise(rewards)
        self.train = [self._encode(tokenizer, s) for s in train]
        self.valid = [self._encode(tokenizer, s) for s in valid]
        self.stored = [s.logprobs for s in train]
        for n, (s, (_, response)) in enumerate(zip(train, self.train, strict=True), start=1):
            if s.logprobs is not None and len(s.logprobs) > len(response):
                raise UserError(
                    f"training record {n}: 'logprobs' has {len(s.logprobs)} values but the "
                    f"response is {len(response)} tokens for this model; they must come from "
                    f"the same tokenizer (one per response token, end-of-sequence last)"
                )
        self.valid_rewards = np.asarray([s.reward for s in valid], np.float32)
        self.updater = PolicyUpdater(model, optimizer, cfg)
        self.calls = 0

    @staticmethod
    def _encode(tokenizer, s: Scored):
        return encode_prompt(tokenizer, s.prompt), encode_response(tokenizer, s.response)

    def step(self, indices: list[int]) -> dict[str, float]:
        import mlx.core as mx

        tokens, mask = collate([self.train[i] for i in indices], self.cfg.max_seq_length)
        ref = self.reference.token_logprobs(tokens, mask=mask)
        old = self.behaviour(ref, mask, indices)
        adv = mx.array(self.adv[indices])
        stats = self.updater.run(tokens, mask, old, ref, adv, seed=self.cfg.seed + sum(indices))
        r = self.rewards[indices]
        return stats | {
            "tokens": float(mask.sum().item()) * self.cfg.ppo_epochs,
            "padded_tokens": float(tokens.size) * self.cfg.ppo_epochs,
            "reward_mean": float(r.mean()),
            "reward_std": float(r.std()),
            "response_tokens": float(mask.sum().item()) / len(indices),
        }

    def behaviour(self, ref, mask, indices: list[int]):
        """The behaviour policy's token log-probs [B, T-1]: the stored ones where records
        carry them, the starting policy's (ref) elsewhere."""
        return with_response_logprobs(ref, mask, [self.stored[i] for i in indices])

    def validate(self, step: int, total_steps: int) -> ev.PolicyVal | None:
        """Mean token log-prob of held-out responses above and below the median reward, and
        the advantage-weighted NLL (val_loss): lower when good responses gained probability."""
        if len(self.valid) < 2:
            return None
        tic = time.perf_counter()
        means, kls = [], []
        size = self.cfg.batch_size
        for i in range(0, len(self.valid), size):
            tokens, mask = collate(self.valid[i : i + size], self.cfg.max_seq_length)
            lp = frozen_logprobs(self.model, tokens, mask=mask)
            ref = self.reference.token_logprobs(tokens, mask=mask)
            count = mask.sum(axis=1)
            means.extend(((lp * mask).sum(axis=1) / count).tolist())
            q = ref - lp
            kls.extend((((q.exp() - q - 1) * mask).sum(axis=1) / count).tolist())
        means_np = np.asarray(means)
        adv = normalise(self.valid_rewards.tolist())
        median = float(np.median(self.valid_rewards))
        high, low = self.valid_rewards > median, self.valid_rewards <= median
        loss = float(-(adv * means_np).mean())
        return ev.PolicyVal(
            step=step,
            total_steps=total_steps,
            val_loss=loss,
            val_ppl=math.exp(min(loss, 50.0)),
            val_time_s=time.perf_counter() - tic,
            kl=float(np.mean(kls)),
            high_reward_logprob=float(means_np[high].mean()) if high.any() else None,
            low_reward_logprob=float(means_np[low].mean()) if low.any() else None,
        )
