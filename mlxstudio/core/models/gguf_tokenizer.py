"""Rebuild a Hugging Face fast tokenizer from a GGUF file's tokenizer metadata.

A GGUF carries no tokenizer.json: llama.cpp stores the vocabulary, merges, scores, token types
and special ids as metadata. We build tokenizer.json, tokenizer_config.json and
special_tokens_map.json from them, following what transformers' GGUF support and the models'
own tokenizer.json files do, so `mlx_lm.load` and `transformers.AutoTokenizer` read the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
from tokenizers import pre_tokenizers as pre

from mlxstudio.core.errors import UserError

# llama.cpp token types (llama_token_type)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Llama-3's split regex (its tokenizer.json, and llama.cpp's LLAMA_VOCAB_PRE_TYPE_LLAMA3)
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_PRES = {"llama-bpe", "llama3", "llama-v3", "smaug-bpe"}
DEFAULT_PRES = {"default", "gpt-2", "gpt2"}
SPIECE = "\u2581"  # "▁", SentencePiece's visible space


@dataclass
class TokenizerFiles:
    """The three tokenizer files of a model folder, plus anything the user should know."""

    tokenizer: Tokenizer
    tokenizer_config: dict[str, Any]
    special_tokens_map: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def save(self, folder: Path) -> None:
        self.tokenizer.save(str(folder / "tokenizer.json"))
        for name, data in (
            ("tokenizer_config.json", self.tokenizer_config),
            ("special_tokens_map.json", self.special_tokens_map),
        ):
            (folder / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def build_tokenizer(metadata: dict[str, Any], context_length: int | None = None) -> TokenizerFiles:
    """Build the tokenizer files from GGUF metadata ("tokenizer.ggml.*" keys)."""
    kind = metadata.get("tokenizer.ggml.model")
    if kind not in ("gpt2", "llama"):
        raise UserError(
            f"tokenizer type {kind!r} not supported yet (supported: gpt2 byte-level BPE, "
            "llama SentencePiece); use a model with one of those tokenizers."
        )
    tokens = metadata.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise UserError("this GGUF file has no tokenizer vocabulary; it cannot be imported.")
    types = metadata.get("tokenizer.ggml.token_type") or [NORMAL] * len(tokens)
    if len(types) != len(tokens) or not all(isinstance(t, int) for t in types):
        raise UserError("the GGUF tokenizer is inconsistent (token types do not match tokens).")
    warnings: list[str] = []
    vocab: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        vocab.setdefault(tok, i)  # duplicates are rare; the first id wins, as in HF vocabularies
    if len(vocab) < len(tokens):
        warnings.append(f"{len(tokens) - len(vocab)} duplicate token(s) in the vocabulary.")

    def token_of(key: str) -> str | None:
        tid = metadata.get(f"tokenizer.ggml.{key}")
        return tokens[tid] if isinstance(tid, int) and 0 <= tid < len(tokens) else None

    # llama.cpp adds BOS to a SentencePiece vocabulary unless told not to
    default_bos = kind == "llama"
    try:
        if kind == "gpt2":
            tok = _byte_level(metadata, vocab, warnings)
        else:
            tok = _sentencepiece(metadata, tokens, vocab, types, token_of("unknown_token_id"))
    except UserError:
        raise
    except Exception as e:  # the tokenizers library rejects inconsistent vocabularies/merges
        raise UserError(
            f"could not rebuild the tokenizer from this GGUF ({e}); the file may be damaged."
        ) from None

    # Control tokens (and SentencePiece's <unk>) are special: matched whole, skipped when
    # decoding with skip_special_tokens. User-defined ones (like <think>) are matched whole too,
    # but are ordinary text, as in transformers' GGUF support.
    specials = {CONTROL: True, USER_DEFINED: False, **({UNKNOWN: True} if kind == "llama" else {})}
    added = [
        AddedToken(t, special=specials[ty], normalized=False)
        for t, ty in zip(tokens, types, strict=True)
        if ty in specials
    ]
    tok.add_special_tokens([a for a in added if a.special])
    tok.add_tokens([a for a in added if not a.special])

    names = {
        "bos_token": token_of("bos_token_id"),
        "eos_token": token_of("eos_token_id"),
        "unk_token": token_of("unknown_token_id"),
        "pad_token": token_of("padding_token_id"),
    }
    add_bos = bool(metadata.get("tokenizer.ggml.add_bos_token", default_bos)) and bool(
        names["bos_token"]
    )
    add_eos = bool(metadata.get("tokenizer.ggml.add_eos_token", False)) and bool(names["eos_token"])
    bos, eos = (names["bos_token"] if add_bos else None), (names["eos_token"] if add_eos else None)
    tok.post_processor = _post_processor(kind, bos, eos, vocab)

    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **names,
        "add_bos_token": add_bos,
        "add_eos_token": add_eos,
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(context_length) if context_length else 2048,
    }
    template = metadata.get("tokenizer.chat_template")
    if isinstance(template, str):
        config["chat_template"] = template
    special_map = {k: v for k, v in names.items() if v is not None}
    return TokenizerFiles(tok, config, special_map, warnings)


def _byte_level(metadata: dict[str, Any], vocab: dict[str, int], warnings: list[str]) -> Tokenizer:
    merges_raw = metadata.get("tokenizer.ggml.merges")
    if not isinstance(merges_raw, list) or not merges_raw:
        raise UserError("this GGUF's gpt2 tokenizer has no merges; the file is incomplete.")
    merges = [tuple(m.split(" ", 1)) for m in merges_raw if " " in m]
    name = metadata.get("tokenizer.ggml.pre")
    tok = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, fuse_unk=False, ignore_merges=name in LLAMA3_PRES)
    )
    if name == "smollm":  # SmolLM2's own tokenizer.json: one digit per token
        tok.pre_tokenizer = pre.Sequence(
            [pre.Digits(individual_digits=True), pre.ByteLevel(add_prefix_space=False)]
        )
    elif name in LLAMA3_PRES:
        tok.pre_tokenizer = pre.Sequence(
            [
                pre.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
                pre.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    else:
        if name not in DEFAULT_PRES:
            warnings.append(
                f"pre-tokenizer {name!r} is not known here; using GPT-2's, so some text "
                "may split into different tokens than the original model expects."
            )
        tok.pre_tokenizer = pre.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def spm_merges(vocab: dict[str, int], scores: dict[str, float]) -> list[tuple[str, str]]:
    """BPE merges implied by a SentencePiece vocabulary: every split of a piece into two pieces,
    best-scored first, ties broken as transformers' generate_merges does (longer left first)."""
    found: list[tuple[str, str, float]] = []
    for piece, score in scores.items():
        local = [
            (piece[:i], piece[i:], score)
            for i in range(1, len(piece))
            if piece[:i] in scores and piece[i:] in scores
        ]
        found.extend(sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]])))
    found.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [(a, b) for a, b, _ in found]


def _sentencepiece(
    metadata: dict[str, Any],
    tokens: list[str],
    vocab: dict[str, int],
    types: list[int],
    unk: str | None,
) -> Tokenizer:
    scores_raw = metadata.get("tokenizer.ggml.scores") or [0.0] * len(tokens)
    if len(scores_raw) != len(tokens):
        raise UserError("the GGUF tokenizer is inconsistent (scores do not match tokens).")
    # Only normal pieces take part in merges: byte (<0x41>) and control tokens never do.
    scores = {
        t: float(s)
        for i, (t, s, ty) in enumerate(zip(tokens, scores_raw, types, strict=True))
        if ty == NORMAL and vocab[t] == i
    }
    merges = metadata.get("tokenizer.ggml.merges")
    if isinstance(merges, list) and merges:
        pairs = [tuple(m.split(" ", 1)) for m in merges if " " in m]
    else:
        pairs = spm_merges(vocab, scores)
    tok = Tokenizer(
        models.BPE(vocab=vocab, merges=pairs, unk_token=unk, fuse_unk=True, byte_fallback=True)
    )
    prefix = bool(metadata.get("tokenizer.ggml.add_space_prefix", True))
    steps = [normalizers.Replace(" ", SPIECE)]
    tok.normalizer = normalizers.Sequence(
        [normalizers.Prepend(SPIECE), *steps] if prefix else steps
    )
    dec = [decoders.Replace(SPIECE, " "), decoders.ByteFallback(), decoders.Fuse()]
    # the exact decoder shapes mlx-lm recognises for its SentencePiece streaming detokenizer
    tok.decoder = decoders.Sequence([*dec, decoders.Strip(" ", 1, 0)] if prefix else dec)
    return tok


def _post_processor(
    kind: str, bos: str | None, eos: str | None, vocab: dict[str, int]
) -> processors.PostProcessor | None:
    template = None
    if bos or eos:

        def seq(part: str, type_id: int) -> str:
            items = (bos and f"{bos}:{type_id}", f"${part}:{type_id}", eos and f"{eos}:{type_id}")
            return " ".join(x for x in items if x)

        single, pair = seq("A", 0), f"{seq('A', 0)} {seq('B', 1)}"
        special = [(t, vocab[t]) for t in dict.fromkeys((bos, eos)) if t]
        template = processors.TemplateProcessing(single=single, pair=pair, special_tokens=special)
    if kind != "gpt2":
        return template
    level = processors.ByteLevel(trim_offsets=False)
    return processors.Sequence([level, template]) if template else level
