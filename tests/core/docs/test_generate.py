"""`data generate` through an OpenAI-compatible server (the fake at the edge): records with
their provenance, retries, skips, duplicates, masking, a second run that continues, a
kill -9 that loses nothing; then a real training run on what came out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_writer import fake_writer, write_notes

from mlxstudio.core.data import DataOptions, convert, validate
from mlxstudio.core.docs.generate import GenerateOptions, generate
from mlxstudio.core.docs.pairs import load_pairs, save_pairs, write_dataset
from mlxstudio.core.errors import UserError


def _quiet(_fraction: float, _text: str) -> None:
    pass


def _options(notes: Path, out: Path, url: str, **kw) -> GenerateOptions:
    return GenerateOptions(folder=str(notes), out=str(out), username="Ana", url=url, **kw)


def test_records_carry_their_source_then_the_model_trains_on_them(tmp_path, tiny_model):
    from mlxstudio.core.train.sft import run_sft
    from tests.core.train.conftest import tiny_config

    notes, out = tmp_path / "notes", tmp_path / "out"
    write_notes(notes)
    (notes / "fussy.txt").write_text("GARBLE once. I keep my bike in the hallway at night.\n")
    (notes / "junk.txt").write_text("NEVER readable. This note only gets refusals back.\n")
    (notes / "copy of books.txt").write_text((notes / "books.txt").read_text())
    seen: list[str] = []
    with fake_writer() as server:
        result = generate(lambda f, t: seen.append(t), _options(notes, out, server.url, pairs=2))
        sent = [r["messages"][-1]["content"] for r in server.requests]
    assert result.documents == 6 and result.chunks == 6 and result.chunks_done_before == 0
    assert result.chunks_skipped == 1  # junk.txt, after its retries
    assert result.retries == 1 + 2  # fussy.txt's first answer, junk.txt's two
    assert result.duplicates == 2  # the copy of books.txt asks the same two questions
    assert any(t.startswith("Chunk 6 of 6 · ") and "left" in t for t in seen)
    assert all("Ana" in text for text in sent)

    merged = json.loads((out / "merged.json").read_text())
    chat = [json.loads(line) for line in (out / "chat.jsonl").read_text().splitlines()]
    assert len(merged) == len(chat) == result.pairs == 2 + 2 + 1 + 2 + 1  # books, fussy, ...
    by_source = {}
    for record in merged:
        by_source.setdefault(record["source"], []).append(record)
        assert record["chunk"] == 0 and record["user"] and record["assistant"]
    assert set(by_source) == {"books.txt", "fussy.txt", "journal/2025-03-14-garden.md", "trip.html"}
    timed = [r for r in merged if r.get("is_timeqa")]
    assert timed == [
        {
            "user": "What did I do on 2025-03-14?",
            "assistant": "You wrote: Today I finally planted the tomato seedlings in the raised "
            "bed behind the garage.",
            "timestamp": "2025-03-14",
            "is_timeqa": True,
            "source": "journal/2025-03-14-garden.md",
            "chunk": 0,
        }
    ]
    html = by_source["trip.html"][0]
    assert "castle" in html["assistant"] and "tracking" not in json.dumps(by_source["trip.html"])
    memory = next(c for c in chat if c["source"] == "books.txt")
    assert memory["messages"][0]["content"].startswith('You are Ana\'s "Second Me"')
    assert [m["role"] for m in memory["messages"]] == ["system", "user", "assistant"]
    dated = next(c for c in chat if c["messages"][0]["content"].endswith("2025-03-14"))
    assert dated["messages"][1]["content"] == "<|ME|>What did I do on 2025-03-14?"
    # Second-Me's own format reads merged.json back: the same records, no errors
    assert validate([out / "merged.json"], DataOptions(format="secondme", username="Ana")).ok
    assert result.errors == 0

    data = convert([out / "chat.jsonl"], tmp_path / "dataset", DataOptions(), valid=2).out
    cfg = tiny_config(tiny_model, data, iters=6, batch_size=2, max_seq_length=512)
    cfg.steps_per_eval, cfg.save_every = 3, 6
    trained = run_sft(cfg, log=lambda m: None)
    assert trained.status == "completed" and trained.step == 6
    assert trained.last_val_loss < trained.first_val_loss


def test_masking_keeps_private_details_from_the_server_and_the_data(tmp_path):
    notes, out = tmp_path / "notes", tmp_path / "out"
    write_notes(notes)
    with fake_writer() as server:
        generate(_quiet, _options(notes, out, server.url, mask_private=True))
        sent = json.dumps(server.requests)
    assert "marta.v@example.com" not in sent and "612 345 678" not in sent
    assert "[email]" in sent and "[phone]" in sent
    data = (out / "merged.json").read_text() + (out / "pairs.jsonl").read_text()
    assert "marta.v@" not in data and "Marta ([email], [phone])" in data


def test_a_second_run_continues_and_other_settings_are_refused(tmp_path):
    notes, out = tmp_path / "notes", tmp_path / "out"
    write_notes(notes)
    with fake_writer() as server:
        first = generate(_quiet, _options(notes, out, server.url))
        asked = len(server.requests)
        again = generate(_quiet, _options(notes, out, server.url))
        assert len(server.requests) == asked  # nothing asked twice
        assert again.chunks_done_before == 3 and again.pairs == first.pairs
        (notes / "new.md").write_text("I started learning the cello in October with Mr Ruiz.")
        more = generate(_quiet, _options(notes, out, server.url))
        assert len(server.requests) == asked + 1 and more.pairs == first.pairs + 1
        with pytest.raises(UserError, match="pairs 3 -> 5") as refused:
            generate(_quiet, _options(notes, out, server.url, pairs=5))
        assert refused.value.fix == "restart"
        before = len(server.requests)
        redone = generate(_quiet, _options(notes, out, server.url, pairs=5, restart=True))
        assert redone.chunks_done_before == 0 and redone.pairs == more.pairs  # notes are short
        asked_again = [r["messages"][-1]["content"] for r in server.requests[before:]]
        assert len(asked_again) == asked + 1
        assert sum("Write 5 different questions" in text for text in asked_again) == 4


def test_edits_in_the_window_go_into_the_dataset(tmp_path):
    notes, out = tmp_path / "notes", tmp_path / "out"
    write_notes(notes)
    with fake_writer() as server:
        generate(_quiet, _options(notes, out, server.url))
    pairs = load_pairs(out)
    pairs[0].answer = "Edited by Ana."
    dropped = pairs.pop(1)
    save_pairs(out, pairs)
    dataset = write_dataset(out, "Ana")
    text = (out / "chat.jsonl").read_text()
    assert dataset.records == len(pairs) and dataset.errors == 0
    assert "Edited by Ana." in text and dropped.answer not in text


def test_no_name_or_nothing_readable_is_said(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("NEVER readable. Only refusals come back for this one.")
    with pytest.raises(UserError, match="give your name") as err:
        generate(_quiet, GenerateOptions(str(notes), str(tmp_path / "o1"), username=" "))
    assert err.value.fix == "username"
    with fake_writer() as server, pytest.raises(UserError, match="choose a larger model"):
        generate(_quiet, _options(notes, tmp_path / "o2", server.url))


def test_kill_9_loses_nothing_and_the_same_command_continues(tmp_path):
    notes, out = tmp_path / "notes", tmp_path / "out"
    write_notes(notes)
    for i in range(4):
        (notes / f"day{i}.txt").write_text(f"On day {i} I repaired the fence number {i}.\n")
    command = [
        sys.executable, "-m", "mlxstudio", "data", "generate", str(notes), "--out", str(out),
        "--username", "Ana", "--pairs", "1",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[3]))
    with fake_writer(delay_s=0.4) as server:
        child = subprocess.Popen([*command, "--url", server.url], env=env)
        chunks = out / "chunks.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if chunks.is_file() and len(chunks.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        done_before = len(chunks.read_text().splitlines())
        assert 2 <= done_before < 7
        finished = subprocess.run(
            [*command, "--url", server.url, "--json"], env=env, capture_output=True, text=True
        )
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)
    assert result["chunks_done_before"] == done_before and result["chunks"] == 7
    assert result["pairs"] == 7 + 1  # one each, and the garden note's time question
    sources = {p.source for p in load_pairs(out)}
    assert sources == {f"day{i}.txt" for i in range(4)} | {
        "books.txt",
        "trip.html",
        "journal/2025-03-14-garden.md",
    }
