"""gguf_reader: header, metadata and tensor infos; every malformed input is a UserError."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from gguf_writer import ARRAY, F32, U64, Typed, gguf_bytes, write_gguf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlxstudio.core.errors import UserError
from mlxstudio.core.models.gguf_reader import describe, format_description, read_gguf

META = {
    "general.architecture": "llama",
    "general.name": "unit",
    "general.file_type": 7,
    "llama.context_length": 4096,
    "llama.block_count": 2,
    "llama.attention.layer_norm_rms_epsilon": 1e-5,
    "llama.big": Typed(U64, 2**40),
    "tokenizer.ggml.tokens": ["a", "b", "ü"],
    "tokenizer.ggml.scores": Typed(ARRAY, [0.5, -1.0, 2.0], F32),
    "tokenizer.ggml.add_bos_token": True,
    "tokenizer.chat_template": "{{ messages }}",
}


def _tensors():
    rng = np.random.default_rng(0)
    return [
        ("token_embd.weight", rng.standard_normal((3, 64)).astype(np.float32), "Q8_0"),
        ("blk.0.attn_norm.weight", np.ones(64, np.float32), "F32"),
        ("blk.0.attn_q.weight", rng.standard_normal((64, 64)).astype(np.float32), "F16"),
    ]


@pytest.fixture
def small(tmp_path) -> Path:
    raw = [("blk.0.ffn_down.weight", (64, 256), 12, bytes(144 * 64))]  # a fake Q4_K tensor
    return write_gguf(tmp_path / "small.gguf", META, _tensors(), raw)


def test_reads_metadata_and_tensor_infos(small):
    info = read_gguf(small)
    assert info.version == 3 and info.architecture == "llama"
    md = info.metadata
    assert md["llama.context_length"] == 4096 and md["llama.big"] == 2**40
    assert md["llama.attention.layer_norm_rms_epsilon"] == 1e-5  # shortest float32 form
    assert md["tokenizer.ggml.tokens"] == ["a", "b", "ü"]
    assert md["tokenizer.ggml.scores"] == [0.5, -1.0, 2.0]
    assert md["tokenizer.ggml.add_bos_token"] is True
    by_name = {t.name: t for t in info.tensors}
    emb = by_name["token_embd.weight"]
    assert emb.shape == (3, 64) and emb.type_name == "Q8_0" and emb.nbytes == 3 * 2 * 34
    assert by_name["blk.0.attn_q.weight"].nbytes == 64 * 64 * 2
    assert by_name["blk.0.ffn_down.weight"].type_name == "Q4_K"
    assert all(t.offset % 32 == 0 for t in info.tensors)
    assert info.type_counts == {"Q8_0": 1, "F32": 1, "F16": 1, "Q4_K": 1}
    # the data really is where the offsets say
    raw = small.read_bytes()
    q = by_name["blk.0.attn_q.weight"]
    data = np.frombuffer(raw[q.offset : q.offset + q.nbytes], "<f2").reshape(q.shape)
    np.testing.assert_array_equal(data, _tensors()[2][1].astype(np.float16))


def test_describe(small):
    info = read_gguf(small)
    d = describe(info)
    assert d["architecture"] == "llama" and d["file_type"] == "Q8_0"
    assert d["context_length"] == 4096 and d["has_chat_template"] is True
    assert d["parameters"] == 3 * 64 + 64 + 64 * 64 + 64 * 256
    text = format_description(info)
    assert "llama" in text and "Q4_K x1" in text and "4096" in text and "chat template: yes" in text


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_gguf(tmp_path / "nope.gguf")


@pytest.mark.parametrize("content", [b"", b"GG", b"PK\x03\x04" + bytes(100), b"{}\n" * 10])
def test_not_a_gguf(tmp_path, content):
    p = tmp_path / "x.gguf"
    p.write_bytes(content)
    with pytest.raises(UserError, match="not a GGUF"):
        read_gguf(p)


def test_versions(tmp_path):
    good = gguf_bytes(META, _tensors())
    for version, message in ((1, "too old"), (7, "unsupported GGUF version 7")):
        p = tmp_path / f"v{version}.gguf"
        p.write_bytes(good[:4] + struct.pack("<I", version) + good[8:])
        with pytest.raises(UserError, match=message):
            read_gguf(p)
    p.write_bytes(good[:4] + struct.pack(">I", 3) + good[8:])
    with pytest.raises(UserError, match="big-endian"):
        read_gguf(p)
    p.write_bytes(gguf_bytes(META, _tensors(), version=2))
    assert read_gguf(p).version == 2


def test_truncated_anywhere(tmp_path):
    good = gguf_bytes(META, _tensors())
    p = tmp_path / "cut.gguf"
    # in the header, in the metadata, in the tensor infos, in the tensor data, one byte short
    for cut in (6, 20, 200, len(good) // 2, len(good) - 1):
        p.write_bytes(good[:cut])
        with pytest.raises(UserError, match=r"truncated .*expected at least \d+ bytes, got"):
            read_gguf(p)
    p.write_bytes(good[:-1])
    with pytest.raises(
        UserError, match=f"expected at least {len(good)} bytes, got {len(good) - 1}"
    ):
        read_gguf(p)


def test_missing_architecture(tmp_path):
    p = write_gguf(tmp_path / "a.gguf", {"general.name": "x"}, _tensors())
    with pytest.raises(UserError, match="general.architecture"):
        read_gguf(p)


def _read_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.gguf"
        p.write_bytes(data)
        try:
            read_gguf(p)
        except UserError as e:
            assert "\n" not in str(e)  # one line, always


GOOD = gguf_bytes(META, _tensors())
fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.binary(max_size=512))
def test_fuzz_arbitrary_bytes(data):
    _read_bytes(data)


@fuzz
@given(st.binary(max_size=512), st.sampled_from([2, 3]))
def test_fuzz_after_valid_magic(data, version):
    _read_bytes(b"GGUF" + struct.pack("<I", version) + data)


@fuzz
@given(st.data())
def test_fuzz_mutated_valid_file(data):
    raw = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _read_bytes(bytes(raw[:cut]))
