"""`data generate` on the real demo model, chosen by default as the largest model installed:
valid records from a folder of notes, end to end (their quality aside: it has 135M weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fake_writer import write_notes

from mlxstudio.core.data import DataOptions, validate

pytestmark = pytest.mark.e2e


def test_the_demo_model_writes_valid_records_from_notes(tmp_path):
    home = tmp_path / "user"  # no other model anywhere: the default is the demo model
    env = dict(os.environ, MLXSTUDIO_HOME=str(home / "studio"), HOME=str(home))
    env.update(HF_HOME=str(home / "hf"), OLLAMA_MODELS=str(home / "ollama"))
    env.pop("MLXSTUDIO_BLAS_CHECKED", None)

    def cli(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "mlxstudio", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, f"{args}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    cli("models", "install-demo")
    notes, out = tmp_path / "notes", tmp_path / "out"
    write_notes(notes)
    proc = cli("data", "generate", str(notes), "--out", str(out), "--username", "Ana",
               "--pairs", "1", "--json")  # fmt: skip
    result = json.loads(proc.stdout)
    print(json.dumps(result, indent=1))  # the figures, for the notes
    assert result["writer"] == "SmolLM2-135M-Instruct" and result["chunks"] == 3
    assert result["pairs"] >= 2 and result["errors"] == 0
    assert "Chunk 3 of 3" in proc.stderr
    chat = [json.loads(line) for line in (out / "chat.jsonl").read_text().splitlines()]
    assert len(chat) == result["pairs"]
    for record in chat:
        assert record["source"] in {"books.txt", "trip.html", "journal/2025-03-14-garden.md"}
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
        assert all(m["content"].strip() for m in record["messages"][1:])
    report = validate([out / "merged.json"], DataOptions(format="secondme", username="Ana"))
    assert report.ok and report.records == result["pairs"]
