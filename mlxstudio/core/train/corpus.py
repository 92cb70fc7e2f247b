"""The corpus of a pretraining run: text files read (as core.data reads text), a tokenizer
put in the run folder, and the text turned into windows of max_seq_length token ids.

Documents are joined with the end-of-text token and cut into windows: consecutive text is
packed, as pretraining usually does, and every token counts in the loss. The windows are
saved in run_dir/dataset, so a resumed run trains on exactly the same rows.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig
from mlxstudio.core.errors import UserError
from mlxstudio.core.train.tokenizer import (
    TOKENIZER_FILES,
    copy_tokenizer,
    eos_token_ids,
    train_tokenizer,
)

DATASET = "dataset"
TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


def corpus_files(data: str) -> list[Path]:
    """Text files of a corpus: one file (.txt/.md, or .jsonl of {"text"} records as
    MLX-Pretrain's input_file), or the .txt/.md files under a folder."""
    path = Path(data).expanduser() if data else None
    if path is None or not path.exists():
        raise UserError(
            f"{data or '(none)'}: no such corpus; set 'data:' to a text file or a folder of "
            ".txt/.md files"
        )
    if path.is_file():
        return [path]
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in TEXT_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise UserError(f"{path}: no .txt or .md files in this folder")
    return files


def read_documents(data: str, log: Callable[[str], None] = print) -> list[str]:
    """The documents of a corpus (a text file each, or a JSONL record each)."""
    from mlxstudio.core.data import DataOptions, scan
    from mlxstudio.core.data.validate import ValidationReport

    report = ValidationReport()
    options = DataOptions(format="text", text_chunk_chars=0)
    docs = [ex.record["text"] for ex in scan(corpus_files(data), options, report)]
    if report.errors:
        log(f"{report.errors} problem(s) in the corpus, left out; the first: {report.issues[0]}")
    if not docs:
        first = f": {report.issues[0]}" if report.issues else ""
        raise UserError(f"{data}: no text to train on{first}")
    return docs


def _token_stream(docs: list[str], tokenizer) -> np.ndarray:
    """All documents as one stream of ids, each followed by the end-of-text token."""
    eos = tokenizer.eos_token_id
    parts = []
    for start in range(0, len(docs), 256):  # batches: the Rust tokenizer runs them in parallel
        for ids in tokenizer(docs[start : start + 256])["input_ids"]:
            parts.append(np.asarray([*ids, eos], dtype=np.int32))
    return np.concatenate(parts)


def _windows(stream: np.ndarray, length: int) -> np.ndarray:
    rows = len(stream) // length  # the last, partial window is left out
    return stream[: rows * length].reshape(rows, length)


def _held_out(rows: int, batch_size: int) -> np.ndarray:
    """Indices of the windows kept for validation: 1 in 10, spread over the corpus, and
    at least a batch (validation needs one), when the corpus has two batches or more."""
    if rows < 2 * batch_size:
        return np.zeros(0, dtype=np.int64)
    count = max(rows // 10, batch_size)
    return (np.arange(count) * rows) // count + (rows // count) // 2


@dataclass
class Corpus:
    train: np.ndarray  # (windows, max_seq_length) token ids
    valid: np.ndarray
    vocab_size: int
    eos_token_ids: list[int]


def _corpus_key(cfg: RunConfig) -> dict:
    """What the prepared corpus depends on: prepared again when any of it changes."""
    keys = ("data", "valid_data", "tokenizer", "vocab_size", "max_seq_length", "batch_size")
    return {k: getattr(cfg, k) for k in keys}


def prepare_corpus(cfg: RunConfig, run_dir: Path, log: Callable[[str], None] = print) -> Corpus:
    """Put the tokenizer in `run_dir` and the corpus, as token windows, in run_dir/dataset;
    reused as it is when it was prepared from the same settings (a resumed run)."""
    from transformers import AutoTokenizer

    folder = run_dir / DATASET
    manifest = folder / "corpus.json"
    if manifest.is_file():
        saved = json.loads(manifest.read_text(encoding="utf-8"))
        if saved.get("key") == _corpus_key(cfg):
            return Corpus(
                np.load(folder / "train.npy"),
                np.load(folder / "valid.npy"),
                saved["vocab_size"],
                saved["eos_token_ids"],
            )
    docs = read_documents(cfg.data, log)
    if cfg.tokenizer:
        log(f"Using the tokenizer of {cfg.tokenizer}")
        copy_tokenizer(cfg.tokenizer, run_dir)
    else:
        log(f"Training a byte-level BPE tokenizer ({cfg.vocab_size} tokens) on the corpus")
        train_tokenizer(docs, cfg.vocab_size, run_dir)
    (run_dir / "tokenizer").mkdir(exist_ok=True)
    for name in TOKENIZER_FILES:
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, run_dir / "tokenizer" / name)
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir))
    if tokenizer.eos_token_id is None:
        raise UserError(f"{cfg.tokenizer}: the tokenizer has no eos_token to end documents with")
    rows = _windows(_token_stream(docs, tokenizer), cfg.max_seq_length)
    if cfg.valid_data:
        valid_docs = read_documents(cfg.valid_data, log)
        valid = _windows(_token_stream(valid_docs, tokenizer), cfg.max_seq_length)
        train = rows
    else:
        held = _held_out(len(rows), cfg.batch_size)
        valid, train = rows[held], np.delete(rows, held, axis=0)
    if len(train) < cfg.batch_size:
        raise UserError(
            f"{cfg.data}: the corpus makes {len(train)} training windows of max_seq_length="
            f"{cfg.max_seq_length} tokens, fewer than batch_size={cfg.batch_size}; add text, "
            "or lower max_seq_length or batch_size"
        )
    vocab = max(tokenizer.get_vocab().values()) + 1
    corpus = Corpus(train, valid, vocab, eos_token_ids(tokenizer))
    folder.mkdir(exist_ok=True)
    np.save(folder / "train.npy", train)
    np.save(folder / "valid.npy", valid)
    info = {"key": _corpus_key(cfg), "vocab_size": vocab, "eos_token_ids": corpus.eos_token_ids}
    info |= {"documents": len(docs), "train_windows": len(train), "valid_windows": len(valid)}
    runs.write_json_atomic(manifest, info)
    log(
        f"Corpus: {len(docs)} documents, {train.size + valid.size:,} tokens in windows of "
        f"{cfg.max_seq_length}: {len(train)} to train on, {len(valid)} held out"
    )
    return corpus


class Windows:
    """Token windows as the batch plan and mlx-lm's evaluate read examples: (ids, offset)."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.rows[i].tolist(), 0
