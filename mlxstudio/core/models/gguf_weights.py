"""A GGUF file's tensors as MLX arrays.

MLX reads GGUF itself (`mx.load`): F32/F16 as arrays, and Q4_0/Q4_1/Q8_0 as MLX affine
quantized triplets (weight/scales/biases, group size 32), which map exactly. Every other type
(K-quants, Q5, IQ*, TQ*, MXFP4, ...) `mx.load` silently dequantizes its own way or refuses the
whole file: for those files every tensor is read from gguf's memory map, the other types
decoded with `gguf.quants` (llama.cpp's own numpy decoders) and kept as floats, or requantized
to MLX affine when asked; Q4_0/Q4_1/Q8_0 blocks are repacked as the same triplets mx.load makes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, quants

from mlxstudio.core.errors import UserError
from mlxstudio.core.models.gguf_reader import GGUFFile

MLX_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0")  # what mx.load maps exactly
QUANT_BITS = {"Q4_0": 4, "Q4_1": 4, "Q8_0": 8}
# Every block type gguf.quants can decode (its classes are named after the types).
DEQUANT_TYPES = tuple(
    q.name
    for q in GGMLQuantizationType
    if q.name not in MLX_TYPES and isinstance(getattr(quants, q.name, None), type)
)
SUPPORTED_TYPES = (*MLX_TYPES, *DEQUANT_TYPES)


def load_native(info: GGUFFile, names: dict[str, str | None]) -> dict[str, Any]:
    """All tensors of types MLX maps exactly: mx.load, renamed to mlx-lm's names."""
    import mlx.core as mx

    try:
        raw = mx.load(str(info.path))
    except Exception as e:  # MLX's loader has terse messages; say what to do
        raise UserError(f"{info.path.name}: MLX could not read the tensors ({e}).") from None
    weights: dict[str, Any] = {}
    for t in info.tensors:
        name = names[t.name]
        if name is None:
            continue
        base = t.name.rpartition(".")[0]
        if t.type_name == "BF16":  # MLX casts BF16 to float16 (lossy): take the bits
            weights[name] = mx.array(np.array(t.data).view("<u2")).view(mx.bfloat16)
            weights[name] = weights[name].reshape(t.shape)
        else:
            weights[name] = raw[t.name]
        if t.type_name in QUANT_BITS:
            mbase = name.rpartition(".")[0]
            weights[f"{mbase}.scales"] = raw[f"{base}.scales"]
            weights[f"{mbase}.biases"] = raw[f"{base}.biases"]
    return weights


def float_dtype(info: GGUFFile) -> str:
    """float16, unless the file's unquantized matrices are all float32 (or any bfloat16)."""
    floats = {t.type_name for t in info.tensors if len(t.shape) >= 2} & {"F32", "F16", "BF16"}
    return "bfloat16" if "BF16" in floats else "float32" if floats == {"F32"} else "float16"


def decode_all(
    info: GGUFFile,
    names: dict[str, str | None],
    bits: int | None,
    group_size: int,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every tensor from gguf's memory map: decode the types MLX has no form for (and
    requantize them if asked), repack the ones it has. Returns (weights, what was converted)."""
    import mlx.core as mx

    dtype = float_dtype(info)
    kinds = Counter(t.type_name for t in info.tensors if t.type_name not in MLX_TYPES)
    layers: dict[str, tuple[int, int]] = {}
    weights: dict[str, Any] = {}
    for i, t in enumerate(info.tensors):
        name = names[t.name]
        if name is None:
            continue
        kind, mbase = t.type_name, name.rpartition(".")[0]
        if kind in QUANT_BITS:
            q, scales, biases = mlx_triplet(np.asarray(t.data), kind, t.shape)
            weights[name] = mx.array(q)
            weights[f"{mbase}.scales"] = mx.array(scales)
            weights[f"{mbase}.biases"] = mx.array(biases)
            continue
        if kind not in ("F32", "F16") and i % 16 == 0:
            say(f"Decoding {t.name} ({kind}) [{i + 1}/{len(info.tensors)}]")
        if kind == "BF16":
            w = mx.array(np.array(t.data).view("<u2")).view(mx.bfloat16).reshape(t.shape)
        elif kind in ("F32", "F16"):
            w = mx.array(np.array(t.data)).reshape(t.shape)
        else:  # llama.cpp's own decoder, in float32
            w = mx.array(quants.dequantize(t.data, t.qtype).reshape(t.shape))
            w = w.astype(getattr(mx, dtype))
            if bits and len(t.shape) == 2 and t.shape[-1] % group_size == 0:
                q, scales, biases = mx.quantize(w, group_size=group_size, bits=bits)
                weights.update({name: q, f"{mbase}.scales": scales, f"{mbase}.biases": biases})
                layers[mbase] = (bits, group_size)
                mx.eval(q, scales, biases)
                continue
        weights[name] = w
        mx.eval(w)
    return weights, {"kinds": [k for k, _ in kinds.most_common()], "dtype": dtype,
                     "bits": bits, "group_size": group_size, "layers": layers}  # fmt: skip


def mlx_triplet(
    data: np.ndarray, type_name: str, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q4_0/Q4_1/Q8_0 blocks as MLX affine (packed uint32 weight, float16 scales, biases),
    exactly as mx.load packs them: x = scale * code + bias, group size 32."""
    fields = [("d", "<f2"), ("m", "<f2")] if type_name == "Q4_1" else [("d", "<f2")]
    qs = ("qs", "i1", 32) if type_name == "Q8_0" else ("qs", "u1", 16)
    blocks = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.dtype([*fields, qs]))
    d = blocks["d"]
    if type_name == "Q8_0":
        codes = (blocks["qs"].astype(np.int16) + 128).astype(np.uint8)  # x = d * code - 128 d
        biases = (d.astype(np.float32) * -128).astype(np.float16)
        packed = codes.reshape(-1).view("<u4")
    else:
        # byte j holds element j (low nibble) and element j + 16 (high nibble)
        nib = np.concatenate([blocks["qs"] & 0xF, blocks["qs"] >> 4], axis=1)
        codes = nib.reshape(-1, 8).astype(np.uint32)
        minus8 = (d.astype(np.float32) * -8).astype(np.float16)  # exact: a power of 2
        biases = blocks["m"] if type_name == "Q4_1" else minus8
        packed = np.bitwise_or.reduce(codes << (4 * np.arange(8, dtype=np.uint32)), axis=1)
    rows, groups = shape[:-1], shape[-1] // 32
    return (
        np.ascontiguousarray(packed, dtype=np.uint32).reshape(*rows, -1),
        np.asarray(d, np.float16).reshape(*rows, groups),
        np.asarray(biases, np.float16).reshape(*rows, groups),
    )
