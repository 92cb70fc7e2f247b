"""convert: HF safetensors -> MLX (optionally 4/8-bit) via mlx_lm.convert; bad input."""

from __future__ import annotations

import errno
import json
import shutil

import pytest

from mlxstudio.core.errors import UserError
from mlxstudio.core.models import convert as conv


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if ".converting-" in p.name]


@pytest.mark.parametrize("bits", [None, 4, 8])
def test_convert_and_quantize(tiny_model, tmp_path, bits):
    import mlx_lm

    lines = []
    out = conv.convert(tiny_model, tmp_path / "out", bits=bits, progress=lines.append)
    config = json.loads((out / "config.json").read_text())
    if bits:
        assert config["quantization"]["bits"] == bits
    else:
        assert "quantization" not in config
    assert any("Checking" in line for line in lines) and "Wrote" in lines[-1]
    model, tok = mlx_lm.load(str(out))
    text = mlx_lm.generate(model, tok, "The capital", max_tokens=3)
    assert isinstance(text, str)
    assert _leftovers(tmp_path) == []


def test_default_output_in_app_folder(tiny_model, studio_home):
    out = conv.convert(tiny_model, bits=4)
    assert out == studio_home / "models" / "tiny-llama-4bit"
    with pytest.raises(UserError, match="already exists"):
        conv.convert(tiny_model, bits=4)


def test_bad_inputs(tiny_model, tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        conv.convert(tmp_path, tmp_path / "o1")
    bad = shutil.copytree(tiny_model, tmp_path / "bad")
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "model_type": "nope_arch"}))
    with pytest.raises(UserError, match="model_type 'nope_arch' is not supported"):
        conv.convert(bad, tmp_path / "o2")
    (bad / "config.json").write_text(json.dumps(cfg))
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:3000])
    with pytest.raises(UserError, match="model.safetensors: corrupt or truncated"):
        conv.convert(bad, tmp_path / "o3")
    with pytest.raises(UserError, match="4 or 8 bits"):
        conv.convert(tiny_model, tmp_path / "o4", bits=3)
    assert not (tmp_path / "o3").exists() and _leftovers(tmp_path) == []


def test_disk_full_removes_partial_output(tiny_model, tmp_path, monkeypatch):
    import importlib

    module = importlib.import_module("mlx_lm.convert")  # mlx_lm.convert is also a function

    def filling(hf_path, mlx_path, **kw):
        from pathlib import Path

        Path(mlx_path).mkdir()
        (Path(mlx_path) / "model.safetensors").write_bytes(b"x" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, "convert", filling)
    with pytest.raises(UserError, match="disk filled up.*partial output was removed"):
        conv.convert(tiny_model, tmp_path / "out", bits=4)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_cli_convert(tiny_model, tmp_path, capsys):
    from mlxstudio.cli import main

    out = tmp_path / "q8"
    assert main(["models", "convert", str(tiny_model), "--out", str(out), "--quantize", "8"]) == 0
    assert "Converted" in capsys.readouterr().out
    assert main(["models", "convert", str(tmp_path / "none")]) == 2
    assert "no such model folder" in capsys.readouterr().err


def test_quantized_source_is_dequantized_or_requantized(tiny_model, tmp_path):
    q4 = conv.convert(tiny_model, tmp_path / "q4", bits=4)
    full = conv.convert(q4, tmp_path / "full")
    assert "quantization" not in json.loads((full / "config.json").read_text())
    q8 = conv.convert(q4, tmp_path / "q8", bits=8)
    assert json.loads((q8 / "config.json").read_text())["quantization"]["bits"] == 8
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("choice,bits", [("8", 8), ("none", None)])
def test_import_gguf_requantize(tiny_model, tmp_path, capsys, choice, bits):
    from gguf_writer import llama_gguf

    from mlxstudio.cli import main

    src, _ = llama_gguf(tiny_model, tmp_path / "t.gguf", "Q4_0")
    out = tmp_path / "out"
    assert main(["models", "import-gguf", str(src), "--out", str(out), "--requantize", choice]) == 0
    text = capsys.readouterr().out
    assert ("requantized to MLX 8-bit" if bits else "dequantized to full precision") in text
    quant = json.loads((out / "config.json").read_text()).get("quantization")
    assert (quant or {}).get("bits") == bits
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
