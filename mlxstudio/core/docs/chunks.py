"""Split a document into overlapping chunks a model can read in one go.

Ours rather than a text-splitter library's: the splitters worth having come with LangChain or
LlamaIndex, far too much to install for twenty lines. Chunks end at a paragraph, else a
sentence, else a space, so a question never starts from half a word.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mlxstudio.core.docs.documents import Document

CHUNK_CHARS = 2000  # ~500 tokens: room for the answers in a small model's context
OVERLAP_CHARS = 200
_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


@dataclass(frozen=True)
class Chunk:
    source: str
    index: int  # 0-based position in its document
    text: str
    date: str | None

    @property
    def id(self) -> str:
        """Stable across runs while the text is the same: what a second run skips."""
        digest = hashlib.sha1(f"{self.source}\0{self.text}".encode()).hexdigest()
        return digest[:16]


def split(doc: Document, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[Chunk]:
    """The document's chunks of at most `size` characters, each repeating up to `overlap`
    characters of the one before."""
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"chunk size {size} and overlap {overlap}: need 0 <= overlap < size")
    text, chunks, start = doc.text, [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            end = _break_before(text, start + size // 2, end)
        piece = text[start:end].strip()
        if piece:
            chunks.append(Chunk(doc.source, len(chunks), piece, doc.date))
        if end >= len(text):
            break
        start = max(_break_after(text, end - overlap, end), start + 1)
    return chunks


def _break_before(text: str, lo: int, hi: int) -> int:
    """The last natural break in text[lo:hi] (the position after it), else hi."""
    for mark in _BREAKS:
        at = text.rfind(mark, lo, hi)
        if at != -1:
            return at + len(mark)
    return hi


def _break_after(text: str, lo: int, hi: int) -> int:
    """Where the overlap starts: the first sentence or word start in text[lo:hi], else lo."""
    lo = max(lo, 0)
    for mark in _BREAKS[2:]:
        at = text.find(mark, lo, hi)
        if at != -1:
            return at + len(mark)
    return lo
