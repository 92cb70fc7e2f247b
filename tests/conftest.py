"""Shared fixtures: an isolated MLXSTUDIO_HOME and a tiny random llama."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny_model import build_tiny_llama  # noqa: E402


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own MLXSTUDIO_HOME so nothing touches the user's folder."""
    home = tmp_path / "studio-home"
    monkeypatch.setenv("MLXSTUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random llama model folder that mlx_lm.load accepts (read-only: copy to modify)."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


def write_chat_dataset(folder: Path, n_train: int = 16, n_valid: int = 8) -> Path:
    """A small, learnable chat dataset folder in mlx-lm's layout."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    pairs = [(f"What is {i} plus {i}?", f"{i} plus {i} is {2 * i}.") for i in range(40)]
    for name, part in (("train", pairs[:n_train]), ("valid", pairs[20 : 20 + n_valid])):
        with (folder / f"{name}.jsonl").open("w") as fh:
            for q, a in part:
                msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
                fh.write(json.dumps({"messages": msgs}) + "\n")
    return folder


@pytest.fixture
def chat_data(tmp_path) -> Path:
    return write_chat_dataset(tmp_path / "data")
