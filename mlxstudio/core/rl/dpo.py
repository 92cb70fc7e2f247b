"""DPO (and IPO, ORPO) from preference pairs: prompt / chosen / rejected.

DPO (Rafailov et al. 2023) raises the policy's log-ratio to the reference on chosen
responses over rejected ones: loss = -log sigmoid(beta * ((pc - rc) - (pr - rr))), p policy
and r reference summed log-probs. IPO (Azar et al. 2023, as TRL implements it) squares the
distance of h to 1/(2 beta), h the same difference with each sequence's log-ratio averaged
over its own tokens: h = (pc - rc) / n_chosen - (pr - rr) / n_rejected. ORPO (Hong et al.
2024) needs no reference: the chosen response's mean token NLL plus
beta x -log sigmoid(log odds-ratio of the two), odds from mean token log-probs.
CPO (Xu et al. 2024) and SimPO (Meng et al. 2024) need no reference either (no reference
pass: faster, and nothing of the starting policy kept): CPO is -log sigmoid(beta (pc - pr))
plus cpo_alpha x the chosen answer's mean token NLL; SimPO is -log sigmoid(beta (mc - mr) -
simpo_gamma), m the mean token log-prob (length-normalised, so long answers gain nothing).
KTO (unpaired good / bad answers) is in kto.py.
"""

from __future__ import annotations

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig
from mlxstudio.core.rl.data import Pair
from mlxstudio.core.rl.logprobs import (
    collate,
    encode_prompt,
    encode_response,
    frozen_logprobs,
    token_logprobs,
)
from mlxstudio.core.rl.reference import Reference
from mlxstudio.core.rl.update import make_update

REFERENCE_FREE = ("orpo", "cpo", "simpo")  # losses that never read the reference policy


def preference_loss(
    kind: str, beta: float, pol, ref, lengths, gamma: float = 0.5, alpha: float = 1.0
):
    """Loss per pair and the implicit rewards. pol/ref: summed log-probs [2B] (chosen rows
    first); lengths: response tokens per row; gamma: SimPO's target margin; alpha: CPO's
    weight of the chosen answer's NLL."""
    import mlx.core as mx
    import mlx.nn as nn

    half = pol.shape[0] // 2
    pc, pr, rc, rr = pol[:half], pol[half:], ref[:half], ref[half:]
    lengths = mx.maximum(lengths, 1)  # an empty answer: no division by zero
    if kind == "orpo":
        mean = pol / lengths  # mean token log-prob: a probability-like quantity per row
        mc, mr = mean[:half], mean[half:]
        log_odds = (mc - mr) - (mx.log1p(-mx.exp(mc)) - mx.log1p(-mx.exp(mr)))
        loss = -mc + beta * -nn.log_sigmoid(log_odds)
        return loss, beta * mc, beta * mr
    if kind == "cpo":
        nll = -pc / lengths[:half]
        loss = -nn.log_sigmoid(beta * (pc - pr)) + alpha * nll
        return loss, beta * pc, beta * pr
    if kind == "simpo":
        mc, mr = pc / lengths[:half], pr / lengths[half:]
        loss = -nn.log_sigmoid(beta * (mc - mr) - gamma)
        return loss, beta * mc, beta * mr
    if kind == "ipo":
        # each log-ratio over its own length: which answer is longer must not matter
        h = (pc - rc) / lengths[:half] - (pr - rr) / lengths[half:]
        loss = (h - 1 / (2 * beta)) ** 2
    else:
        loss = -nn.log_sigmoid(beta * ((pc - rc) - (pr - rr)))
    return loss, beta * (pc - rc), beta * (pr - rr)


def encode_pair(tokenizer, pair: Pair) -> tuple:
    """(prompt, chosen, rejected) token lists, as the model reads them."""
    return (
        encode_prompt(tokenizer, pair.prompt),
        encode_response(tokenizer, pair.chosen),
        encode_response(tokenizer, pair.rejected),
    )


class DPOTrainer:
    train_event = ev.PreferenceTrain

    def __init__(self, model, tokenizer, optimizer, cfg: RunConfig, train, valid, reference):
        self.model, self.cfg = model, cfg
        self.reference: Reference = reference
        self.train = [encode_pair(tokenizer, p) for p in train]
        self.valid = [encode_pair(tokenizer, p) for p in valid]
        self.update = make_update(
            model, optimizer, self._loss, cfg.grad_clip, cfg.grad_accumulation_steps
        )

    def _batch(self, examples):
        rows = [(p, c) for p, c, _ in examples] + [(p, r) for p, _, r in examples]
        return collate(rows, self.cfg.max_seq_length)

    def _loss(self, model, tokens, mask, ref):
        pol = (token_logprobs(model, tokens, mask=mask) * mask).sum(axis=1)
        loss, chosen, rejected = self.loss_of(pol, ref, mask)
        return loss.mean(), (chosen, rejected)

    def loss_of(self, pol, ref, mask):
        cfg = self.cfg
        return preference_loss(
            cfg.preference_loss,
            cfg.beta,
            pol,
            ref,
            mask.sum(axis=1),
            cfg.simpo_gamma,
            cfg.cpo_alpha,
        )

    def _ref(self, tokens, mask):
        if self.cfg.preference_loss in REFERENCE_FREE:  # no reference pass at all
            import mlx.core as mx

            return mx.zeros((tokens.shape[0],))
        return (self.reference.token_logprobs(tokens, mask=mask) * mask).sum(axis=1)

    def step(self, indices: list[int]) -> dict[str, float]:
        import mlx.core as mx

        tokens, mask = self._batch([self.train[i] for i in indices])
        loss, (chosen, rejected) = self.update(tokens, mask, self._ref(tokens, mask))
        return {
            "loss": loss.item(),
            "tokens": float(mask.sum().item()),
            "padded_tokens": float(tokens.size),
            "chosen_reward": chosen.mean().item(),
            "rejected_reward": rejected.mean().item(),
            "margin": (chosen - rejected).mean().item(),
            "accuracy": (chosen > rejected).astype(mx.float32).mean().item(),
        }

    def validate(self, step: int, total_steps: int) -> ev.PreferenceVal | None:
        """Loss, reward margin and accuracy over the held-out pairs (all, or val_batches)."""
        import math
        import time

        if not self.valid:
            return None
        tic = time.perf_counter()
        size = self.cfg.batch_size
        chunks = [self.valid[i : i + size] for i in range(0, len(self.valid), size)]
        if self.cfg.val_batches > 0:
            chunks = chunks[: self.cfg.val_batches]
        totals = dict(loss=0.0, margin=0.0, accuracy=0.0, chosen=0.0, rejected=0.0)
        n = 0
        for chunk in chunks:
            tokens, mask = self._batch(chunk)
            pol = (frozen_logprobs(self.model, tokens, mask=mask) * mask).sum(axis=1)
            ref = self._ref(tokens, mask)
            loss, chosen, rejected = self.loss_of(pol, ref, mask)
            half = len(chunk)
            totals["loss"] += loss.sum().item()
            totals["margin"] += (chosen - rejected).sum().item()
            totals["accuracy"] += (chosen > rejected).sum().item()
            totals["chosen"] += pol[:half].sum().item()
            totals["rejected"] += pol[half:].sum().item()
            n += half
        mean = {k: v / n for k, v in totals.items()}
        return ev.PreferenceVal(
            step=step,
            total_steps=total_steps,
            val_loss=mean["loss"],
            val_ppl=math.exp(min(mean["loss"], 50.0)),
            val_time_s=time.perf_counter() - tic,
            margin=mean["margin"],
            accuracy=mean["accuracy"],
            chosen_logprob=mean["chosen"],
            rejected_logprob=mean["rejected"],
        )
