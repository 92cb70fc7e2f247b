"""gguf_tokenizer: byte-level BPE (gpt2) and SentencePiece (llama) tokenizers from GGUF metadata."""

from __future__ import annotations

import json

import pytest
from gguf_writer import tokenizer_metadata
from tiny_model import CORPUS
from tokenizers import Tokenizer

from mlxstudio.core.errors import UserError
from mlxstudio.core.models.gguf_tokenizer import build_tokenizer, spm_merges

TEXTS = [*CORPUS[:5], "Numbers 12345 and spaces   here!\n\tTabs, ünïcödé 😀"]


@pytest.fixture(scope="module")
def gpt2_meta(tiny_model):
    return tokenizer_metadata(tiny_model)


def test_gpt2_matches_original_tokenizer(tiny_model, gpt2_meta):
    original = Tokenizer.from_file(str(tiny_model / "tokenizer.json"))
    built = build_tokenizer(gpt2_meta, 2048)
    assert built.warnings == []
    tok = built.tokenizer
    for text in [*TEXTS, "<|im_start|>user\nHi there<|im_end|>\n"]:
        ids = tok.encode(text).ids
        assert ids == original.encode(text).ids
        assert tok.decode(ids, skip_special_tokens=False) == text
    chat = tok.encode("<|im_start|>assistant\nParis<|im_end|>")
    assert chat.tokens[0] == "<|im_start|>" and chat.tokens[-1] == "<|im_end|>"
    assert tok.decode(chat.ids) == "assistant\nParis"  # special tokens skipped by default


def test_gpt2_config_files(tmp_path, gpt2_meta):
    md = {**gpt2_meta, "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.add_bos_token": True}
    built = build_tokenizer(md, 4096)
    cfg = built.tokenizer_config
    assert cfg["eos_token"] == "<|im_end|>" and cfg["pad_token"] == "<|endoftext|>"
    assert cfg["bos_token"] == "<|im_start|>" and cfg["add_bos_token"] is True
    assert cfg["model_max_length"] == 4096 and "im_start" in cfg["chat_template"]
    assert built.special_tokens_map["eos_token"] == "<|im_end|>"
    assert built.tokenizer.encode("Paris").ids[0] == 1  # BOS from the post-processor
    built.save(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text()) == cfg
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    assert (
        hf.encode("Paris")[0] == 1
        and hf.encode("Paris")[1:] == built.tokenizer.encode("Paris", add_special_tokens=False).ids
    )
    text = hf.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert text == "<|im_start|>user\nHi<|im_end|>\n"


def _pieces(meta, pre, text):
    tok = build_tokenizer({**meta, "tokenizer.ggml.pre": pre}).tokenizer
    return [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(text)]


def test_gpt2_pre_tokenizers(gpt2_meta):
    assert _pieces(gpt2_meta, "smollm", "a 123") == ["a", "Ġ", "1", "2", "3"]
    assert _pieces(gpt2_meta, "llama-bpe", "a 12345") == ["a", "Ġ", "123", "45"]
    assert _pieces(gpt2_meta, "default", "a 12345") == ["a", "Ġ12345"]
    built = build_tokenizer({**gpt2_meta, "tokenizer.ggml.pre": "mystery"})
    assert len(built.warnings) == 1 and "mystery" in built.warnings[0]


def test_gpt2_user_defined_tokens_stay_whole(gpt2_meta):
    md = dict(gpt2_meta)
    md["tokenizer.ggml.tokens"] = [*md["tokenizer.ggml.tokens"], "<think>"]
    md["tokenizer.ggml.token_type"] = [*md["tokenizer.ggml.token_type"], 4]
    tok = build_tokenizer(md).tokenizer
    enc = tok.encode("<think>The")
    assert enc.tokens[0] == "<think>" and tok.decode(enc.ids) == "<think>The"


# A tiny SentencePiece-BPE vocabulary shaped like Llama-2's: <unk>, <s>, </s>, 256 byte tokens,
# then normal pieces whose scores give the merge order.
NORMAL = ["▁", "t", "h", "e", "c", "a", "s", "o", "n", "m", "▁t", "he", "▁the", "at", "▁c",
          "▁cat", "on", "▁on", "▁s", "▁sat", "▁m", "▁mat"]  # fmt: skip
BYTES = [f"<0x{i:02X}>" for i in range(256)]
SPM = {
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>", *BYTES, *NORMAL],
    "tokenizer.ggml.scores": [0.0] * 259 + [-float(i) for i in range(len(NORMAL))],
    "tokenizer.ggml.token_type": [2, 3, 3] + [6] * 256 + [1] * len(NORMAL),
    "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2,
    "tokenizer.ggml.unknown_token_id": 0,
    "tokenizer.chat_template": (
        "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
    ),
}


def test_spm_merges_order():
    vocab = {t: i for i, t in enumerate(["a", "b", "ab", "c", "abc", "bc"])}
    scores = {"a": 0.0, "b": 0.0, "ab": -1.0, "c": 0.0, "abc": -3.0, "bc": -2.0}
    assert spm_merges(vocab, scores) == [("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc")]


def test_sentencepiece_encode_decode():
    built = build_tokenizer(SPM, 4096)
    tok = built.tokenizer
    enc = tok.encode("the cat sat on the mat")
    assert enc.tokens == ["<s>", "▁the", "▁cat", "▁sat", "▁on", "▁the", "▁mat"]
    assert tok.decode(enc.ids) == "the cat sat on the mat"
    enc = tok.encode("the café")  # f and é are not in the vocabulary: UTF-8 bytes instead
    assert enc.tokens[2:] == ["▁c", "a", "<0x66>", "<0xC3>", "<0xA9>"]
    assert tok.decode(enc.ids) == "the café"
    assert tok.decode(tok.encode("hat\nmat  on").ids) == "hat\nmat  on"
    assert built.tokenizer_config["add_bos_token"] is True
    assert built.tokenizer_config["unk_token"] == "<unk>"
    no_prefix = build_tokenizer({**SPM, "tokenizer.ggml.add_space_prefix": False}).tokenizer
    assert no_prefix.encode("the").tokens == ["<s>", "t", "he"]


def test_sentencepiece_matches_transformers_gguf_converter():
    conv = pytest.importorskip("transformers.integrations.gguf.gguf_tokenizer_mapping")
    keys = {"tokens": "tokens", "scores": "scores", "token_type": "token_type"}
    d = {v: SPM[f"tokenizer.ggml.{k}"] for k, v in keys.items()} | {"tokenizer_type": "llama"}
    try:
        reference, _ = conv.convert_gguf_tokenizer("llama", d)
    except Exception as e:  # an internal API: skip rather than fail if it changes shape
        pytest.skip(f"transformers' GGUF converter changed: {e}")
    tok = build_tokenizer(SPM).tokenizer
    for text in ["the cat sat on the mat", "the café", "hat\nmat", "mat on the"]:
        assert tok.encode(text, add_special_tokens=False).ids == reference.encode(text).ids


def test_sentencepiece_loads_in_mlx_lm(tmp_path):
    from mlx_lm.tokenizer_utils import load

    build_tokenizer(SPM).save(tmp_path)
    wrapper = load(tmp_path)
    assert type(wrapper.detokenizer).__name__ == "SPMStreamingDetokenizer"
    prompt = wrapper.apply_chat_template([{"role": "user", "content": "the cat"}], tokenize=False)
    assert prompt == "<s>[INST] the cat [/INST]"
    ids = wrapper.encode("the cat sat")
    assert wrapper.decode(ids, skip_special_tokens=True) == "the cat sat"


def test_unsupported_and_broken():
    with pytest.raises(UserError, match="tokenizer type 'bert' not supported yet"):
        build_tokenizer({**SPM, "tokenizer.ggml.model": "bert"})
    with pytest.raises(UserError, match="no tokenizer vocabulary"):
        build_tokenizer({"tokenizer.ggml.model": "gpt2"})
    with pytest.raises(UserError, match="no merges"):
        build_tokenizer({**SPM, "tokenizer.ggml.model": "gpt2"})
    with pytest.raises(UserError, match="could not rebuild the tokenizer"):
        build_tokenizer({**SPM, "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.merges": ["x y"]})
    with pytest.raises(UserError, match="scores do not match"):
        build_tokenizer({**SPM, "tokenizer.ggml.scores": [0.0]})
