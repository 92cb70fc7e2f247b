"""Batches in a resumable order, and sequence packing.

mlx-lm draws batches from a generator seeded once, so a resumed run cannot continue where
it stopped. Here the order of epoch `e` is a permutation fixed by (seed, e), and the data
position is (epoch, index): a resumed run draws exactly the batches it would have drawn.

Packing puts several short examples into one row of up to max_seq_length tokens. A
block-diagonal causal mask keeps each example from attending to the others, and the loss
skips the prediction across an example boundary. With RoPE, attention depends only on
relative positions, so a packed example computes the same logits as it would alone.

On CUDA, MLX's fused attention has a fused backward pass (cuDNN) only when the model reads a
multiple of 128 positions; otherwise the backward pass materialises every head's attention
scores (batch x heads x tokens^2), which cost the packed rows (always near max_seq_length,
so 1023 positions at 1024) twice the memory of unpacked ones. So rows there are padded to
1 + a multiple of 128 (the extra positions are padding the loss skips), and the packing
mask is additive, (rows, 1, n, n) in the compute dtype: a boolean mask would be expanded
to every head and kept per layer for the backward pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mlxstudio.core.errors import UserError

PAD_TO = 32  # mlx-lm pads rows to 1 + a multiple of 32, bounding the shapes compiled
PACKABLE = ("llama", "mistral", "qwen2", "qwen3")
FUSED_ATTENTION_MULTIPLE = 128  # cuDNN's fused attention backward needs this many positions


def attention_multiple() -> int:
    """Model positions per row should be a multiple of this here (1: any length)."""
    from mlxstudio.core.platform import backend

    return FUSED_ATTENTION_MULTIPLE if backend().name == "cuda" else 1


def aligned_width(width: int, multiple: int) -> int:
    """A row width whose model positions (all but the last token) are a multiple of
    `multiple`: the extra positions are padding after every example, so causal attention
    leaves the trained positions as they were."""
    return 1 + multiple * ((max(1, width - 1) + multiple - 1) // multiple)


def pad_columns(tokens, width: int):
    """Right-pad a (rows, columns) token batch with zeros to `width` columns."""
    import mlx.core as mx

    extra = width - tokens.shape[1]
    if extra <= 0:
        return tokens
    return mx.concatenate([tokens, mx.zeros((tokens.shape[0], extra), tokens.dtype)], axis=1)


def padded_length(longest: int, max_seq_length: int) -> int:
    """Tokens per row of a batch whose longest row has `longest` tokens: mlx-lm's rule, one
    plus a multiple of PAD_TO (the model reads all but the last), cut at max_seq_length."""
    return min(1 + PAD_TO * ((max(1, longest) + PAD_TO - 1) // PAD_TO), max_seq_length)


@dataclass
class Position:
    epoch: int = 0
    index: int = 0


class _Subset:
    """A view of some examples of a dataset, for mlx-lm's iterate_batches."""

    def __init__(self, dataset, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]

    def __len__(self) -> int:
        return len(self.indices)


def _collate(dataset, indices: list[int], max_seq_length: int, multiple: int = 1) -> tuple:
    from mlx_lm.tuner.trainer import iterate_batches

    batch, lengths = next(iterate_batches(_Subset(dataset, indices), len(indices), max_seq_length))
    if multiple > 1:  # the loss reads `lengths`, so the extra columns are never trained on
        batch = pad_columns(batch, aligned_width(batch.shape[1], multiple))
    return batch, lengths


def pack(lengths: list[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: indices grouped into rows of at most `capacity` tokens."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        size = min(lengths[i], capacity)
        for r, free in enumerate(room):
            if free >= size:
                rows[r].append(i)
                room[r] -= size
                break
        else:
            rows.append([i])
            room.append(capacity - size)
    return rows


def _collate_packed(
    dataset, rows: list[list[int]], max_seq_length: int, multiple: int = 1
) -> tuple:
    import mlx.core as mx

    examples = [[dataset[i] for i in row] for row in rows]
    used = [sum(min(len(t), max_seq_length) for t, _ in row) for row in examples]
    width = padded_length(max(used), max_seq_length)
    if multiple > 1:
        width = aligned_width(width, multiple)
    tokens = np.zeros((len(rows), width), np.int32)
    segments = np.zeros((len(rows), width), np.int32)
    weights = np.zeros((len(rows), width - 1), np.float32)
    for r, row in enumerate(examples):
        start = 0
        for s, (toks, offset) in enumerate(row, start=1):
            n = min(len(toks), max_seq_length, width - start)
            if n <= 0:
                break
            tokens[r, start : start + n] = toks[:n]
            segments[r, start : start + n] = s
            # target j predicts token j+1: train on tokens [max(offset, 1), n) of the example
            first = start + max(offset, 1)
            weights[r, first - 1 : start + n - 1] = 1.0
            start += n
    return mx.array(tokens), mx.array(segments), mx.array(weights)


class BatchPlan:
    """Groups of example indices per batch, and a deterministic order per epoch."""

    def __init__(
        self,
        dataset,
        batch_size: int,
        max_seq_length: int,
        seed: int,
        packing: bool = False,
        rank: int = 0,
        world_size: int = 1,
        multiple: int | None = None,
    ) -> None:
        self.dataset, self.max_seq_length, self.seed = dataset, max_seq_length, seed
        self.multiple = attention_multiple() if multiple is None else multiple
        self.packing, self.rank, self.world_size = packing, rank, world_size
        if batch_size % world_size:  # every rank takes an equal slice of each global batch
            raise UserError(
                f"batch_size={batch_size} is the global batch and must divide by the "
                f"{world_size} ranks; use a multiple of {world_size}"
            )
        lengths = [len(dataset[i][0]) for i in range(len(dataset))]
        if packing:
            groups = pack(lengths, max_seq_length)
        else:  # neighbours in length share a batch: little padding
            groups = [[i] for i in sorted(range(len(lengths)), key=lambda i: lengths[i])]
        if len(groups) < batch_size:
            what = "packed rows" if packing else "examples"
            raise UserError(
                f"the training set has {len(groups)} {what}, fewer than batch_size="
                f"{batch_size}; lower batch_size or add data"
            )
        self.batches = [
            groups[i : i + batch_size] for i in range(0, len(groups) - batch_size + 1, batch_size)
        ]

    def __len__(self) -> int:
        return len(self.batches)

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.batches))

    def collate(self, groups: list[list[int]]) -> tuple:
        if self.packing:
            return _collate_packed(self.dataset, groups, self.max_seq_length, self.multiple)
        return _collate(self.dataset, [g[0] for g in groups], self.max_seq_length, self.multiple)

    def iterate(self, start: Position) -> Iterator[tuple[Position, tuple]]:
        """(position after this batch, batch) forever, from `start`."""
        epoch, index = start.epoch, start.index
        while True:
            order = self.order(epoch)
            while index < len(order):
                groups = self.batches[order[index]]
                if self.world_size > 1:  # this rank's slice of the global batch
                    groups = groups[self.rank :: self.world_size]
                batch = self.collate(groups)
                index += 1
                yield Position(epoch, index), batch
            epoch, index = epoch + 1, 0


def forward_with_mask(model, inputs, allowed):
    """The model's logits where position i attends to j only if allowed[b, 0, i, j]
    (llama-family layout). The mask goes to attention as an additive (rows, 1, n, n) array
    in the compute dtype, which the fused kernels broadcast over the heads."""
    import mlx.core as mx

    inner = model.model
    h = inner.embed_tokens(inputs)
    mask = mx.where(allowed, mx.array(0, h.dtype), mx.array(mx.finfo(h.dtype).min, h.dtype))
    for layer in inner.layers:
        h = layer(h, mask, cache=None)
    h = inner.norm(h)
    if getattr(model.args, "tie_word_embeddings", False) or not hasattr(model, "lm_head"):
        return inner.embed_tokens.as_linear(h)
    return model.lm_head(h)


def packed_loss(model, batch, segments, weights):
    """Cross-entropy over packed rows, each example attending only to itself."""
    import mlx.core as mx
    import mlx.nn as nn

    inputs, targets = batch[:, :-1], batch[:, 1:]
    seg = segments[:, :-1]
    n = inputs.shape[1]
    causal = mx.arange(n)[:, None] >= mx.arange(n)[None, :]
    mask = ((seg[:, :, None] == seg[:, None, :]) & causal)[:, None]
    logits = forward_with_mask(model, inputs, mask)
    ce = nn.losses.cross_entropy(logits, targets) * weights
    ntoks = weights.sum()
    return ce.astype(mx.float32).sum() / ntoks, ntoks


def check_packable(model) -> None:
    kind = getattr(model, "model_type", "")
    layers = getattr(getattr(model, "model", None), "layers", [])
    if kind not in PACKABLE or any(getattr(layer, "use_sliding", False) for layer in layers):
        raise UserError(
            f"packing supports {', '.join(PACKABLE)} models without sliding-window "
            f"attention, not '{kind}'; set 'packing: false'"
        )
