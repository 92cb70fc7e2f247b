"""Read a GGUF file's header, metadata and tensor infos with llama.cpp's `gguf` package.

`gguf.GGUFReader` maps the file and parses everything; we add what an app reading downloads
needs: every read is bounds-checked, so a truncated or corrupt file becomes a one-line
UserError rather than a numpy error, and metadata arrays (100k-token vocabularies) are read
whole instead of one element at a time (the stock reader takes ~10 s on a small model's
vocabulary; this takes a fraction of a second). Tensor data stays memory-mapped.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, LlamaFileType

from mlxstudio.core.errors import UserError

MAGIC = b"GGUF"


@dataclass(frozen=True)
class GGUFTensor:
    """One tensor's info. `shape` is row-major (numpy/MLX order, the reverse of ggml's ne)."""

    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int  # absolute byte offset in the file
    nbytes: int
    data: np.ndarray = field(repr=False, compare=False)  # gguf's memory-mapped view

    @property
    def qtype(self) -> GGMLQuantizationType:
        return GGMLQuantizationType(self.type_id)

    @property
    def type_name(self) -> str:
        return self.qtype.name

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
        if isinstance(ftype, int) and ftype in LlamaFileType._value2member_map_:
            name = LlamaFileType(ftype).name
            if name != "GUESSED":
                return name.removeprefix("MOSTLY_").removeprefix("ALL_")
        weights = Counter(t.type_name for t in self.tensors if len(t.shape) >= 2)
        return weights.most_common(1)[0][0] if weights else "unknown"

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)


class _Short(Exception):
    """A read past the end of the file; `end` is the length it needed."""

    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


class _CheckedReader(GGUFReader):
    """GGUFReader with bounds checks on every read and whole-array metadata reads."""

    def __init__(self, path: Path) -> None:
        self.strings: dict[int, list[str]] = {}
        super().__init__(path)

    def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
        count = int(count)
        end = offset + np.dtype(dtype).itemsize * count
        if count < 0 or end > len(self.data):
            raise _Short(end)
        return super()._get(offset, dtype, count, override_order)

    def _get_field_parts(self, orig_offs: int, raw_type: int) -> Any:
        if raw_type != GGUFValueType.ARRAY:
            return super()._get_field_parts(orig_offs, raw_type)
        itype, count = self._get(orig_offs, np.uint32), self._get(orig_offs + 4, np.uint64)
        offs, sub = orig_offs + 12, GGUFValueType(int(itype[0]))
        types = [GGUFValueType.ARRAY, sub]
        if sub in self.gguf_scalar_to_np:  # one part for the whole array
            values = self._get(offs, self.gguf_scalar_to_np[sub], count[0])
            return 12 + int(values.nbytes), [itype, count, values], [2], types
        if sub != GGUFValueType.STRING:  # arrays of arrays: rare, the stock way
            return super()._get_field_parts(orig_offs, raw_type)
        # strings: decoded here in one walk (gguf makes two numpy views per string, ~1 s for a
        # 50k vocabulary); the field keeps one part spanning them, read through `strings`.
        raw, size, start = memoryview(self.data), len(self.data), offs
        values: list[str] = []
        for _ in range(int(count[0])):
            if offs + 8 > size:
                raise _Short(offs + 8)
            (n,) = struct.unpack_from("<Q", raw, offs)
            if offs + 8 + n > size:
                raise _Short(offs + 8 + n)
            values.append(str(raw[offs + 8 : offs + 8 + n], "utf-8"))
            offs += 8 + n
        self.strings[orig_offs] = values  # keyed by where the value starts
        return offs - orig_offs, [itype, count, self._get(start, np.uint8, offs - start)], [], types


def _truncated(name: str, expected: int, got: int) -> UserError:
    return UserError(
        f"{name}: the file is truncated or incomplete (expected at least {expected} bytes, "
        f"got {got}); download it again."
    )


def _corrupt(name: str, what: str) -> UserError:
    return UserError(f"{name}: not a valid GGUF file ({what}); download it again.")


def _check_header(path: Path, size: int) -> None:
    """Magic and version, with messages that say what to do (gguf's are terse)."""
    name = path.name
    with open(path, "rb") as f:
        head = f.read(8)
    if size < 4:
        raise UserError(f"{name}: not a GGUF file (it is only {size} bytes long).")
    if head[:4] != MAGIC:
        raise UserError(f"{name}: not a GGUF file (it does not start with 'GGUF').")
    if len(head) < 8:
        raise _truncated(name, 8, size)
    (version,) = struct.unpack("<I", head[4:])
    if version == 1:
        raise UserError(f"{name}: GGUF version 1 is too old; get one made by a recent llama.cpp.")
    if struct.unpack(">I", head[4:])[0] in (2, 3):
        raise UserError(f"{name}: big-endian GGUF files are not supported; get a little-endian.")
    if version not in (2, 3):
        raise UserError(f"{name}: unsupported GGUF version {version}; this app reads versions 2-3.")


def _value(reader: _CheckedReader, f: Any) -> Any:
    if f.types == [GGUFValueType.ARRAY, GGUFValueType.STRING]:
        return reader.strings[f.offset + 8 + int(f.parts[0][0]) + 4]  # key length, key, type
    value = f.contents()
    if f.types == [GGUFValueType.FLOAT32]:  # 1e-05, not 9.99999974e-06, in config.json
        return float(str(np.float32(value)))
    return value


def read_gguf(path: str | Path) -> GGUFFile:
    """Parse the header, metadata and tensor infos of a GGUF file (tensor data stays mapped)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file.")
    size = path.stat().st_size
    _check_header(path, size)
    name = path.name
    try:
        reader = _CheckedReader(path)
        metadata = {
            k: _value(reader, f) for k, f in reader.fields.items() if not k.startswith("GGUF.")
        }
    except _Short as e:
        raise _truncated(name, e.end, size) from None
    except (ValueError, KeyError, IndexError, OverflowError, UnicodeDecodeError) as e:
        what = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _corrupt(name, what) from None
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise _corrupt(name, "general.architecture is missing")
    tensors = [
        GGUFTensor(
            t.name, tuple(int(d) for d in reversed(t.shape.tolist())), int(t.tensor_type),
            t.data_offset, t.n_bytes, t.data,
        )
        for t in reader.tensors
    ]  # fmt: skip
    return GGUFFile(
        path=path,
        version=int(reader.fields["GGUF.version"].contents()),
        architecture=arch,
        metadata=metadata,
        tensors=tensors,
        alignment=int(reader.alignment),
        data_offset=int(reader.data_offset),
        file_size=size,
        type_counts=dict(Counter(t.type_name for t in tensors).most_common()),
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
