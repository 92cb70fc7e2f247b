"""Write an MLX model folder as a GGUF file llama.cpp, Ollama and LM Studio run.

Built on llama.cpp's own `gguf` package, the way its convert_hf_to_gguf.py does it: GGUFWriter
lays the file out, TensorNameMap names the tensors per architecture, gguf.quants encodes the
blocks (F16, BF16, Q8_0, Q4_0), SpecialVocab carries merges, special tokens and the chat
template, and the vocabulary classes read SentencePiece-style tokenizers. What is ours is the
per-architecture arithmetic convert_hf_to_gguf applies (llama's Q/K row order, Gemma's norm
offset) and the pre-tokenizer name. K-quants (Q4_K_M, Q5_K_M) need llama.cpp's quantizer: with
llama-cpp-python installed, an F16 file is written first and quantized by `llama_model_quantize`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from gguf import (
    MODEL_ARCH,
    MODEL_ARCH_NAMES,
    GGMLQuantizationType,
    GGUFWriter,
    LlamaFileType,
    TokenType,
    get_tensor_name_map,
    quants,
)
from gguf.constants import GGML_QUANT_VERSION
from gguf.vocab import LlamaHfVocab, SentencePieceVocab, SpecialVocab

from mlxstudio.core.errors import UserError

# mlx-lm model_type -> llama.cpp architecture (Mistral is converted as llama, as upstream does)
ARCHS = {
    "llama": MODEL_ARCH.LLAMA,
    "mistral": MODEL_ARCH.LLAMA,
    "qwen2": MODEL_ARCH.QWEN2,
    "qwen3": MODEL_ARCH.QWEN3,
    "gemma": MODEL_ARCH.GEMMA,
    "phi3": MODEL_ARCH.PHI3,
}
# what gguf.quants writes itself, and what llama.cpp's quantizer (llama-cpp-python) adds
QUANTS = ("F16", "BF16", "Q8_0", "Q4_0")
LLAMA_CPP_QUANTS = ("Q4_K_M", "Q5_K_M")
_FILE_TYPES = {
    "F16": LlamaFileType.MOSTLY_F16,
    "BF16": LlamaFileType.MOSTLY_BF16,
    "Q8_0": LlamaFileType.MOSTLY_Q8_0,
    "Q4_0": LlamaFileType.MOSTLY_Q4_0,
    "Q4_K_M": LlamaFileType.MOSTLY_Q4_K_M,
    "Q5_K_M": LlamaFileType.MOSTLY_Q5_K_M,
}
# llama.cpp's names for the pre-tokenizer regexes of byte-level BPE vocabularies
_PRE_REGEX = {
    r"\p{N}{1,3}": "llama-bpe",  # Llama 3
    r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?": "qwen2",  # Qwen 2/3
}


def llama_cpp_available() -> bool:
    """Whether llama-cpp-python (llama.cpp's K-quant quantizer) can be imported."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def quant_choices() -> tuple[str, ...]:
    """The GGUF types an export can write on this machine."""
    return QUANTS + (LLAMA_CPP_QUANTS if llama_cpp_available() else ())


def check_quant(quant: str) -> str:
    """The GGUF type name upper-cased, or a UserError saying what can be written here."""
    quant = quant.upper()
    if quant in LLAMA_CPP_QUANTS and not llama_cpp_available():
        raise UserError(
            f"{quant} needs llama.cpp's quantizer: install llama-cpp-python "
            f"(pip install llama-cpp-python), or choose one of {', '.join(QUANTS)}."
        )
    if quant not in QUANTS + LLAMA_CPP_QUANTS:
        choices = ", ".join(quant_choices())
        raise UserError(f"GGUF type {quant} is not offered; choose one of {choices}.")
    return quant


def write_gguf(
    model_dir: Path,
    path: Path,
    quant: str = "F16",
    progress: Callable[[str], None] | None = None,
) -> Path:
    """A GGUF of the MLX model folder `model_dir` (de-quantized first), in `quant`."""
    say = progress or (lambda _msg: None)
    quant = check_quant(quant)
    if quant in LLAMA_CPP_QUANTS:
        tmp = path.with_name(f".{path.name}.f16")
        try:
            write_gguf(model_dir, tmp, "F16", say)
            say(f"Quantizing to {quant} with llama.cpp")
            _llama_cpp_quantize(tmp, path, _FILE_TYPES[quant])
        finally:
            tmp.unlink(missing_ok=True)
        return path
    weights, config = _load(model_dir)
    arch = ARCHS.get(config.get("model_type", ""))
    if arch is None:
        raise UserError(
            f"GGUF export isn't supported for {config.get('model_type')} (it handles "
            f"{', '.join(ARCHS)})."
        )
    writer = GGUFWriter(path, MODEL_ARCH_NAMES[arch])
    _hyperparameters(writer, config, arch, quant)
    _vocabulary(writer, Path(model_dir), config)
    names = get_tensor_name_map(arch, config["num_hidden_layers"])
    say(f"Writing {path.name} ({quant}, {len(weights)} tensors)")
    for name, w in weights.items():
        gname = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gname is None:
            raise UserError(f"GGUF export: no llama.cpp name for tensor {name!r} ({arch.name}).")
        w = _convert(name, w, config, arch)
        data, qtype = _encode(gname, w, quant)
        writer.add_tensor(gname, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _load(model_dir: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The folder's weights as float32 numpy arrays (de-quantized), and its config."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import dequantize_model, load_model

    model, config = load_model(Path(model_dir), lazy=True)
    if config.get("quantization"):
        model = dequantize_model(model)
    weights = {k: np.array(v.astype(mx.float32)) for k, v in tree_flatten(model.parameters())}
    config.setdefault("num_key_value_heads", config["num_attention_heads"])
    return weights, config


def _hyperparameters(writer: GGUFWriter, config: dict[str, Any], arch: MODEL_ARCH, quant: str):
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim = config.get("head_dim") or hidden // heads
    writer.add_name(config.get("_name_or_path") or config.get("model_type", "model"))
    writer.add_context_length(int(config.get("max_position_embeddings", 4096)))
    writer.add_embedding_length(hidden)
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    rope_dims = int(head_dim * config.get("partial_rotary_factor", 1.0))
    writer.add_rope_dimension_count(rope_dims)
    if arch == MODEL_ARCH.PHI3:
        orig = config.get("original_max_position_embeddings")
        writer.add_rope_scaling_orig_ctx_len(int(orig or config["max_position_embeddings"]))
        if config.get("sliding_window"):
            writer.add_sliding_window(int(config["sliding_window"]))
    scaling = config.get("rope_scaling") or {}
    kind = scaling.get("type") or scaling.get("rope_type")
    if kind == "linear":
        from gguf import RopeScalingType

        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
    elif kind not in (None, "default"):
        raise UserError(
            f"GGUF export: rope scaling {kind!r} is not written yet; export the MLX folder "
            "and convert it with llama.cpp's convert_hf_to_gguf.py."
        )
    writer.add_file_type(_FILE_TYPES[quant])
    writer.add_quantization_version(GGML_QUANT_VERSION)


def _convert(name: str, w: np.ndarray, config: dict[str, Any], arch: MODEL_ARCH) -> np.ndarray:
    """convert_hf_to_gguf's per-architecture changes to a tensor."""
    if arch == MODEL_ARCH.LLAMA and not config.get("rope_traditional"):
        # llama.cpp's llama uses interleaved rope: permute Q/K rows from HF's rotate-half order
        # (a folder imported from a GGUF is already interleaved: rope_traditional)
        if name.endswith("q_proj.weight"):
            return _permute(w, config["num_attention_heads"])
        if name.endswith("k_proj.weight"):
            return _permute(w, config["num_key_value_heads"])
    if arch == MODEL_ARCH.GEMMA and name.endswith("norm.weight"):
        return w + 1  # HF Gemma scales by (1 + w); llama.cpp by w
    return w


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def _encode(gname: str, w: np.ndarray, quant: str) -> tuple[np.ndarray, GGMLQuantizationType]:
    """A tensor's data in the file's type: vectors (norms, biases) stay F32; matrices whose
    rows are not whole 32-blocks fall back to F16; in Q4_0 files the embedding and output
    matrices are Q8_0 (llama.cpp keeps them finer too)."""
    if w.ndim < 2:
        return w.astype(np.float32), GGMLQuantizationType.F32
    kind = quant
    if quant == "Q4_0" and gname.startswith(("token_embd", "output")):
        kind = "Q8_0"
    if kind in ("Q8_0", "Q4_0") and w.shape[-1] % 32:
        kind = "F16"
    qtype = GGMLQuantizationType[kind]
    return quants.quantize(w, qtype), qtype


def _vocabulary(writer: GGUFWriter, folder: Path, config: dict[str, Any]) -> None:
    """tokenizer.ggml.*: the vocabulary, its kind, merges, special ids and chat template."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"{folder}: no tokenizer.json; GGUF export needs a fast tokenizer.")
    tokenizer = json.loads(path.read_text(encoding="utf-8"))
    model = tokenizer.get("model", {})
    n_vocab = int(config.get("vocab_size") or 0)
    if model.get("type") == "BPE" and not model.get("byte_fallback"):
        tokens, types = _bpe_tokens(tokenizer, n_vocab)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(pre_tokenizer_name(tokenizer))
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        merges = True
    elif (folder / "tokenizer.model").is_file() or model.get("byte_fallback"):
        vocab = (
            SentencePieceVocab(folder)
            if (folder / "tokenizer.model").is_file()
            else LlamaHfVocab(folder)
        )
        tokens, scores, types = [], [], []
        for text, score, kind in vocab.all_tokens():
            tokens.append(text)
            scores.append(score)
            types.append(kind)
        if isinstance(vocab, LlamaHfVocab):  # it scores every piece -1000; llama.cpp merges
            scores = _merge_scores(tokens, scores, model.get("merges") or [])  # by score
        for i in range(len(tokens), n_vocab):  # embedding rows past the vocabulary
            tokens.append(f"[PAD{i}]".encode())
            scores.append(-1000.0)
            types.append(TokenType.UNUSED)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        merges = False
    else:
        raise UserError(
            f"GGUF export: a {model.get('type')} tokenizer is not supported (byte-level BPE "
            "and SentencePiece are)."
        )
    SpecialVocab(folder, load_merges=merges, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)


def _merge_scores(tokens: list[bytes], scores: list[float], merges: list) -> list[float]:
    """SentencePiece scores from BPE merge ranks: a piece made by merge r scores -r, so
    llama.cpp's highest-score-first merging repeats the BPE order."""
    rank: dict[str, int] = {}
    for i, m in enumerate(merges):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        rank.setdefault(a + b, i)
    texts = [t.decode("utf-8", "replace") for t in tokens]
    return [-float(rank[t]) if t in rank else s for t, s in zip(texts, scores, strict=True)]


def _bpe_tokens(tokenizer: dict[str, Any], n_vocab: int) -> tuple[list[str], list[int]]:
    """Tokens by id, added tokens marked as convert_hf_to_gguf does (special -> CONTROL,
    others USER_DEFINED), unused ids up to the embedding's size padded."""
    by_id = {i: t for t, i in tokenizer["model"]["vocab"].items()}
    kinds = {}
    for added in tokenizer.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        kinds[added["id"]] = TokenType.CONTROL if added.get("special") else TokenType.USER_DEFINED
    size = max(n_vocab, max(by_id) + 1)
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(size)]
    types = [
        kinds.get(i, TokenType.NORMAL if i in by_id else TokenType.UNUSED) for i in range(size)
    ]
    return tokens, [int(t) for t in types]


def pre_tokenizer_name(tokenizer: dict[str, Any]) -> str:
    """llama.cpp's name for the vocabulary's pre-tokenizer (it refuses names it does not know;
    "default" is GPT-2's split)."""
    pre = tokenizer.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre])
    types = [s.get("type") for s in steps]
    if types == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"
    for step in steps:
        regex = (step.get("pattern") or {}).get("Regex", "")
        for marker, name in _PRE_REGEX.items():
            if marker in regex:
                return name
    return "gpt-2" if types == ["ByteLevel"] else "default"


def _llama_cpp_quantize(src: Path, dst: Path, ftype: int) -> None:
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(ftype)
    params.nthread = max(1, (os.cpu_count() or 2) - 1)
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        raise UserError(f"llama.cpp could not quantize {src.name} (error {rc}).")
