"""numpy decoders for ggml block formats that MLX's GGUF loader cannot read exactly.

`mx.load` turns Q4_K/Q6_K/Q2_K/Q3_K into float16 with no say in the matter and fails on a whole
file holding Q5_0/Q5_1/Q5_K. Here each tensor's raw blocks are read with a memory map at the
tensor's offset and decoded, vectorised over blocks, with the arithmetic of llama.cpp's
`dequantize_row_*` (ggml-quants.c; layouts from ggml-common.h) in float32, in chunks so that a
big embedding never needs more than a few hundred MiB of temporaries.

Also packs the native Q4_0/Q4_1/Q8_0 blocks as MLX affine triplets (weight/scales/biases, group
size 32) the way `mx.load` does, for files that `mx.load` refuses because of another tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

QK_K = 256
_F16 = "<f2"
_U8 = "u1"

# ggml block layouts (ggml-common.h), field order as in the C structs
_LAYOUTS: dict[str, tuple[int, np.dtype]] = {
    "Q5_0": (32, np.dtype([("d", _F16), ("qh", "<u4"), ("qs", "u1", 16)])),
    "Q5_1": (32, np.dtype([("d", _F16), ("m", _F16), ("qh", "<u4"), ("qs", "u1", 16)])),
    "Q2_K": (QK_K, np.dtype([("scales", _U8, 16), ("qs", _U8, 64), ("d", _F16), ("dmin", _F16)])),
    "Q3_K": (QK_K, np.dtype([("hmask", _U8, 32), ("qs", _U8, 64), ("scales", _U8, 12),
                             ("d", _F16)])),
    "Q4_K": (QK_K, np.dtype([("d", _F16), ("dmin", _F16), ("scales", _U8, 12), ("qs", _U8, 128)])),
    "Q5_K": (QK_K, np.dtype([("d", _F16), ("dmin", _F16), ("scales", _U8, 12), ("qh", _U8, 32),
                             ("qs", _U8, 128)])),
    "Q6_K": (QK_K, np.dtype([("ql", _U8, 128), ("qh", _U8, 64), ("scales", "i1", 16),
                             ("d", _F16)])),
    # natively supported by MLX (packed as triplets below, or decoded for tests)
    "Q4_0": (32, np.dtype([("d", _F16), ("qs", "u1", 16)])),
    "Q4_1": (32, np.dtype([("d", _F16), ("m", _F16), ("qs", "u1", 16)])),
    "Q8_0": (32, np.dtype([("d", _F16), ("qs", "i1", 32)])),
}  # fmt: skip
DEQUANT_TYPES = ("Q4_K", "Q5_K", "Q6_K", "Q2_K", "Q3_K", "Q5_0", "Q5_1")
NATIVE_QUANT = {"Q4_0": 4, "Q4_1": 4, "Q8_0": 8}
_CHUNK = 1 << 15  # blocks decoded at a time (8M weights for the K-quants)


def _f32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32)


def _nibbles(qs: np.ndarray) -> np.ndarray:
    """(n, 16) bytes -> (n, 32): byte j holds element j (low nibble) and j + 16 (high)."""
    return np.concatenate([qs & 0xF, qs >> 4], axis=1)


def _scale_min_k4(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """get_scale_min_k4 for all 8 sub-blocks: (n, 12) packed bytes -> scales, mins (n, 8)."""
    sc = np.empty((len(s), 8), np.uint8)
    mn = np.empty((len(s), 8), np.uint8)
    sc[:, :4], mn[:, :4] = s[:, 0:4] & 63, s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _q4_k_like(b: np.ndarray, five: bool) -> np.ndarray:
    sc, mn = _scale_min_k4(b["scales"])
    d1 = _f32(b["d"])[:, None] * sc  # d * sc, then d1 * q - m1, as ggml does
    m1 = _f32(b["dmin"])[:, None] * mn
    qs = b["qs"].reshape(-1, 4, 1, 32)  # 4 chunks of 64: low nibbles, then high nibbles
    q = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(-1, 8, 32)
    if five:  # sub-block s takes its 5th bit from bit s of qh[l]
        q = q + (((b["qh"][:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1) << 4)
    return d1[:, :, None] * q - m1[:, :, None]


def _q6_k(b: np.ndarray) -> np.ndarray:
    ql = b["ql"].reshape(-1, 2, 1, 2, 32)  # halves of 128; ql[l], ql[l + 32]
    low = np.concatenate([ql & 0xF, ql >> 4], axis=2).reshape(-1, 2, 4, 32)
    shifts = (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]
    high = (b["qh"].reshape(-1, 2, 1, 32) >> shifts) & 3
    q = (low | (high << 4)).astype(np.int8) - np.int8(32)
    dl = _f32(b["d"])[:, None] * b["scales"]  # (n, 16): one scale per 16 weights
    return dl[:, :, None] * q.reshape(-1, 16, 16)


def _q2_k(b: np.ndarray) -> np.ndarray:
    sc = b["scales"]
    dl = _f32(b["d"])[:, None] * (sc & 0xF)
    ml = _f32(b["dmin"])[:, None] * (sc >> 4)
    shifts = (2 * np.arange(4, dtype=np.uint8))[None, None, :, None, None]
    q = (b["qs"].reshape(-1, 2, 1, 2, 16) >> shifts) & 3  # (n, half, shift, part, 16)
    return dl[:, :, None] * q.reshape(-1, 16, 16) - ml[:, :, None]


def _q3_k(b: np.ndarray) -> np.ndarray:
    k1, k2 = np.uint32(0x03030303), np.uint32(0x0F0F0F0F)
    aux = np.ascontiguousarray(b["scales"]).view("<u4").astype(np.uint32)  # (n, 3)
    tmp = aux[:, 2]
    out = np.empty((len(aux), 4), "<u4")
    out[:, 0] = (aux[:, 0] & k2) | (((tmp >> 0) & k1) << 4)
    out[:, 1] = (aux[:, 1] & k2) | (((tmp >> 2) & k1) << 4)
    out[:, 2] = ((aux[:, 0] >> 4) & k2) | (((tmp >> 4) & k1) << 4)
    out[:, 3] = ((aux[:, 1] >> 4) & k2) | (((tmp >> 6) & k1) << 4)
    scales = out.view(np.int8).astype(np.int16) - 32  # (n, 16)
    dl = _f32(b["d"])[:, None] * scales
    shifts = (2 * np.arange(4, dtype=np.uint8))[None, None, :, None, None]
    low = (b["qs"].reshape(-1, 2, 1, 2, 16) >> shifts) & 3
    bits = np.arange(8, dtype=np.uint8).reshape(1, 2, 4, 1, 1)  # hmask bit 4 * half + shift
    high = (b["hmask"].reshape(-1, 1, 1, 2, 16) >> bits) & 1
    q = low.astype(np.int8) - np.where(high == 1, np.int8(0), np.int8(4))
    return dl[:, :, None] * q.reshape(-1, 16, 16)


def _q5_01(b: np.ndarray, type_name: str) -> np.ndarray:
    high = (b["qh"][:, None] >> np.arange(32, dtype=np.uint32)[None, :]) & 1
    q = (_nibbles(b["qs"]) | (high << 4).astype(np.uint8)).astype(np.int32)
    d = _f32(b["d"])[:, None]
    return q * d + _f32(b["m"])[:, None] if type_name == "Q5_1" else (q - 16) * d


def _q_native(b: np.ndarray, type_name: str) -> np.ndarray:
    d = _f32(b["d"])[:, None]
    if type_name == "Q8_0":
        return b["qs"].astype(np.int32) * d
    q = _nibbles(b["qs"]).astype(np.int32)
    return q * d + _f32(b["m"])[:, None] if type_name == "Q4_1" else (q - 8) * d


def _decode(blocks: np.ndarray, type_name: str) -> np.ndarray:
    if type_name in ("Q4_K", "Q5_K"):
        return _q4_k_like(blocks, type_name == "Q5_K")
    if type_name == "Q6_K":
        return _q6_k(blocks)
    if type_name == "Q2_K":
        return _q2_k(blocks)
    if type_name == "Q3_K":
        return _q3_k(blocks)
    if type_name in ("Q5_0", "Q5_1"):
        return _q5_01(blocks, type_name)
    return _q_native(blocks, type_name)


def _blocks(data: bytes | np.ndarray, type_name: str, n_elements: int) -> np.ndarray:
    per_block, dtype = _LAYOUTS[type_name]
    if n_elements % per_block:
        raise ValueError(f"{type_name}: {n_elements} weights are not whole blocks of {per_block}")
    n = n_elements // per_block
    return np.frombuffer(data, dtype=dtype, count=n)


def dequantize(
    data: bytes | np.ndarray, type_name: str, shape: tuple[int, ...], dtype=np.float32
) -> np.ndarray:
    """Decode the ggml blocks in `data` into an array of `shape` (numpy order, rows last-fast)."""
    if type_name not in _LAYOUTS:
        raise ValueError(f"no decoder for ggml type {type_name}")
    n_el = int(np.prod(shape))
    blocks = _blocks(data, type_name, n_el)
    per_block = _LAYOUTS[type_name][0]
    out = np.empty(n_el, dtype=dtype)
    for i in range(0, len(blocks), _CHUNK):
        chunk = _decode(blocks[i : i + _CHUNK], type_name)
        out[i * per_block : i * per_block + chunk.size] = chunk.reshape(-1)
    return out.reshape(shape)


def read_raw(path: str | Path, offset: int, nbytes: int) -> np.ndarray:
    """A read-only memory map of a tensor's bytes."""
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))


def mlx_triplet(
    data: bytes | np.ndarray, type_name: str, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q4_0/Q4_1/Q8_0 blocks as MLX affine (packed uint32 weight, float16 scales, biases)."""
    blocks = _blocks(data, type_name, int(np.prod(shape)))
    d = blocks["d"]
    if type_name == "Q8_0":
        codes = (blocks["qs"].astype(np.int16) + 128).astype(np.uint8)  # x = d * code - 128 d
        biases = (d.astype(np.float32) * -128).astype(np.float16)
        packed = codes.reshape(-1).view("<u4")
    else:
        codes = _nibbles(blocks["qs"]).reshape(-1, 8).astype(np.uint32)
        minus8 = (d.astype(np.float32) * -8).astype(np.float16)  # exact: a power of 2
        biases = blocks["m"] if type_name == "Q4_1" else minus8
        packed = np.bitwise_or.reduce(codes << (4 * np.arange(8, dtype=np.uint32)), axis=1)
    rows = shape[:-1]
    groups = shape[-1] // 32
    return (
        np.ascontiguousarray(packed, dtype=np.uint32).reshape(*rows, -1),
        np.asarray(d, np.float16).reshape(*rows, groups),
        np.asarray(biases, np.float16).reshape(*rows, groups),
    )
