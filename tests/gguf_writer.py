"""Write small GGUF files for tests with llama.cpp's own `gguf` package: GGUFWriter lays the
file out and gguf.quants encodes F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 blocks. A test can
also give raw bytes with any type id (to fake a K-quant tensor), and decode blocks to check an
import against.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter, quants

# metadata value types, for Typed(...)
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = (
    GGUFValueType(i) for i in range(13)
)


class Typed:
    """A metadata value with an explicit GGUF type: Typed(U64, 5), Typed(ARRAY, [..], F32)."""

    def __init__(self, vtype: int, value: Any, item_type: int | None = None) -> None:
        self.vtype, self.value, self.item_type = vtype, value, item_type


def _qtype(type_name: str) -> GGMLQuantizationType:
    return GGMLQuantizationType[type_name]


def encode(a: np.ndarray, type_name: str) -> bytes:
    """A tensor's data in the given ggml type (gguf.quants, as llama.cpp's converter does)."""
    return quants.quantize(np.asarray(a, np.float32), _qtype(type_name)).tobytes()


def dequantize(raw: bytes, type_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """gguf.quants' decoding of a tensor's blocks, in float32."""
    data = np.frombuffer(raw, np.uint8).reshape(*shape[:-1], -1)
    return quants.dequantize(data, _qtype(type_name)).reshape(shape).astype(np.float32)


def _add(writer: GGUFWriter, key: str, value: Any) -> None:
    if isinstance(value, Typed):
        writer.add_key_value(key, value.value, GGUFValueType(value.vtype), value.item_type)
    elif isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        writer.add_uint32(key, value) if 0 <= value < 2**32 else writer.add_int64(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    elif isinstance(value, str):
        writer.add_key_value(key, value, GGUFValueType.STRING)
    else:  # a list: strings, bools, ints (int32, like token types) or floats
        items = value.tolist() if isinstance(value, np.ndarray) else list(value)
        sub = (
            GGUFValueType.STRING if all(isinstance(v, str) for v in items)
            else GGUFValueType.BOOL if all(isinstance(v, bool) for v in items)
            else GGUFValueType.INT32 if all(isinstance(v, int) for v in items)
            else GGUFValueType.FLOAT32
        )  # fmt: skip
        writer.add_key_value(key, items, GGUFValueType.ARRAY, sub)


def write_gguf(
    path: Path,
    metadata: dict[str, Any],
    tensors: list[tuple[str, np.ndarray, str]] | None = None,
    raw_tensors: list[tuple[str, tuple[int, ...], int, bytes]] | None = None,
    alignment: int = 32,
    version: int = 3,
) -> Path:
    """A GGUF file with GGUFWriter. tensors: (name, array, type name); raw: (name, shape,
    type id, data). general.architecture only if the metadata has it."""
    writer = GGUFWriter(path, arch="")  # an empty arch writes no general.architecture key
    for key, value in metadata.items():
        _add(writer, key, value)
    if alignment != 32:
        writer.add_custom_alignment(alignment)
    items = [(n, a.shape, _qtype(k), encode(a, k)) for n, a, k in tensors or []]
    items += [(n, s, GGMLQuantizationType(t), raw) for n, s, t, raw in raw_tensors or []]
    for name, shape, qtype, raw in items:  # bytes shaped (rows..., bytes per row)
        data = np.frombuffer(raw, np.uint8).reshape(*shape[:-1], -1)
        writer.add_tensor(name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if version != 3:  # v2 differs from v3 only in the version field
        with open(path, "r+b") as f:
            f.seek(4)
            f.write(version.to_bytes(4, "little"))
    return Path(path)


def gguf_bytes(metadata: dict[str, Any], tensors=None, raw_tensors=None, **kw) -> bytes:
    """The bytes write_gguf(...) writes."""
    with tempfile.TemporaryDirectory() as d:
        return write_gguf(Path(d) / "f.gguf", metadata, tensors, raw_tensors, **kw).read_bytes()


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
