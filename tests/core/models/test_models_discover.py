"""Discovery: app folder, Hugging Face cache, LM Studio, Ollama blobs, user folders; info."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from gguf_writer import llama_gguf

from mlxstudio.core.errors import UserError
from mlxstudio.core.models import discover as disc


@pytest.fixture
def fake_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_describe_folder_fields(tiny_model):
    m = disc.describe_folder(tiny_model)
    assert (m.architecture, m.format, m.quantization) == ("llama", "safetensors", "float32")
    assert m.context_length == 2048 and m.has_chat_template and m.trainable
    assert 50_000 < m.parameters < 200_000 and m.size_bytes > m.parameters * 4


def test_all_sources(fake_home, tiny_model, studio_home, tmp_path):
    shutil.copytree(tiny_model, studio_home / "models" / "mine")
    # Hugging Face cache: blobs + a snapshot of symlinks, refs/main naming the revision.
    repo = fake_home / ".cache" / "huggingface" / "hub" / "models--org--tiny"
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for f in tiny_model.iterdir():
        blob = repo / "blobs" / hashlib.sha1(f.name.encode()).hexdigest()
        shutil.copy(f, blob)
        (snap / f.name).symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    # LM Studio: publisher/repo/file.gguf
    lms = fake_home / ".lmstudio" / "models" / "pub" / "tiny-GGUF"
    lms.mkdir(parents=True)
    llama_gguf(tiny_model, lms / "tiny.Q8_0.gguf", "Q8_0")
    # Ollama: a manifest naming a content-addressed GGUF blob.
    oll = fake_home / ".ollama" / "models"
    (oll / "blobs").mkdir(parents=True)
    blob, _ = llama_gguf(tiny_model, oll / "blobs" / "tmp.gguf", "F16")
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    blob.rename(oll / "blobs" / f"sha256-{digest}")
    manifest = oll / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "latest"
    manifest.parent.mkdir(parents=True)
    layer = {"mediaType": disc.OLLAMA_MODEL_LAYER, "digest": f"sha256:{digest}"}
    manifest.write_text(json.dumps({"layers": [layer]}))
    # A user folder holding a model folder.
    extra = tmp_path / "extra"
    shutil.copytree(tiny_model, extra / "other")
    disc.add_user_folder(extra)

    found = {m.source: m for m in disc.discover()}
    assert set(found) == {"app", "hf-cache", "lmstudio", "ollama", "folder"}
    assert found["app"].name == "mine"
    assert found["hf-cache"].name == "org/tiny" and found["hf-cache"].trainable
    assert found["hf-cache"].size_bytes > 100_000  # sizes through the symlinks
    assert found["lmstudio"].format == "gguf" and found["lmstudio"].quantization == "Q8_0"
    assert found["ollama"].name == "tiny:latest" and found["ollama"].architecture == "llama"
    assert found["ollama"].trainable and "import" in found["ollama"].note
    assert found["folder"].name == "other"


def test_broken_models_are_skipped_not_fatal(fake_home, studio_home):
    bad = studio_home / "models" / "bad"
    bad.mkdir(parents=True)
    (bad / "config.json").write_text("{not json")
    assert disc.discover(("app",)) == []


def test_unsupported_model_type(tiny_model, tmp_path):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "model_type": "no_such_arch"}))
    m = disc.describe_folder(folder)
    assert not m.trainable and "does not support model_type 'no_such_arch'" in m.note


def test_corrupt_safetensors(tiny_model, tmp_path):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(UserError, match="truncated safetensors"):
        disc.safetensors_header(weights)
    weights.write_bytes(b"\xff" * 16)
    with pytest.raises(UserError, match="corrupt safetensors"):
        disc.safetensors_header(weights)


def test_folder_without_config(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        disc.describe_folder(tmp_path)
    with pytest.raises(UserError, match="no such model folder"):
        disc.describe_path(tmp_path / "missing")


def test_cli_list_and_info(tiny_model, studio_home, tmp_path, fake_home, capsys):
    from mlxstudio.cli import main

    shutil.copytree(tiny_model, studio_home / "models" / "tiny-llama")
    gguf, _ = llama_gguf(tiny_model, tmp_path / "t.gguf", "Q4_0")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny-llama" in out and "2048" in out and "app" in out
    assert main(["models", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["architecture"] == "llama"
    assert main(["models", "info", "tiny-llama"]) == 0
    assert "context length: 2048" in capsys.readouterr().out
    assert main(["models", "info", str(gguf)]) == 0
    out = capsys.readouterr().out
    assert "Q4_0" in out and "trainable:" in out
    assert main(["models", "info", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err
