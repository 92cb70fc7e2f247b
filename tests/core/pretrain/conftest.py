"""Fixtures for pretraining tests: the shipped sample corpus and MLX-Pretrain configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlxstudio.core.config import RunConfig

RESOURCES = Path(__file__).resolve().parents[3] / "resources"
TINY_DIMENSIONS = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_layers": 2,
    "num_attention_heads": 4,
    "num_kv_heads": 2,
}


@pytest.fixture
def corpus() -> Path:
    """A few KB of plain text and Markdown (resources/sample_data/pretrain)."""
    return RESOURCES / "sample_data" / "pretrain"


@pytest.fixture
def mlx_pretrain_dir() -> Path:
    """The shipped MLX-Pretrain model-config.yaml and sft-config.yaml."""
    return RESOURCES / "configs" / "mlx_pretrain"


@pytest.fixture
def make_pretrain(corpus):
    """A factory of small, fast pretraining configs (a 0.1M-parameter llama)."""

    def make(**overrides) -> RunConfig:
        values = dict(
            stage="pretrain",
            name="pre",
            data=str(corpus),
            dimensions=TINY_DIMENSIONS,
            vocab_size=300,
            max_seq_length=64,
            batch_size=4,
            iters=40,
            learning_rate=1e-3,
            optimizer="adamw",
            steps_per_report=5,
            steps_per_eval=10,
            save_every=20,
            val_batches=-1,
        )
        values.update(overrides)
        return RunConfig(**values)

    return make
