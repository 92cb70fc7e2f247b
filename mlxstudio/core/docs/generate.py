"""`data generate`: every chunk of a folder's documents -> question/answer pairs -> a dataset.

Each chunk's pairs are appended to the output folder as soon as they exist, and the chunk is
marked done, so a cancelled or killed run loses at most the chunk it was on and the next run
goes on from there. Run in the CLI's process or as a window task (engine/task.py):
`generate(progress, options)`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlxstudio.core.docs import chunks as chunking
from mlxstudio.core.docs import pairs as store
from mlxstudio.core.docs.documents import find_documents, read_document
from mlxstudio.core.docs.privacy import mask
from mlxstudio.core.docs.prompts import parse_pairs, requests_for
from mlxstudio.core.docs.writers import API_KEY_ENV, TOKENS_PER_PAIR, open_writer
from mlxstudio.core.errors import UserError
from mlxstudio.core.train.eta import format_eta

SETTINGS = "generate.json"
RETRIES = 2  # a third unreadable answer skips the chunk
# Changing these changes the chunks or what is asked of them: not a continuation.
_SAME_FOR_A_FOLDER = ("folder", "chunk_chars", "overlap", "pairs", "cot", "mask_private")


@dataclass
class GenerateOptions:
    folder: str
    out: str
    username: str
    model: str | None = None  # a local MLX model; None: the largest installed
    url: str | None = None  # an OpenAI-compatible server: only then does text leave
    api_key_env: str = API_KEY_ENV
    pairs: int = 3  # memory pairs asked per chunk (+1 time pair for dated documents)
    cot: bool = False
    mask_private: bool = False
    chunk_chars: int = chunking.CHUNK_CHARS
    overlap: int = chunking.OVERLAP_CHARS
    restart: bool = False  # drop what an earlier run of this folder made

    def check(self) -> None:
        if not self.username.strip():
            raise UserError("give your name: the questions are asked by you", fix="username")
        if not 1 <= self.pairs <= 20:
            raise UserError(f"pairs per chunk {self.pairs}: choose 1 to 20")
        if not 200 <= self.chunk_chars <= 50_000 or not 0 <= self.overlap < self.chunk_chars // 2:
            raise UserError(
                f"chunk of {self.chunk_chars} characters with {self.overlap} overlap: choose "
                "200 to 50,000 characters and an overlap under half of it"
            )


@dataclass
class GenerateResult:
    out: str
    documents: int
    chunks: int
    chunks_done_before: int  # by an earlier run: skipped this time
    chunks_skipped: int  # unreadable answers after the retries
    retries: int
    unreadable_documents: list[str] = field(default_factory=list)
    new_pairs: int = 0  # made by this run
    pairs: int = 0  # written to the dataset
    duplicates: int = 0
    merged: str = ""
    chat: str = ""
    errors: int = 0
    warnings: int = 0
    writer: str = ""
    seconds: float = 0.0


Progress = Callable[[float, str], None]


def generate(progress: Progress, options: GenerateOptions) -> GenerateResult:
    """Generate the pairs of every chunk not done yet, then write and validate the dataset."""
    options.check()
    started = time.monotonic()
    out = Path(options.out).expanduser()
    folder = Path(options.folder).expanduser()
    paths = find_documents(folder)
    _open_out(out, options)
    documents, unreadable = [], []
    for path in paths:
        try:
            documents.append(read_document(path, folder))
        except UserError as err:
            unreadable.append(str(err))
    todo_all = [
        c for d in documents for c in chunking.split(d, options.chunk_chars, options.overlap)
    ]
    done = {row.get("id") for row in store.read_jsonl(out / store.CHUNKS)}
    todo = [c for c in todo_all if c.id not in done]
    result = GenerateResult(
        str(out), len(documents), len(todo_all), len(todo_all) - len(todo), 0, 0, unreadable
    )
    if todo:
        progress(0.0, f"Loading {options.url or options.model or 'the largest local model'}…")
        writer = open_writer(options.model, options.url, options.api_key_env)
        result.writer = writer.name
        seen = {p.key() for p in store.load_pairs(out)}
        loop_start = time.monotonic()
        for n, chunk in enumerate(todo):
            progress(n / len(todo), _status(n, len(todo), result, loop_start))
            kept, dropped, skipped, retries = _chunk_pairs(writer, chunk, options, seen)
            result.new_pairs += len(kept)
            result.duplicates += dropped
            result.retries += retries
            result.chunks_skipped += skipped
            store.append_jsonl(out / store.PAIRS, [asdict(p) for p in kept])
            store.append_jsonl(
                out / store.CHUNKS,
                [{"id": chunk.id, "source": chunk.source, "chunk": chunk.index,
                  "pairs": len(kept), "skipped": bool(skipped)}],
            )  # fmt: skip
    progress(1.0, "Writing the dataset…")
    dataset = store.write_dataset(out, options.username, options.cot)
    if dataset.records == 0:
        raise UserError(
            f"no question/answer pairs came out of {len(todo_all)} chunks: the model's answers "
            "could not be read; choose a larger model",
            fix="model",
        )
    result.pairs = dataset.records
    result.duplicates += dataset.duplicates
    result.merged, result.chat = str(dataset.merged), str(dataset.chat)
    result.errors, result.warnings = dataset.errors, dataset.warnings
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _open_out(out: Path, options: GenerateOptions) -> None:
    """Make the folder, or check that it continues a run with the same settings."""
    settings = {k: v for k, v in asdict(options).items() if k in _SAME_FOR_A_FOLDER}
    settings["folder"] = str(Path(options.folder).expanduser().resolve())
    saved_path = out / SETTINGS
    if options.restart:
        for name in (store.PAIRS, store.CHUNKS, store.MERGED, store.CHAT, SETTINGS):
            (out / name).unlink(missing_ok=True)
    elif saved_path.is_file():
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
        changed = [k for k in _SAME_FOR_A_FOLDER if saved.get(k) != settings[k]]
        if changed:
            what = ", ".join(f"{k} {saved.get(k)!r} -> {settings[k]!r}" for k in changed)
            raise UserError(
                f"{out} holds pairs made with other settings ({what}); start over to "
                "replace them, or choose another output folder",
                fix="restart",
            )
    elif out.is_dir() and any(out.iterdir()):
        raise UserError(f"{out}: not empty and not made by this command; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    saved_path.write_text(json.dumps(settings, indent=1), encoding="utf-8")


def _chunk_pairs(
    writer, chunk: chunking.Chunk, options: GenerateOptions, seen: set[str]
) -> tuple[list[store.Pair], int, int, int]:
    """(new pairs, duplicates dropped, 1 if an answer stayed unreadable else 0, retries)."""
    if options.mask_private:
        chunk = chunking.Chunk(chunk.source, chunk.index, mask(chunk.text), chunk.date)
    found: list[store.Pair] = []
    unreadable = retries = 0
    per_pair = TOKENS_PER_PAIR * (2 if options.cot else 1)
    for request in requests_for(chunk, options.username, options.pairs, options.cot):
        parsed: list[tuple[str, str]] = []
        for attempt in range(RETRIES + 1):
            retries += attempt > 0
            text = writer.write(request.messages, per_pair * request.count + 32, attempt)
            parsed = parse_pairs(text, options.cot)[: request.count]
            if parsed:
                break
        unreadable |= not parsed
        for q, a in parsed:
            if options.mask_private:
                q, a = mask(q), mask(a)
            pair = store.Pair(q, a, request.kind, chunk.source, chunk.index, chunk.id, chunk.date)
            found.append(pair)
    kept, dropped = store.dedupe(found, seen)
    return kept, dropped, int(unreadable), retries


def _status(n: int, total: int, result: GenerateResult, start: float) -> str:
    text = f"Chunk {n + 1} of {total} · {result.new_pairs} pairs"
    if n:
        left = (time.monotonic() - start) / n * (total - n)
        text += f" · about {format_eta(left)} left"
    if result.chunks_skipped:
        text += f" · {result.chunks_skipped} skipped"
    return text
