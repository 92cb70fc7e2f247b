"""The tokenizer of a model pretrained from scratch: a byte-level BPE trained on the corpus
with the `tokenizers` library, or an existing tokenizer copied in. Either way the folder
ends up with what mlx_lm.load (and transformers' AutoTokenizer) reads.

A trained tokenizer carries ChatML's special tokens and chat template, so the base model
can be fine-tuned on chat data (`messages`) afterwards without changing its vocabulary.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

from mlxstudio.core.errors import UserError

END_OF_TEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIALS = (END_OF_TEXT, IM_START, IM_END)  # ids 0, 1, 2 in a trained tokenizer
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Files a tokenizer may consist of (transformers' names); copied when present.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
)
# End-of-text tokens of common tokenizers, for a bare tokenizer.json without its config.
_EOS_CANDIDATES = (END_OF_TEXT, "</s>", "<eos>", "<|end_of_text|>", IM_END)


def train_tokenizer(texts: Iterable[str], vocab_size: int, out: Path) -> int:
    """Train a byte-level BPE of at most `vocab_size` tokens on `texts` and write
    tokenizer.json + tokenizer_config.json into `out`; returns the vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + len(SPECIALS):
        raise UserError(
            f"vocab_size {vocab_size} is too small: a byte-level tokenizer needs at least "
            f"{256 + len(SPECIALS)} (256 bytes and {len(SPECIALS)} special tokens)"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no unknown text
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    _write_config(out, eos=END_OF_TEXT, chat_template=CHATML)
    return tok.get_vocab_size(with_added_tokens=True)


def _write_config(out: Path, eos: str, chat_template: str | None = None) -> None:
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": eos,
        "pad_token": eos,
        "unk_token": None,
        "model_max_length": 1_000_000,
        "clean_up_tokenization_spaces": False,
    }
    if chat_template:
        config["chat_template"] = chat_template
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def tokenizer_source(ref: str) -> Path:
    """The folder of an existing tokenizer: a path, or a model name in the app's folder."""
    path = Path(ref).expanduser()
    if path.is_file() and path.name == "tokenizer.json":
        path = path.parent
    if not path.is_dir():
        from mlxstudio.core.models.local import resolve_model

        path = resolve_model(ref)
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer.model").is_file():
        raise UserError(f"{path}: no tokenizer.json here; give a tokenizer or model folder")
    return path.resolve()


def copy_tokenizer(ref: str, out: Path) -> None:
    """Copy an existing tokenizer into `out`; a bare tokenizer.json (as MLX-Pretrain keeps
    one) gets the tokenizer_config.json that transformers needs to load it."""
    source = tokenizer_source(ref)
    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, out / name)
    if (out / "tokenizer_config.json").is_file():
        return
    vocab = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    known = {t["content"] for t in vocab.get("added_tokens", [])}
    known |= set((vocab.get("model") or {}).get("vocab") or {})
    eos = next((t for t in _EOS_CANDIDATES if t in known), None)
    if eos is None:
        raise UserError(
            f"{source}: the tokenizer has no end-of-text token (one of "
            f"{', '.join(_EOS_CANDIDATES)}); add one, or let MLX Studio train a tokenizer"
        )
    _write_config(out, eos=eos)


def eos_token_ids(tokenizer) -> list[int]:
    """Ids that end generation: end of text, and ChatML's end of turn when it exists."""
    ids = [tokenizer.eos_token_id]
    turn = tokenizer.convert_tokens_to_ids(IM_END)
    if isinstance(turn, int) and turn != tokenizer.unk_token_id and turn not in ids:
        ids.append(turn)
    return ids
