"""gguf_export: an MLX folder -> GGUF written with llama.cpp's gguf package -> read back with
gguf -> our import -> the same logits, for a tiny llama and a tiny random qwen2.

Tolerances (max |logit difference| / max |logit|): F16 1%, BF16 2%, Q8_0 3%, Q4_0 25% (random
tiny weights are the worst case for 4-bit blocks; the measured figures are about a quarter of
these). Other architectures are checked for llama.cpp's tensor names and hyper-parameters.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from tiny_model import build_tiny_llama

from mlxstudio.core.errors import UserError
from mlxstudio.core.models import gguf_export
from mlxstudio.core.models.gguf_export import write_gguf
from mlxstudio.core.models.gguf_import import import_gguf
from mlxstudio.core.models.gguf_reader import read_gguf

TOLERANCE = {"F16": 0.01, "BF16": 0.02, "Q8_0": 0.03, "Q4_0": 0.25}
TEXT = "The quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "tiny-llama")


def tiny(llama: Path, out: Path, arch: str, **config) -> Path:
    """A random tiny model of `arch` with the tiny llama's tokenizer."""
    shutil.copytree(llama, out)
    cfg = {**json.loads((out / "config.json").read_text()), "model_type": arch, **config}
    (out / "config.json").write_text(json.dumps(cfg))
    module = importlib.import_module(f"mlx_lm.models.{arch}")
    mx.random.seed(7)
    model = module.Model(module.ModelArgs.from_dict(cfg))
    params = {  # non-trivial norms and biases, so a wrong mapping shows in the logits
        k: v + 0.1 * mx.random.normal(v.shape) if k.endswith("bias") or "norm" in k else v
        for k, v in tree_flatten(model.parameters())
    }
    mx.save_safetensors(str(out / "model.safetensors"), params)
    return out


def logits(folder: Path) -> tuple[np.ndarray, list[int]]:
    from mlx_lm import load

    model, tok = load(str(folder))
    ids = tok.encode(TEXT)
    return np.array(model(mx.array([ids])).astype(mx.float32)), ids


def round_trip(folder: Path, tmp_path: Path, quant: str) -> float:
    """Export, read back, import; the relative logit error against the original folder."""
    path = write_gguf(folder, tmp_path / f"model.{quant}.gguf", quant)
    back = import_gguf(path, tmp_path / f"back-{quant}").out
    (want, ids), (got, ids2) = logits(folder), logits(back)
    assert ids2 == ids  # the tokenizer came through the metadata
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.parametrize("quant", ["F16", "BF16", "Q8_0", "Q4_0"])
def test_llama_round_trip(llama, tmp_path, quant):
    err = round_trip(llama, tmp_path, quant)
    assert err < TOLERANCE[quant]
    info = read_gguf(tmp_path / f"model.{quant}.gguf")  # gguf's reader
    assert info.architecture == "llama" and info.file_type == quant
    matrices = {t.type_name for t in info.tensors if len(t.shape) == 2}
    assert matrices == ({"Q4_0", "Q8_0"} if quant == "Q4_0" else {quant})
    md = info.metadata
    assert md["tokenizer.ggml.model"] == "gpt2" and md["tokenizer.ggml.pre"] == "gpt-2"
    assert md["tokenizer.ggml.merges"] and "<|im_start|>" in md["tokenizer.chat_template"]
    assert (
        md["tokenizer.ggml.eos_token_id"]
        == json.loads((llama / "config.json").read_text())["eos_token_id"]
    )
    types = md["tokenizer.ggml.token_type"]
    assert types[md["tokenizer.ggml.eos_token_id"]] == 3  # CONTROL, as llama.cpp expects


@pytest.mark.parametrize("quant", ["F16", "Q8_0"])
def test_qwen2_round_trip(llama, tmp_path, quant):
    qwen = tiny(llama, tmp_path / "qwen2", "qwen2", tie_word_embeddings=False)
    assert round_trip(qwen, tmp_path, quant) < TOLERANCE[quant]
    info = read_gguf(tmp_path / f"model.{quant}.gguf")
    names = {t.name for t in info.tensors}
    assert info.architecture == "qwen2" and {"blk.0.attn_q.bias", "output.weight"} <= names


def test_qwen3_round_trip(llama, tmp_path):
    qwen = tiny(llama, tmp_path / "qwen3", "qwen3", head_dim=16)
    assert round_trip(qwen, tmp_path, "F16") < TOLERANCE["F16"]
    names = {t.name for t in read_gguf(tmp_path / "model.F16.gguf").tensors}
    assert "blk.1.attn_k_norm.weight" in names


def test_gemma_and_phi3_use_llama_cpp_layouts(llama, tmp_path):
    gemma = tiny(llama, tmp_path / "gemma", "gemma", head_dim=16)
    info = read_gguf(write_gguf(gemma, tmp_path / "gemma.gguf"))
    assert info.architecture == "gemma" and info.arch_value("attention.key_length") == 16
    norm = next(t for t in info.tensors if t.name == "blk.0.attn_norm.weight")
    saved = mx.load(str(gemma / "model.safetensors"))["model.layers.0.input_layernorm.weight"]
    np.testing.assert_allclose(np.array(norm.data), np.array(saved) + 1, rtol=1e-6)  # 1 + w

    phi3 = tiny(llama, tmp_path / "phi3", "phi3", max_position_embeddings=2048)
    info = read_gguf(write_gguf(phi3, tmp_path / "phi3.gguf", "Q8_0"))
    names = {t.name: t for t in info.tensors}
    assert info.architecture == "phi3" and info.arch_value("rope.dimension_count") == 16
    assert names["blk.0.attn_qkv.weight"].shape == (64 + 2 * 32, 64)  # fused q, k, v rows
    assert names["blk.0.ffn_up.weight"].shape == (2 * 128, 64)  # fused gate and up


def test_k_quants_need_llama_cpp(llama, tmp_path, monkeypatch):
    monkeypatch.setattr(gguf_export, "llama_cpp_available", lambda: False)
    assert "Q4_K_M" not in gguf_export.quant_choices()
    with pytest.raises(UserError, match="Q4_K_M needs llama.cpp's quantizer: install"):
        write_gguf(llama, tmp_path / "k.gguf", "Q4_K_M")
    with pytest.raises(UserError, match="GGUF type Q3_X is not offered"):
        write_gguf(llama, tmp_path / "k.gguf", "Q3_X")
    assert not (tmp_path / "k.gguf").exists()


@pytest.mark.parametrize(
    ("pre", "name"),
    [
        ({"type": "ByteLevel", "add_prefix_space": False}, "gpt-2"),
        (
            {"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": True}, {"type": "ByteLevel"}]},
            "smollm",
        ),
        (
            {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": r"(?i:'s)|\p{N}{1,3}| ?[^\s]+"}},
                {"type": "ByteLevel", "use_regex": False}]},
            "llama-bpe",
        ),
        (
            {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {
                "Regex": r"(?i:'s|'t)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"}},
                {"type": "ByteLevel", "use_regex": False}]},
            "qwen2",
        ),
        ({"type": "Whitespace"}, "default"),
    ],
)  # fmt: skip
def test_pre_tokenizer_names(pre, name):
    assert gguf_export.pre_tokenizer_name({"pre_tokenizer": pre}) == name


def test_sentencepiece_vocabulary_round_trip(llama, tmp_path):
    """A llama with a SentencePiece-style (byte-fallback BPE) tokenizer: exported as
    tokenizer.ggml.model "llama" with byte tokens typed and merge-rank scores, and imported
    back it tokenizes as before."""
    from core.test_gguf_tokenizer import SPM

    from mlxstudio.core.models.gguf_tokenizer import build_tokenizer

    spm = tmp_path / "spm"
    shutil.copytree(llama, spm)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (spm / name).unlink()
    build_tokenizer(SPM).save(spm)
    info = read_gguf(write_gguf(spm, tmp_path / "spm.gguf"))
    md = info.metadata
    assert md["tokenizer.ggml.model"] == "llama"
    assert md["tokenizer.ggml.tokens"][:4] == ["<unk>", "<s>", "</s>", "<0x00>"]
    assert md["tokenizer.ggml.token_type"][3] == 6  # BYTE
    assert md["tokenizer.ggml.bos_token_id"] == 1 and "[INST]" in md["tokenizer.chat_template"]
    scores = dict(zip(md["tokenizer.ggml.tokens"], md["tokenizer.ggml.scores"], strict=True))
    assert scores["▁the"] < scores["he"]  # "he" merges before "▁the" can
    back = import_gguf(tmp_path / "spm.gguf", tmp_path / "back").out
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    before, after = load_tokenizer(spm), load_tokenizer(back)
    for text in ("the cat sat on the mat", "the café", "hat\nmat  on"):
        assert after.encode(text) == before.encode(text)
