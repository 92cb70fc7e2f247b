"""Helpers for training tests on the tiny model."""

from __future__ import annotations

import pytest

from mlxstudio.core.config import RunConfig


def tiny_config(model, data, **overrides) -> RunConfig:
    values = dict(
        model=str(model),
        data=str(data),
        name="tiny",
        iters=12,
        batch_size=4,
        num_layers=2,
        learning_rate=5e-3,
        steps_per_report=2,
        steps_per_eval=6,
        save_every=6,
        val_batches=-1,
        max_seq_length=128,
    )
    values.update(overrides)
    return RunConfig(**values)


@pytest.fixture
def make_config(tiny_model, chat_data):
    """A factory of small, fast configs for the tiny model and chat dataset."""
    return lambda **overrides: tiny_config(
        overrides.pop("model", tiny_model), overrides.pop("data", chat_data), **overrides
    )
