"""Detection: which files, which container, which format, and overriding all three."""

from __future__ import annotations

import json

import pytest
from datahelpers import chat, write_jsonl

from mlxstudio.core.data import DataOptions, describe_file, detect_container, expand_inputs
from mlxstudio.core.data.detect import MANIFEST

EXAMPLES = {
    "chat": chat("q", "a"),
    "sharegpt": {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
    "alpaca": {"instruction": "i", "input": "", "output": "o"},
    "completions": {"prompt": "p", "completion": "c"},
    "text": {"text": "t"},
    "preference": {"prompt": "p", "chosen": "c", "rejected": "r"},
    "mlx-pretrain-sft": {"instruction": "i", "response": "r"},
    "mlx-pretrain-rl": {"instruction": "i", "response": "r", "reward": 0.5},
    "secondme": {"user": "q", "assistant": "a", "timestamp": "2024-01-01"},
    "prompts": {"prompt": "What is 2 + 3?", "answer": "5"},
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_each_format_is_detected(tmp_path, name):
    path = write_jsonl(tmp_path / "d.jsonl", [EXAMPLES[name]] * 3)
    info = describe_file(path)
    assert (info.container, info.format, info.problem) == ("jsonl", name, None)


def test_majority_wins_and_override(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [EXAMPLES["text"]] + [EXAMPLES["completions"]] * 3)
    assert describe_file(path).format == "completions"
    assert describe_file(path, DataOptions(format="text")).format == "text"


def test_field_mapping_drives_detection(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "a"}])
    info = describe_file(path)
    assert info.format is None and "can't tell the format" in info.problem.message
    assert "'question', 'answer'" in info.problem.message and "--field" in info.problem.hint
    mapped = DataOptions(fields={"prompt": "question", "completion": "answer"})
    assert describe_file(path, mapped).format == "completions"


@pytest.mark.parametrize(
    "name, content, container",
    [
        ("a.json", json.dumps([EXAMPLES["text"]]), "json"),
        ("a.json", json.dumps(EXAMPLES["text"], indent=2), "json"),  # one pretty object
        ("a.json", json.dumps(EXAMPLES["text"]) + "\n" + json.dumps(EXAMPLES["text"]), "jsonl"),
        ("a.jsonl", "[" + json.dumps(EXAMPLES["text"]) + "]", "json"),
        ("a.data", json.dumps(EXAMPLES["text"]), "jsonl"),
        ("a.csv", "text\nhello\n", "csv"),
        ("a.tsv", "text\thello\n", "tsv"),
        ("a.md", "# hello\n", "text"),
        ("notes", "just words\n", "text"),
    ],
)
def test_container(tmp_path, name, content, container):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf  " + content.encode())
    assert detect_container(path) == container


def test_expand_folders_skips_hidden_manifest_and_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.jsonl", "a.csv", "sub/c.md", ".hidden.jsonl", MANIFEST, "img.png"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.json").write_text("x")
    files, issues = expand_inputs([tmp_path, tmp_path / "b.jsonl"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.csv", "b.jsonl", "sub/c.md"]
    assert issues == []


def test_expand_reports_missing_and_empty_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "photo.jpg").write_text("x")
    files, issues = expand_inputs([tmp_path / "empty", tmp_path / "nope.jsonl"])
    assert files == []
    assert [(i.message, i.severity) for i in issues] == [
        ("no data files in this folder", "error"),
        ("no such file or folder", "error"),
    ]
