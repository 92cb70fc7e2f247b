"""Rows padded for CUDA's fused attention backward keep every example's loss unchanged."""

from __future__ import annotations

import pytest

from mlxstudio.core.train.batches import aligned_width, attention_multiple


def test_aligned_width_reads_a_multiple_of_positions():
    assert aligned_width(1024, 128) == 1025  # 1023 positions become 1024
    assert aligned_width(1025, 128) == 1025
    assert aligned_width(97, 128) == 129
    assert aligned_width(97, 1) == 97
    assert attention_multiple() == 1  # the CPU backend: no padding


def test_padded_rows_give_the_same_losses(tiny_model):
    """Unpacked and packed batches, with and without the extra columns: same loss."""
    import mlx.core as mx
    from mlx_lm import load
    from mlx_lm.tuner.trainer import default_loss

    from mlxstudio.core.train.batches import _collate, _collate_packed, packed_loss

    model, _ = load(str(tiny_model))
    examples = [([5, 6, 7, 8, 9, 10], 2), ([11, 12, 13], 0), ([14, 15, 16, 17], 1)]
    plain = _collate(examples, [0, 1, 2], 64)
    wide = _collate(examples, [0, 1, 2], 64, multiple=128)
    assert plain[0].shape[1] == 33 and wide[0].shape[1] == 129
    a, b = default_loss(model, *plain), default_loss(model, *wide)
    assert b[0].item() == pytest.approx(a[0].item(), rel=1e-5) and a[1].item() == b[1].item()

    packed = _collate_packed(examples, [[0, 1, 2]], 64)
    packed_wide = _collate_packed(examples, [[0, 1, 2]], 64, multiple=128)
    assert packed_wide[0].shape[1] == 129
    x, y = packed_loss(model, *packed), packed_loss(model, *packed_wide)
    assert y[0].item() == pytest.approx(x[0].item(), rel=1e-5)
    assert int(x[1].item()) == int(y[1].item()) == 9
    assert mx.all(packed_wide[0][:, : packed[0].shape[1]] == packed[0]).item()
