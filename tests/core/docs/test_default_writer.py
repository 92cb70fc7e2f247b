"""The default writer is the largest chat model installed that fits in memory."""

from __future__ import annotations

import shutil

from tiny_model import build_tiny_llama

from mlxstudio.core import paths
from mlxstudio.core.docs.writers import default_model, local_models
from mlxstudio.core.train import memory_guard


def test_the_largest_model_that_fits_is_the_default(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))  # no LM Studio, Ollama or HF cache
    monkeypatch.setenv("HF_HOME", str(tmp_path / "user" / "hf"))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "user" / "ollama"))
    small = paths.models_dir() / "small"
    shutil.copytree(tiny_model, small)
    build_tiny_llama(paths.models_dir() / "big", hidden=128)
    assert [e.path.name for e in local_models()] == ["big", "small"]
    assert default_model().name == "big"
    wide = 4 * local_models()[0].parameters  # float32 bytes of the big one on this CPU
    machine = memory_guard.SystemMemory(total=wide * 2 - 1, available=wide)
    monkeypatch.setattr(memory_guard, "system_memory", lambda: machine)
    assert default_model().name == "small"  # the big one would need over half the memory
