"""Write small valid GGUF v3 files from numpy arrays, for tests.

Encodes F32, F16, BF16 and the ggml block formats Q4_0, Q4_1 and Q8_0 with numpy, byte for
byte as ggml lays them out, and accepts raw bytes with any type id (so a test can fake a Q4_K
tensor). Also has numpy dequantizers for those blocks, to check an import against.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

TYPE_IDS = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 8, "Q4_K": 12, "Q6_K": 14, "BF16": 30}
QK = 32  # elements per block for Q4_0 / Q4_1 / Q8_0

# metadata value type ids
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?",
        U64: "Q", I64: "q", F64: "d"}  # fmt: skip


class Typed:
    """A metadata value with an explicit GGUF type: Typed(U64, 5), Typed(ARRAY, [..], F32)."""

    def __init__(self, vtype: int, value: Any, item_type: int | None = None) -> None:
        self.vtype, self.value, self.item_type = vtype, value, item_type


def _blocks(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float32)
    assert a.shape[-1] % QK == 0, "last dimension must be a multiple of 32"
    return a.reshape(-1, QK)


def quantize_q8_0(a: np.ndarray) -> bytes:
    """ggml block_q8_0: fp16 d, int8 qs[32]; x = d * q."""
    b = _blocks(a)
    d = np.abs(b).max(axis=1) / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.round(b * inv[:, None]).astype(np.int8)
    out = np.zeros(len(b), dtype=[("d", "<f2"), ("qs", "i1", QK)])
    out["d"], out["qs"] = d, q
    return out.tobytes()


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    # byte j holds element j in the low nibble and element j + 16 in the high nibble
    return (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)


def quantize_q4_0(a: np.ndarray) -> bytes:
    """ggml block_q4_0: fp16 d, uint8 qs[16]; x = d * (nibble - 8)."""
    b = _blocks(a)
    idx = np.abs(b).argmax(axis=1)
    mx = b[np.arange(len(b)), idx]
    d = mx / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.minimum(15, (b * inv[:, None] + 8.5).astype(np.int8)).astype(np.uint8)
    out = np.zeros(len(b), dtype=[("d", "<f2"), ("qs", "u1", 16)])
    out["d"], out["qs"] = d, _pack_nibbles(q)
    return out.tobytes()


def quantize_q4_1(a: np.ndarray) -> bytes:
    """ggml block_q4_1: fp16 d, fp16 m, uint8 qs[16]; x = d * nibble + m."""
    b = _blocks(a)
    lo, hi = b.min(axis=1), b.max(axis=1)
    d = (hi - lo) / 15.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.minimum(15, ((b - lo[:, None]) * inv[:, None] + 0.5).astype(np.int8)).astype(np.uint8)
    out = np.zeros(len(b), dtype=[("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)])
    out["d"], out["m"], out["qs"] = d, lo, _pack_nibbles(q)
    return out.tobytes()


def dequantize(raw: bytes, type_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """numpy dequantization of Q4_0 / Q4_1 / Q8_0 blocks, in float32."""
    if type_name == "Q8_0":
        blk = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "i1", QK)])
        x = blk["d"].astype(np.float32)[:, None] * blk["qs"].astype(np.float32)
    else:
        fields = [("d", "<f2"), ("m", "<f2")] if type_name == "Q4_1" else [("d", "<f2")]
        blk = np.frombuffer(raw, dtype=[*fields, ("qs", "u1", 16)])
        q = np.concatenate([blk["qs"] & 0xF, blk["qs"] >> 4], axis=1).astype(np.float32)
        d = blk["d"].astype(np.float32)[:, None]
        x = d * q + blk["m"].astype(np.float32)[:, None] if type_name == "Q4_1" else d * (q - 8)
    return x.reshape(shape)


def encode(a: np.ndarray, type_name: str) -> bytes:
    """A tensor's data in the given ggml type."""
    if type_name == "F32":
        return np.ascontiguousarray(a, dtype="<f4").tobytes()
    if type_name == "F16":
        return np.ascontiguousarray(a, dtype="<f2").tobytes()
    if type_name == "BF16":
        bits = np.ascontiguousarray(a, dtype="<f4").view("<u4")
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
    return {"Q8_0": quantize_q8_0, "Q4_0": quantize_q4_0, "Q4_1": quantize_q4_1}[type_name](a)


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _infer(value: Any) -> Typed:
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed(BOOL, value)
    if isinstance(value, int):
        return Typed(U32 if 0 <= value < 2**32 else I64, value)
    if isinstance(value, float):
        return Typed(F32, value)
    if isinstance(value, str):
        return Typed(STRING, value)
    if isinstance(value, np.ndarray):
        kind = {"f": F32, "i": I32, "u": U32, "b": BOOL}[value.dtype.kind]
        return Typed(ARRAY, value.tolist(), kind)
    items = list(value)
    if all(isinstance(v, str) for v in items):
        return Typed(ARRAY, items, STRING)
    if all(isinstance(v, bool) for v in items):
        return Typed(ARRAY, items, BOOL)
    if all(isinstance(v, int) for v in items):
        return Typed(ARRAY, items, I32)
    return Typed(ARRAY, items, F32)


def _value(t: Typed) -> bytes:
    if t.vtype == STRING:
        return _str(t.value)
    if t.vtype == ARRAY:
        head = struct.pack("<IQ", t.item_type, len(t.value))
        return head + b"".join(_value(Typed(t.item_type, v)) for v in t.value)
    return struct.pack("<" + _FMT[t.vtype], t.value)


def gguf_bytes(
    metadata: dict[str, Any],
    tensors: list[tuple[str, np.ndarray, str]] | None = None,
    raw_tensors: list[tuple[str, tuple[int, ...], int, bytes]] | None = None,
    alignment: int = 32,
    version: int = 3,
) -> bytes:
    """The bytes of a GGUF file. tensors: (name, array, type name); raw: (name, shape, id, data)."""
    items = [(n, a.shape, TYPE_IDS[t], encode(a, t)) for n, a, t in tensors or []]
    items += list(raw_tensors or [])
    head = b"GGUF" + struct.pack("<IQQ", version, len(items), len(metadata))
    for key, value in metadata.items():
        t = _infer(value)
        head += _str(key) + struct.pack("<I", t.vtype) + _value(t)
    data, infos = b"", b""
    for name, shape, type_id, raw in items:
        data += b"\0" * (-len(data) % alignment)
        dims = shape[::-1]  # ggml order: fastest-varying first
        infos += _str(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, type_id, len(data))
        data += raw
    head += infos
    return head + b"\0" * (-len(head) % alignment) + data


def write_gguf(path: Path, metadata: dict[str, Any], tensors=None, raw_tensors=None, **kw) -> Path:
    """Write gguf_bytes(...) to path and return it."""
    Path(path).write_bytes(gguf_bytes(metadata, tensors, raw_tensors, **kw))
    return Path(path)


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf's permute: rotate-half rows -> interleaved rope rows."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def tokenizer_metadata(folder: Path) -> dict[str, Any]:
    """gpt2-style tokenizer.ggml.* metadata from a folder's byte-level BPE tokenizer.json."""
    import json

    tj = json.loads((Path(folder) / "tokenizer.json").read_text())
    cfg = json.loads((Path(folder) / "tokenizer_config.json").read_text())
    vocab = dict(tj["model"]["vocab"])
    for added in tj.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    tokens = [tok for tok, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    specials = {a["content"] for a in tj.get("added_tokens", []) if a.get("special")}
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    md: dict[str, Any] = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [3 if t in specials else 1 for t in tokens],  # int32 array
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.add_bos_token": False,
    }
    for key, name in (("eos", "eos_token"), ("padding", "pad_token"), ("unknown", "unk_token")):
        if cfg.get(name):
            md[f"tokenizer.ggml.{key}_token_id"] = vocab[cfg[name]]
    if cfg.get("chat_template"):
        md["tokenizer.chat_template"] = cfg["chat_template"]
    return md


_BLOCK_NAMES = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}  # fmt: skip


def gguf_tensors(
    weights: dict[str, np.ndarray], config: dict[str, Any], types: str | dict[str, str] = "F32"
) -> list[tuple[str, np.ndarray, str]]:
    """mlx-lm llama weights (HF layout) -> GGUF tensors, Q/K permuted like convert_hf_to_gguf.

    types: one ggml type for every matrix, or {gguf base name or "default": type}. Norms stay F32.
    """
    table = types if isinstance(types, dict) else {"default": types}
    out = []
    for name, w in weights.items():
        base = name.removesuffix(".weight")
        if base == "model.embed_tokens":
            gname = "token_embd"
        elif base == "model.norm":
            gname = "output_norm"
        elif base == "lm_head":
            gname = "output"
        else:
            _, _, layer, rest = base.split(".", 3)
            gname = f"blk.{layer}.{_BLOCK_NAMES[rest]}"
            if rest == "self_attn.q_proj":
                w = permute_qk(w, config["num_attention_heads"])
            elif rest == "self_attn.k_proj":
                w = permute_qk(w, config.get("num_key_value_heads", config["num_attention_heads"]))
        kind = "F32" if w.ndim == 1 else table.get(gname, table.get("default", "F32"))
        out.append((f"{gname}.weight", w, kind))
    return out


def llama_metadata(config: dict[str, Any], arch: str = "llama") -> dict[str, Any]:
    """The {arch}.* hyper-parameter keys llama.cpp writes for a llama config."""
    md = {
        "general.architecture": arch,
        "general.name": "tiny test llama",
        f"{arch}.context_length": config.get("max_position_embeddings", 2048),
        f"{arch}.embedding_length": config["hidden_size"],
        f"{arch}.block_count": config["num_hidden_layers"],
        f"{arch}.feed_forward_length": config["intermediate_size"],
        f"{arch}.attention.head_count": config["num_attention_heads"],
        f"{arch}.attention.head_count_kv": config.get("num_key_value_heads"),
        f"{arch}.attention.layer_norm_rms_epsilon": float(config["rms_norm_eps"]),
        f"{arch}.rope.freq_base": float(config.get("rope_theta", 10000.0)),
        f"{arch}.vocab_size": config["vocab_size"],
    }
    return {k: v for k, v in md.items() if v is not None}


def llama_gguf(
    folder: Path,
    path: Path,
    types: str | dict[str, str] = "F32",
    *,
    untie: bool = False,
    arch: str = "llama",
    seed: int = 1,
) -> tuple[Path, dict[str, np.ndarray]]:
    """Write the mlx-lm llama in `folder` as a GGUF file; return (path, HF-layout weights).

    untie=True adds a random `output` tensor (lm_head) so the model has untied embeddings.
    """
    import json

    import mlx.core as mx

    config = json.loads((Path(folder) / "config.json").read_text())
    weights = {
        k: np.array(v.astype(mx.float32))
        for k, v in mx.load(str(Path(folder) / "model.safetensors")).items()
    }
    if untie:
        rng = np.random.default_rng(seed)
        shape = weights["model.embed_tokens.weight"].shape
        weights["lm_head.weight"] = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    md = {**llama_metadata(config, arch), **tokenizer_metadata(folder)}
    write_gguf(path, md, gguf_tensors(weights, config, types))
    return Path(path), weights
