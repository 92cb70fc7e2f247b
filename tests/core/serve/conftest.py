"""Fixtures for the serving tests: one in-process server on the tiny model per module."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from servehelpers import make_adapter, serve_in_thread, stop


@pytest.fixture(scope="module")
def server(tiny_model):
    before = set(threading.enumerate())
    srv, thread = serve_in_thread(tiny_model)
    yield srv
    stop(srv, thread)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not leftover, f"threads left running: {leftover}"


@pytest.fixture
def openai_client(server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server.url, api_key="not-needed", max_retries=0)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def adapter_dir(tiny_model, tmp_path) -> Path:
    """RUN/adapters: a LoRA adapter for the tiny model inside a run directory."""
    return make_adapter(tiny_model, tmp_path / "run-1")
