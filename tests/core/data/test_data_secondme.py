"""Second-Me merged.json: every record kind of REFERENCE.md's table, on the shipped sample."""

from __future__ import annotations

import json
import shutil

import pytest

from mlxstudio.core import paths
from mlxstudio.core.data import DataOptions, convert, preview, validate
from mlxstudio.core.data import secondme as sm
from mlxstudio.core.errors import UserError

SAMPLE = paths.resources_dir() / "sample_data" / "secondme_merged.json"


@pytest.fixture
def merged(tmp_path):
    return shutil.copy(SAMPLE, tmp_path / "merged.json")


def by_line(path, **options):
    recs = preview([path], DataOptions(**options), count=100)
    return {r.line: r.record["messages"] for r in recs}


def test_sample_covers_every_kind_and_drops_none_answers(merged):
    report = validate([merged], DataOptions(username="Alex"))
    assert report.formats == {str(merged): "secondme"}
    assert report.records == 8 and report.dropped == 2 and report.errors == 0
    dropped = [i for i in report.issues if "record dropped" in i.message]
    assert [i.line for i in dropped] == [35, 39]
    assert "contains 'None'" in dropped[0].message and "is null" in dropped[1].message


def test_system_prompts_and_user_turns(merged):
    msgs = by_line(merged, username="Alex")
    context, judge, dated, timeqa, exact, memory = (msgs[n] for n in (2, 6, 11, 16, 22, 27))
    assert context[0]["content"] == sm.CONTEXT_PROMPT.format(user_name="Alex")
    assert context[1]["content"] == "Alex's request is: Recommend a book for my holiday."
    assert context[2]["content"].startswith("Recommend a book for my two-week")
    assert not context[2]["content"].endswith("\n")  # newlines around answers stripped
    assert judge[0]["content"] == sm.JUDGE_PROMPT.format(user_name="Alex")
    assert judge[1]["content"] == (
        "Alex's request is: Find me a good running shoe.\nThe expert's reply is: "
        "The Nike Pegasus is a popular all-round trainer with good cushioning for most runners."
    )
    assert dated[0]["content"] == ""
    assert dated[1]["content"] == "<|ME|>What did I do last Saturday?"
    assert timeqa[0]["content"] == "You are a helpful assistant.\n\nToday\u2019s date is 2024-05-13"
    assert timeqa[1]["content"].startswith("<|ME|>")
    assert exact[0]["content"] == "You are a helpful assistant."
    assert memory[0]["content"].startswith(
        'You are Alex\'s "Second Me", which is a personalized AI'
    )
    assert memory[1]["content"] == "What kind of coffee do I like?"
    assert memory[2]["content"].endswith("keeps you awake.")
    assert all(
        [m["role"] for m in conv] == ["system", "user", "assistant"] for conv in msgs.values()
    )


def test_cot_mode_uses_cot_prompts_and_warns_about_plain_answers(merged):
    msgs = by_line(merged, username="Alex", cot=True)
    assert msgs[2][0]["content"] == sm.CONTEXT_COT_PROMPT.format(user_name="Alex")
    assert msgs[6][0]["content"] == sm.JUDGE_COT_PROMPT.format(user_name="Alex")
    assert msgs[27][0]["content"] == sm.MEMORY_COT_PROMPT.format(user_name="Alex")
    assert "<think>" in msgs[27][0]["content"] and "Alex" in msgs[27][0]["content"]
    assert msgs[11][0]["content"] == ""  # dated memory has no COT variant
    report = validate([merged], DataOptions(username="Alex", cot=True))
    assert sum("COT mode" in i.message for i in report.issues) == 5


def test_cot_answer_in_think_answer_form_passes(tmp_path):
    path = tmp_path / "m.json"
    answer = "<think>He drinks oat milk.</think><answer>A flat white.</answer>"
    path.write_text(json.dumps([{"user": "Coffee?", "assistant": answer}]))
    report = validate([path], DataOptions(username="Alex", cot=True))
    assert report.records == 1 and report.warnings == 0


def test_bad_records_are_reported(tmp_path):
    path = tmp_path / "m.json"
    records = [
        {"user_request": "r"},
        {"user_request": 5, "enhanced_request": "e"},
        {"user": "", "assistant": "a"},
        {"user": "q", "assistant": 3},
        {"user": "q", "assistant": "a", "is_timeqa": True},
    ]
    path.write_text(json.dumps(records, indent=1))
    report = validate([path], DataOptions(username="Alex"))
    assert report.records == 0 and report.skipped == 5
    fields = [(i.line, i.field) for i in report.issues if i.severity == "error"]
    assert fields == [
        (2, ""),
        (5, "user_request"),
        (9, "user"),
        (13, "assistant"),
        (17, "timestamp"),
    ]


def test_convert_needs_a_username_and_splits_reproducibly(merged, tmp_path):
    with pytest.raises(UserError, match="--username"):
        convert([merged], tmp_path / "out")
    a = convert([merged], tmp_path / "a", DataOptions(username="Alex"), valid=0.1, test=0.1, seed=3)
    b = convert([merged], tmp_path / "b", DataOptions(username="Alex"), valid=0.1, test=0.1, seed=3)
    assert a.counts == {"train": 6, "valid": 1, "test": 1}
    for name in ("train", "valid", "test"):
        assert (a.out / f"{name}.jsonl").read_bytes() == (b.out / f"{name}.jsonl").read_bytes()
    lines = (a.out / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line)["messages"][0]["role"] == "system" for line in lines)
