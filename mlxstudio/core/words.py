"""Counts in words, for messages people read: '1 chunk', '3 chunks', '1,204 records'."""

from __future__ import annotations


def count(n: int, word: str) -> str:
    """'1 chunk', '2 chunks' (English nouns that take an s)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"
