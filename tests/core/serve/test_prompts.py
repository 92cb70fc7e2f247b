"""Prompts kept with a run: reading prompt lists, answering them in one go, the chat log."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlxstudio.core.errors import UserError
from mlxstudio.core.serve.prompts import (
    answers_path,
    append_chat,
    read_chats,
    read_prompts,
    run_test_prompts,
    write_prompts,
)


def test_read_prompts_in_three_formats(tmp_path):
    (tmp_path / "p.txt").write_text("# greetings\nHi there\n\nWhat is 2+2?\n")
    (tmp_path / "p.jsonl").write_text('{"prompt": "Hi there"}\n{"question": "What is 2+2?"}\n')
    (tmp_path / "p.json").write_text('["Hi there", {"instruction": "What is 2+2?"}]')
    for name in ("p.txt", "p.jsonl", "p.json"):
        assert read_prompts(tmp_path / name) == ["Hi there", "What is 2+2?"]


def test_read_prompts_errors(tmp_path):
    with pytest.raises(UserError, match="no such prompts file"):
        read_prompts(tmp_path / "none.txt")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "ok"}\n{"oops": 1}\n')
    with pytest.raises(UserError, match="bad.jsonl:2: expected a string or a 'prompt' field"):
        read_prompts(tmp_path / "bad.jsonl")
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    with pytest.raises(UserError, match="no prompts"):
        read_prompts(tmp_path / "empty.txt")


def test_write_then_read_prompts(tmp_path):
    path = write_prompts(tmp_path / "run" / "test_prompts.txt", ["One\ntwo", " ", "Three"])
    assert read_prompts(path) == ["One two", "Three"]


def test_chat_log_per_run(tmp_path):
    run = tmp_path / "run-1"
    (run / "adapters").mkdir(parents=True)
    append_chat(run / "adapters", {"prompt": "Hi", "answer": "Hello"})
    append_chat(run, {"prompt": "Bye", "answer": "See you"})
    with (run / "chats.jsonl").open("a") as fh:
        fh.write('{"torn')  # a crash mid-write
    assert [c["prompt"] for c in read_chats(run)] == ["Hi", "Bye"]
    assert "time" in read_chats(run)[0]


def test_run_test_prompts_with_adapter(tiny_model, adapter_dir, tmp_path):
    out = answers_path(adapter_dir)
    assert out.parent == adapter_dir.parent / "test_prompts"
    lines = []
    records = run_test_prompts(
        tiny_model,
        adapter_dir.parent,
        ["Hi", "The capital"],
        out,
        max_tokens=5,
        progress=lines.append,
    )
    saved = [json.loads(line) for line in out.read_text().splitlines()]
    assert saved == records and [r["prompt"] for r in saved] == ["Hi", "The capital"]
    assert all(0 < r["tokens"] <= 5 and r["adapter"] for r in saved)
    assert lines[-1].startswith("[2/2] ")


def test_test_prompts_command(tiny_model, adapter_dir, tmp_path):
    prompts = write_prompts(tmp_path / "p.txt", ["Hi", "What is MLX?", "Bye"])
    proc = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "test-prompts", str(tiny_model)]
        + ["--adapter", str(adapter_dir.parent), "--prompts", str(prompts), "--max-tokens", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    files = list((adapter_dir.parent / "test_prompts").glob("answers-*.jsonl"))
    assert len(files) == 1
    assert f"Answers to 3 prompts written to {files[0]}" in proc.stdout
    assert len(files[0].read_text().splitlines()) == 3


def test_test_prompts_without_run_needs_out(tiny_model, tmp_path):
    prompts = write_prompts(tmp_path / "p.txt", ["Hi"])
    proc = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "test-prompts", str(tiny_model), "--prompts"]
        + [str(prompts)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "mlxstudio: error: without --adapter there is no run directory: give --out FILE"
    )


def test_serve_command_refuses_the_network_without_opt_in(tiny_model):
    proc = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "serve", str(tiny_model), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "add --allow-network" in proc.stderr
