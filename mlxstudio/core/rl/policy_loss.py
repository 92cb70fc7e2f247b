"""The clipped policy objective of PPO and GRPO, and its GRPO variants (`grpo_loss`).

Per response token, with ratio = p / p_old and A the response's advantage:
    -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A) + kl_coef * KL,
KL the k3 estimate exp(q) - q - 1, q = log p_ref - log p. The variants differ in the ratio,
in how tokens are averaged and (grpo.py) in the advantages:

- grpo (Shao et al. 2024): each response's tokens averaged, then the responses.
- dapo (Yu et al. 2025): every token of the batch weighs the same (a long answer is not
  diluted), and clip_high above clip_low (clip-higher) lets unlikely tokens grow.
- dr_grpo (Liu et al. 2025): the token sum over responses x max_new_tokens, a constant, so
  neither length nor (grpo.py) the group's spread rescales the gradient.
- gspo (Zheng et al. 2025): one ratio per response, exp(mean token log-ratio), clipped as a
  whole.
"""

from __future__ import annotations

GRPO_LOSSES = ("grpo", "dapo", "dr_grpo", "gspo")


def policy_objective(
    lp,
    old,
    ref,
    mask,
    adv,
    *,
    kind: str = "grpo",
    clip_low: float = 0.2,
    clip_high: float | None = None,
    kl_coef: float = 0.0,
    max_len: int = 1,
    batch: tuple[int, float] | None = None,
):
    """(loss, (policy loss, KL, clip fraction)): lp / old / ref token log-probs [B, T],
    mask the response tokens [B, T], adv one advantage per response [B]. `batch`: (rows,
    response tokens) of the whole batch when these rows are a chunk of it; the means are
    then the batch's, so the chunks' losses add up to its loss."""
    import mlx.core as mx

    high = clip_low if clip_high is None else clip_high
    rows, tokens = batch or (mask.shape[0], mask.sum())
    log_ratio = lp - old
    count = mx.maximum(mask.sum(axis=1), 1)
    if kind == "gspo":  # the response's ratio: geometric mean of its token ratios
        log_ratio = ((log_ratio * mask).sum(axis=1) / count)[:, None]
    ratio = mx.exp(log_ratio)
    a = adv[:, None]
    surrogate = -mx.minimum(ratio * a, mx.clip(ratio, 1 - clip_low, 1 + high) * a)
    q = ref - lp
    kl = mx.exp(q) - q - 1
    clipped = ((ratio < 1 - clip_low) | (ratio > 1 + high)).astype(mx.float32)

    def reduce(x):
        x = mx.broadcast_to(x, mask.shape) * mask
        if kind == "dapo":
            return x.sum() / mx.maximum(tokens, 1)
        if kind == "dr_grpo":
            return x.sum() / (rows * max_len)
        return (x.sum(axis=1) / count).sum() / rows

    policy, kl_mean = reduce(surrogate), reduce(kl)
    return policy + kl_coef * kl_mean, (policy, kl_mean, reduce(clipped))
