"""Fixtures for the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from datahelpers import chat, write_jsonl


@pytest.fixture
def chat_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "chat.jsonl", [chat(f"q{i}", f"a{i}") for i in range(10)])
