"""KTO (Ethayarajh et al. 2024) from unpaired answers, each labelled good or bad.

As TRL implements it: with r = log p(answer) - log p_ref(answer) summed over the answer and
z a detached estimate of KL(policy || reference) >= 0, a good answer's loss is
1 - sigmoid(beta (r - z)) and a bad one's 1 - sigmoid(beta (z - r)). z is the batch's mean
log-ratio on mismatched pairs: each prompt with the next example's answer.
"""

from __future__ import annotations

import math
import time

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.data import Labelled
from mlxstudio.core.rl.logprobs import (
    collate,
    encode_prompt,
    encode_response,
    frozen_logprobs,
    token_logprobs,
)
from mlxstudio.core.rl.update import make_update


def kto_loss(beta: float, pol, ref, good, kl):
    """Loss per example and its implicit reward beta x log-ratio. pol / ref: summed
    log-probs [B]; good: 1.0 for good answers, 0.0 for bad [B]; kl: the scalar z."""
    import mlx.core as mx

    ratio = pol - ref
    good_loss = 1 - mx.sigmoid(beta * (ratio - kl))
    bad_loss = 1 - mx.sigmoid(beta * (kl - ratio))
    return good * good_loss + (1 - good) * bad_loss, beta * ratio


def kl_estimate(pol, ref):
    """z: the mean log-ratio on mismatched pairs, at least 0, without a gradient."""
    import mlx.core as mx

    return mx.stop_gradient(mx.maximum((pol - ref).mean(), 0.0))


def reward_stats(rewards, good) -> dict[str, float]:
    """Mean implicit reward of good and of bad answers, their margin, and the share of
    (good, bad) combinations ranked right (0.5, no information, when one kind is absent)."""
    import numpy as np

    r, g = np.asarray(rewards), np.asarray(good) > 0.5
    if not g.any() or g.all():
        return {"chosen_reward": 0.0, "rejected_reward": 0.0, "margin": 0.0, "accuracy": 0.5}
    chosen, rejected = float(r[g].mean()), float(r[~g].mean())
    return {
        "chosen_reward": chosen,
        "rejected_reward": rejected,
        "margin": chosen - rejected,
        "accuracy": float((r[g][:, None] > r[~g][None, :]).mean()),
    }


class KTOTrainer:
    train_event = ev.PreferenceTrain

    def __init__(self, model, tokenizer, optimizer, cfg: RunConfig, train, valid, reference):
        if cfg.batch_size < 2:
            raise UserError(
                "config: KTO estimates the KL term from mismatched answers within a batch: "
                "set batch_size to 2 or more"
            )
        self.model, self.cfg, self.reference = model, cfg, reference
        self.train = [self._encode(tokenizer, x) for x in train]
        self.valid = [self._encode(tokenizer, x) for x in valid]
        self.update = make_update(
            model, optimizer, self._loss, cfg.grad_clip, cfg.grad_accumulation_steps
        )

    @staticmethod
    def _encode(tokenizer, x: Labelled) -> tuple:
        return encode_prompt(tokenizer, x.prompt), encode_response(tokenizer, x.completion), x.good

    def _batch(self, examples):
        """Rows: the examples, then each prompt with the next example's answer (for z)."""
        import mlx.core as mx

        n = len(examples)
        rows = [(p, c) for p, c, _ in examples]
        rows += [(examples[i][0], examples[(i + 1) % n][1]) for i in range(n)]
        tokens, mask = collate(rows, self.cfg.max_seq_length)
        good = mx.array([1.0 if g else 0.0 for _, _, g in examples])
        return tokens, mask, good

    def _summed(self, lp, mask):
        return (lp * mask).sum(axis=1)

    def _loss(self, model, tokens, mask, ref, good):
        pol = self._summed(token_logprobs(model, tokens, mask=mask), mask)
        n = good.shape[0]
        kl = kl_estimate(pol[n:], ref[n:])
        loss, reward = kto_loss(self.cfg.beta, pol[:n], ref[:n], good, kl)
        return loss.mean(), (reward, kl)

    def step(self, indices: list[int]) -> dict[str, float]:
        examples = [self.train[i] for i in indices]
        tokens, mask, good = self._batch(examples)
        ref = self._summed(self.reference.token_logprobs(tokens, mask=mask), mask)
        loss, (reward, _) = self.update(tokens, mask, ref, good)
        n = len(examples)
        return {
            "loss": loss.item(),
            "tokens": float(mask[:n].sum().item()),
            "padded_tokens": float(tokens.size),
            **reward_stats(reward.tolist(), good.tolist()),
        }

    def validate(self, step: int, total_steps: int) -> ev.PreferenceVal | None:
        """Loss, the good - bad reward margin and accuracy over held-out answers."""
        if len(self.valid) < 2:
            return None
        tic = time.perf_counter()
        size = max(2, self.cfg.batch_size)
        chunks = [self.valid[i : i + size] for i in range(0, len(self.valid), size)]
        if self.cfg.val_batches > 0:
            chunks = chunks[: self.cfg.val_batches]
        losses, rewards, goods, pols = [], [], [], []
        for chunk in chunks:
            tokens, mask, good = self._batch(chunk)
            pol = self._summed(frozen_logprobs(self.model, tokens, mask=mask), mask)
            ref = self._summed(self.reference.token_logprobs(tokens, mask=mask), mask)
            n = len(chunk)
            loss, reward = kto_loss(
                self.cfg.beta, pol[:n], ref[:n], good, kl_estimate(pol[n:], ref[n:])
            )
            losses += loss.tolist()
            rewards += reward.tolist()
            goods += good.tolist()
            pols += pol[:n].tolist()
        stats = reward_stats(rewards, goods)
        loss = sum(losses) / len(losses)
        g = [p for p, x in zip(pols, goods, strict=True) if x > 0.5]
        b = [p for p, x in zip(pols, goods, strict=True) if x <= 0.5]
        return ev.PreferenceVal(
            step=step,
            total_steps=total_steps,
            val_loss=loss,
            val_ppl=math.exp(min(loss, 50.0)),
            val_time_s=time.perf_counter() - tic,
            margin=stats["margin"],
            accuracy=stats["accuracy"],
            chosen_logprob=sum(g) / len(g) if g else 0.0,
            rejected_logprob=sum(b) / len(b) if b else 0.0,
        )
