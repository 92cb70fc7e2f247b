"""RL fixtures: small preference, scored and prompt datasets for the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from rl_helpers import (  # noqa: F401
    ANIMALS,
    COLOURS,
    preference_records,
    rl_config,
    scored_records,
    write_jsonl,
)


@pytest.fixture
def pref_data(tmp_path) -> Path:
    folder = tmp_path / "pref"
    write_jsonl(folder / "train.jsonl", preference_records(ANIMALS[:6]))
    write_jsonl(folder / "valid.jsonl", preference_records(ANIMALS[6:]))
    return folder


@pytest.fixture
def scored_data(tmp_path) -> Path:
    folder = tmp_path / "scored"
    write_jsonl(folder / "train.jsonl", scored_records(ANIMALS[:6]))
    write_jsonl(folder / "valid.jsonl", scored_records(ANIMALS[6:]))
    return folder


@pytest.fixture
def prompt_data(tmp_path) -> Path:
    folder = tmp_path / "prompts"
    prompts = [{"prompt": f"The {c} {a}"} for a in ANIMALS[:4] for c in COLOURS[:2]]
    write_jsonl(folder / "train.jsonl", prompts)
    return folder


@pytest.fixture
def make_rl_config(tiny_model):
    return lambda data, stage, **kw: rl_config(tiny_model, data, stage, **kw)
