"""Export: the fused MLX folder, a GGUF that reads back as the same model, the Ollama
Modelfile, and a plain note where GGUF is not supported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlxstudio.core import export as export_mod
from mlxstudio.core.errors import UserError
from mlxstudio.core.export import export, modelfile
from mlxstudio.core.models.gguf_export import write_gguf
from mlxstudio.core.models.gguf_reader import read_gguf


def test_export_mlx_folder_only(adapter_dir, tmp_path):
    result = export(adapter_dir.parent, tmp_path / "out")
    assert (result.mlx_dir / "config.json").is_file()
    assert result.gguf is None and result.notes == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mlx"]


def test_gguf_reads_back_as_the_fused_model(adapter_dir, tmp_path):
    import mlx.core as mx
    from mlx_lm import load

    from mlxstudio.core.models.gguf_import import import_gguf

    result = export(adapter_dir.parent, tmp_path / "out", gguf=True)
    assert result.gguf == tmp_path / "out" / "model.gguf"
    info = read_gguf(result.gguf)  # gguf's reader
    metadata = info.metadata
    assert info.file_type == "F16" and metadata["general.architecture"] == "llama"
    assert metadata["tokenizer.ggml.model"] == "gpt2"  # byte-level BPE, with its merges
    assert metadata["tokenizer.ggml.merges"]
    assert "<|im_start|>" in metadata["tokenizer.chat_template"]

    # Our GGUF importer reads it back (as llama.cpp's layout): the same model, in fp16.
    back = import_gguf(result.gguf, tmp_path / "reimported").out
    fused, tok = load(str(result.mlx_dir))
    again, tok2 = load(str(back))
    ids = tok.encode("The capital of France is")
    assert tok2.encode("The capital of France is") == ids
    a = fused(mx.array([ids])).astype(mx.float32)
    b = again(mx.array([ids])).astype(mx.float32)
    assert mx.abs(a - b).max().item() < 0.02 * mx.abs(a).max().item()

    text = (tmp_path / "out" / "Modelfile").read_text()
    assert text.startswith("FROM ./model.gguf\n")
    assert 'TEMPLATE """{{ if .System }}<|im_start|>system' in text
    assert 'PARAMETER stop "<|im_end|>"' in text


def test_gguf_of_an_imported_gguf_model_is_not_permuted_twice(adapter_dir, tmp_path):
    """A model imported from GGUF keeps llama.cpp's Q/K layout (rope_traditional): the
    exported GGUF must match the fused model all the same."""
    import mlx.core as mx
    from mlx_lm import load

    from mlxstudio.core.models.gguf_import import import_gguf

    first = export(adapter_dir.parent, tmp_path / "one", gguf=True)
    imported = import_gguf(first.gguf, tmp_path / "imported").out
    assert json.loads((imported / "config.json").read_text())["rope_traditional"] is True
    again = write_gguf(imported, tmp_path / "two.gguf")
    back = import_gguf(again, tmp_path / "back").out
    m1, tok = load(str(imported))
    m2, _ = load(str(back))
    ids = mx.array([tok.encode("The quick brown fox")])
    a, b = m1(ids).astype(mx.float32), m2(ids).astype(mx.float32)
    assert mx.abs(a - b).max().item() < 0.02 * mx.abs(a).max().item()


def test_unsupported_architecture_is_said_plainly(adapter_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "GGUF_ARCHS", ("mistral",))
    result = export(adapter_dir.parent, tmp_path / "out", gguf=True)
    assert result.gguf is None and result.modelfile is None
    assert result.notes == [
        "GGUF export isn't supported for llama (it handles mistral); "
        f"the MLX folder was written to {result.mlx_dir}."
    ]
    assert (result.mlx_dir / "config.json").is_file()


def test_modelfile_without_a_known_template(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": "{{ messages }}", "eos_token": "</s>"})
    )
    text, note = modelfile(tmp_path)
    assert "TEMPLATE" not in text and 'PARAMETER stop "</s>"' in text
    assert "no TEMPLATE" in note


def test_export_refuses_a_non_empty_out(adapter_dir, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("")
    with pytest.raises(UserError, match="not empty"):
        export(adapter_dir.parent, tmp_path / "out")


def test_export_command(adapter_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "export", str(adapter_dir.parent), "--out"]
        + [str(tmp_path / "out"), "--gguf", "--gguf-type", "q4_0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"MLX model folder: {tmp_path / 'out' / 'mlx'}" in proc.stdout
    assert f"GGUF: {tmp_path / 'out' / 'model.gguf'}" in proc.stdout
    assert read_gguf(tmp_path / "out" / "model.gguf").file_type == "Q4_0"
    assert "ollama create NAME -f" in proc.stdout


def test_a_gguf_type_that_cannot_be_written_fails_before_the_fuse(adapter_dir, tmp_path):
    with pytest.raises(UserError, match="GGUF type Q3_X is not offered; choose one of F16"):
        export(adapter_dir.parent, tmp_path / "out", gguf=True, quant="q3_x")
    assert not (tmp_path / "out").exists()
