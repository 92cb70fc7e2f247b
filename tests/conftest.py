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
