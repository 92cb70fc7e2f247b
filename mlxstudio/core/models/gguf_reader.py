"""Read a GGUF file's header: metadata and tensor infos, never the tensor data.

Pure Python over an mmap, so it is cheap even for multi-gigabyte files, and it checks every
length against the file size before trusting it: a truncated or corrupt download becomes a
one-line UserError instead of a crash deeper down (MLX's own GGUF loader does not check).
"""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from mlxstudio.core.errors import UserError

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# ggml tensor type id -> (name, elements per block, bytes per block). From ggml.h / ggml.c.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}
GGML_TYPE_IDS = {name: tid for tid, (name, _, _) in GGML_TYPES.items()}

# llama.cpp's general.file_type (LLAMA_FTYPE_*) -> the name people see in file names.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}  # fmt: skip

# Metadata value types: id -> struct format of a scalar (8 = string, 9 = array handled apart).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}  # fmt: skip
_NP = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1", 10: "<u8",
       11: "<i8", 12: "<f8"}  # fmt: skip
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFTensor:
    """One tensor's info. `shape` is row-major (numpy/MLX order, the reverse of ggml's ne)."""

    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int  # absolute byte offset in the file
    nbytes: int | None  # None for a type id this reader does not know

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.type_id][0] if self.type_id in GGML_TYPES else f"TYPE{self.type_id}"

    @property
    def n_elements(self) -> int:
        return prod(self.shape)


@dataclass
class GGUFFile:
    path: Path
    version: int
    architecture: str
    metadata: dict[str, Any]
    tensors: list[GGUFTensor]
    alignment: int
    data_offset: int
    file_size: int
    type_counts: dict[str, int] = field(default_factory=dict)

    def arch_value(self, key: str, default: Any = None) -> Any:
        """A `{architecture}.{key}` metadata value, e.g. arch_value("context_length")."""
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def file_type(self) -> str:
        """The quantization name people know ("Q4_K_M"), else the most common tensor type."""
        ftype = self.metadata.get("general.file_type")
        if isinstance(ftype, int) and ftype in FILE_TYPES:
            return FILE_TYPES[ftype]
        weights = Counter(t.type_name for t in self.tensors if len(t.shape) >= 2)
        return weights.most_common(1)[0][0] if weights else "unknown"

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)


class _Cursor:
    """Bounds-checked little-endian reads over the mapped file."""

    def __init__(self, buf: Any, size: int, name: str) -> None:
        self.buf, self.size, self.name, self.pos = buf, size, name, 0

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _truncated(self.name, self.pos + max(n, 0), self.size)

    def scalar(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n)
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += n
        # float32 -> its shortest decimal form, so 1e-05 is written back as 1e-05 in config.json
        return float(str(np.float32(value))) if fmt == "f" else value

    def string(self) -> str:
        n = self.scalar("Q")
        self.need(n)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _corrupt(self.name, f"invalid UTF-8 text at byte {self.pos - n}") from None

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype != _ARRAY or depth > 2:
            raise _corrupt(self.name, f"unknown metadata value type {vtype} at byte {self.pos}")
        itype, count = self.scalar("I"), self.scalar("Q")
        if itype in _NP:
            width = np.dtype(_NP[itype]).itemsize
            self.need(count * width)
            arr = np.frombuffer(self.buf, dtype=_NP[itype], count=count, offset=self.pos)
            self.pos += count * width
            return arr.astype(bool).tolist() if itype == 7 else arr.tolist()
        # Every string or array element takes at least 8 bytes: refuse absurd counts up front.
        self.need(count * 8)
        return [self.value(itype, depth + 1) for _ in range(count)]


def _truncated(name: str, expected: int, got: int) -> UserError:
    return UserError(
        f"{name}: the file is truncated or incomplete (expected at least {expected} bytes, "
        f"got {got}); download it again."
    )


def _corrupt(name: str, what: str) -> UserError:
    return UserError(f"{name}: not a valid GGUF file ({what}); download it again.")


def read_gguf(path: str | Path) -> GGUFFile:
    """Parse the header, metadata and tensor infos of a GGUF file (no tensor data is loaded)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file.")
    with open(path, "rb") as f:
        size = path.stat().st_size
        if size < 4:
            raise UserError(f"{path.name}: not a GGUF file (it is only {size} bytes long).")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(path, buf, size)


def _parse(path: Path, buf: Any, size: int) -> GGUFFile:
    name = path.name
    if buf[:4] != MAGIC:
        raise UserError(f"{name}: not a GGUF file (it does not start with 'GGUF').")
    cur = _Cursor(buf, size, name)
    cur.pos = 4
    version = cur.scalar("I")
    if version in (2, 3):
        pass
    elif version == 1:
        raise UserError(f"{name}: GGUF version 1 is too old; get one made by a recent llama.cpp.")
    elif struct.unpack("<I", struct.pack(">I", version))[0] in (2, 3):
        raise UserError(f"{name}: big-endian GGUF files are not supported; get a little-endian.")
    else:
        raise UserError(f"{name}: unsupported GGUF version {version}; this app reads versions 2-3.")
    n_tensors, n_kv = cur.scalar("Q"), cur.scalar("Q")

    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        value = cur.value(cur.scalar("I"))
        if key in metadata:
            raise _corrupt(name, f"metadata key {key!r} appears twice")
        metadata[key] = value

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise _corrupt(name, f"bad general.alignment {alignment!r}")

    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    seen: set[str] = set()
    for _ in range(n_tensors):
        tname = cur.string()
        n_dims = cur.scalar("I")
        if n_dims > 4:
            raise _corrupt(name, f"tensor {tname!r} has {n_dims} dimensions")
        dims = tuple(cur.scalar("Q") for _ in range(n_dims))
        type_id, rel = cur.scalar("I"), cur.scalar("Q")
        if tname in seen:
            raise _corrupt(name, f"tensor {tname!r} appears twice")
        seen.add(tname)
        infos.append((tname, dims[::-1], type_id, rel))

    data_offset = -(-cur.pos // alignment) * alignment
    tensors: list[GGUFTensor] = []
    end = data_offset if infos else cur.pos
    for tname, shape, type_id, rel in infos:
        nbytes = None
        if type_id in GGML_TYPES:
            _, block, block_bytes = GGML_TYPES[type_id]
            count = prod(shape)
            if count % block:
                raise _corrupt(name, f"tensor {tname!r} size is not a multiple of its block")
            nbytes = count // block * block_bytes
            end = max(end, data_offset + rel + nbytes)
        tensors.append(GGUFTensor(tname, shape, type_id, data_offset + rel, nbytes))
    if end > size:
        raise _truncated(name, end, size)

    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise _corrupt(name, "general.architecture is missing")
    counts = Counter(t.type_name for t in tensors)
    return GGUFFile(
        path=path,
        version=version,
        architecture=arch,
        metadata=metadata,
        tensors=tensors,
        alignment=alignment,
        data_offset=data_offset,
        file_size=size,
        type_counts=dict(counts.most_common()),
    )


def describe(info: GGUFFile) -> dict[str, Any]:
    """A small summary for `models info`: what the file is, without the big token lists."""
    md = info.metadata
    return {
        "file": str(info.path),
        "size_bytes": info.file_size,
        "gguf_version": info.version,
        "name": md.get("general.name"),
        "architecture": info.architecture,
        "parameters": info.n_params,
        "file_type": info.file_type,
        "tensor_types": dict(info.type_counts),
        "layers": info.arch_value("block_count"),
        "context_length": info.arch_value("context_length"),
        "vocab_size": len(md.get("tokenizer.ggml.tokens", ())) or info.arch_value("vocab_size"),
        "tokenizer": md.get("tokenizer.ggml.model"),
        "has_chat_template": isinstance(md.get("tokenizer.chat_template"), str),
    }


def format_description(info: GGUFFile) -> str:
    """`describe()` as a few human-readable lines."""
    d = describe(info)
    params = d["parameters"]
    human = f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"
    types = ", ".join(f"{k} x{v}" for k, v in d["tensor_types"].items())
    lines = [
        f"{d['name'] or info.path.stem} ({info.path.name}, {d['size_bytes'] / 2**20:.1f} MiB)",
        f"  architecture:   {d['architecture']}, {d['layers']} layers, {human} parameters",
        f"  quantization:   {d['file_type']} (tensors: {types})",
        f"  context length: {d['context_length']}",
        f"  tokenizer:      {d['tokenizer']}, {d['vocab_size']} tokens, "
        f"chat template: {'yes' if d['has_chat_template'] else 'no'}",
    ]
    return "\n".join(lines)
