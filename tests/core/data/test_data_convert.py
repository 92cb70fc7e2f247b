"""Convert: the folder mlx-lm trains on, a seeded split, atomic output, inputs never touched."""

from __future__ import annotations

import json
import types

import pytest
from datahelpers import chat, write_jsonl

from mlxstudio.core.data import DataOptions, convert, split_sizes
from mlxstudio.core.data.detect import MANIFEST
from mlxstudio.core.errors import UserError


def lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def alpaca(tmp_path):
    records = [
        {"instruction": f"Question {i} é", "input": "", "output": f"Answer {i}"} for i in range(100)
    ]
    return write_jsonl(tmp_path / "in" / "alpaca.jsonl", records, newline="\r\n")


def test_split_by_ratio_is_exact_and_complete(alpaca, tmp_path):
    result = convert([alpaca], tmp_path / "out", valid=0.1, test=0.05, seed=1)
    assert result.counts == {"train": 85, "valid": 10, "test": 5}
    assert result.kind == "chat" and [p.name for p in result.files] == [
        "train.jsonl",
        "valid.jsonl",
        "test.jsonl",
    ]
    users = [
        r["messages"][0]["content"]
        for s in ("train", "valid", "test")
        for r in lines(result.out / f"{s}.jsonl")
    ]
    assert sorted(users) == sorted(f"Question {i} é" for i in range(100))


def test_output_bytes_utf8_lf_no_bom(alpaca, tmp_path):
    out = convert([alpaca], tmp_path / "out").out
    raw = (out / "train.jsonl").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
    assert "é".encode() in raw and raw.endswith(b"\n") and b"\n\n" not in raw


def test_split_is_seeded(alpaca, tmp_path):
    a = convert([alpaca], tmp_path / "a", seed=7)
    b = convert([alpaca], tmp_path / "b", seed=7)
    c = convert([alpaca], tmp_path / "c", seed=8)
    assert (a.out / "valid.jsonl").read_bytes() == (b.out / "valid.jsonl").read_bytes()
    assert (a.out / "valid.jsonl").read_bytes() != (c.out / "valid.jsonl").read_bytes()


def test_split_by_counts_and_given_valid_file(alpaca, tmp_path):
    result = convert([alpaca], tmp_path / "out", valid=7, test=3)
    assert result.counts == {"train": 90, "valid": 7, "test": 3}
    held = write_jsonl(tmp_path / "held.jsonl", [chat("held out", "yes")] * 2)
    result = convert([alpaca], tmp_path / "out2", valid=0.5, valid_inputs=[held])
    assert result.counts == {"train": 100, "valid": 2, "test": 0}
    assert not (result.out / "test.jsonl").exists()  # mlx-lm fails on an empty file


def test_split_sizes():
    assert split_sizes(100, 0.1, 0.0) == (10, 0)
    assert split_sizes(5, 0.1, 0) == (1, 0)  # a share > 0 holds out at least one
    assert split_sizes(1, 0.1, 0) == (0, 0)
    with pytest.raises(UserError, match="leaves none to train on"):
        split_sizes(3, 2, 1)
    with pytest.raises(UserError, match="below 1"):
        split_sizes(10, 1.5, 0)


def test_mlx_lm_loads_the_output(alpaca, tmp_path, tiny_model):
    from mlx_lm.tuner.datasets import load_dataset
    from mlx_lm.utils import load_tokenizer

    out = convert([alpaca], tmp_path / "out", valid=0.1, test=0.1).out
    args = types.SimpleNamespace(data=str(out), train=True, test=True)
    train, valid, test = load_dataset(args, load_tokenizer(tiny_model))
    assert (len(train), len(valid), len(test)) == (80, 10, 10)
    tokens, offset = train.process(train[0])
    assert len(tokens) > 5 and offset == 0


def test_chat_and_completions_merge_to_chat_text_refuses_to_mix(tmp_path):
    a = write_jsonl(tmp_path / "in" / "a.jsonl", [chat("q", "a")] * 3)
    b = write_jsonl(tmp_path / "in" / "b.jsonl", [{"prompt": "p", "completion": "c"}] * 3)
    result = convert([tmp_path / "in"], tmp_path / "out", valid=0)
    assert result.kind == "chat"
    assert {json.dumps(r) for r in lines(result.out / "train.jsonl")} == {
        json.dumps(chat("q", "a")),
        json.dumps(chat("p", "c")),
    }
    (tmp_path / "in" / "notes.md").write_text("Some prose.\n")
    with pytest.raises(UserError, match="different kinds of data"):
        convert([a, b, tmp_path / "in" / "notes.md"], tmp_path / "out2")


def test_text_folder_and_csv_mapping(tmp_path):
    for i in range(3):
        (tmp_path / "books" / f"{i}.md").parent.mkdir(exist_ok=True)
        (tmp_path / "books" / f"{i}.md").write_text(f"# Book {i}\n\nOnce upon a time {i}.\n")
    result = convert([tmp_path / "books"], tmp_path / "pre", valid=1)
    assert result.kind == "text" and result.counts["train"] == 2
    assert all(set(r) == {"text"} for r in lines(result.out / "train.jsonl"))
    csv = tmp_path / "qa.csv"
    csv.write_text("question,answer\nWhat?,That.\nWho?,Them.\nWhere?,There.\n")
    options = DataOptions(fields={"prompt": "question", "completion": "answer"})
    result = convert([csv], tmp_path / "qa", options, valid=1)
    assert result.kind == "completions"
    assert lines(result.out / "valid.jsonl")[0].keys() == {"prompt", "completion"}


def test_errors_are_left_out_or_strict(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [chat(f"q{i}", "a") for i in range(9)] + ["{bad"])
    result = convert([path], tmp_path / "out", valid=0)
    assert result.counts["train"] == 9 and result.report.errors == 1
    with pytest.raises(UserError, match="1 error"):
        convert([path], tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()


def test_dedupe(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a"), chat("q", "a"), chat("r", "b")])
    result = convert([path], tmp_path / "out", valid=0, dedupe=True)
    assert result.counts["train"] == 2 and result.duplicates_removed == 1
    manifest = json.loads((result.out / MANIFEST).read_text())
    assert manifest["records"]["train"] == 2 and manifest["sources"][0]["format"] == "chat"


def test_refuses_to_touch_the_input(alpaca, tmp_path):
    folder = alpaca.parent
    before = alpaca.read_bytes()
    for out in (folder, tmp_path, folder / "sub"):
        with pytest.raises(UserError, match="input"):
            convert([folder], out, overwrite=True)
    with pytest.raises(UserError, match="holds the input"):
        convert([alpaca], folder, overwrite=True)
    assert alpaca.read_bytes() == before and sorted(folder.iterdir()) == [alpaca]


def test_refuses_non_empty_output_unless_overwrite(alpaca, tmp_path):
    out = tmp_path / "out"
    convert([alpaca], out, test=0.1)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        convert([alpaca], out)
    result = convert([alpaca], out, overwrite=True, valid=5)
    assert result.counts == {"train": 95, "valid": 5, "test": 0}
    assert not (out / "test.jsonl").exists()  # stale split from the first run removed
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no scratch left


def test_failure_midway_leaves_nothing(alpaca, tmp_path):
    def cancel(progress):
        raise KeyboardInterrupt

    big = write_jsonl(tmp_path / "big.jsonl", [chat(f"q{i}", "a") for i in range(5000)])
    with pytest.raises(KeyboardInterrupt):
        convert([big], tmp_path / "out", progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl", "in"]


def test_nothing_usable(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", ["{bad", "[1]"])
    with pytest.raises(UserError, match="no usable records"):
        convert([path], tmp_path / "out")
    with pytest.raises(UserError, match="no such file"):
        convert([tmp_path / "nope.jsonl"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_prompts_for_online_rl_keep_the_fields_a_reward_reads(tmp_path):
    records = [{"prompt": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(6)]
    records.append({"prompt": "   ", "answer": "0"})  # an empty prompt: a warning
    path = write_jsonl(tmp_path / "math.jsonl", records)
    result = convert([path], tmp_path / "out", valid=2)
    assert result.kind == "prompts" and result.report.warnings == 1
    written = lines(result.out / "train.jsonl") + lines(result.out / "valid.jsonl")
    assert len(written) == 7 and all(set(r) == {"prompt", "answer"} for r in written)
    assert {"prompt": "What is 3 + 1?", "answer": "4"} in written
