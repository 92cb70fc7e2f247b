"""Validation on bad input: each case reported as file:line, field, message and hint, and
never an exception."""

from __future__ import annotations

import json

from datahelpers import chat, errors_of, issues_of, write_jsonl

from mlxstudio.core.data import DataOptions, Issue, validate


def one_error(path, options=None) -> Issue:
    found = errors_of(path, options)
    assert len(found) == 1, found
    return found[0]


def test_clean_file(chat_file):
    report = validate([chat_file])
    assert report.ok and report.records == 10 and report.issues == []
    assert report.files[0].format == "chat" and report.files[0].container == "jsonl"


def test_issue_prints_as_file_line_field_message_hint():
    issue = Issue("d.jsonl", 3, "messages[1].content", "empty message", "write it")
    assert str(issue) == "d.jsonl:3: messages[1].content: empty message (write it)"
    warn = Issue("d.jsonl", 0, "", "no records", "", "warning")
    assert str(warn) == "d.jsonl: warning: no records"


def test_invalid_json_line(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a"), '{"messages": [', chat("q2", "a")])
    issue = one_error(path)
    assert (issue.file, issue.line, issue.field) == (str(path), 2, "")
    assert issue.message.startswith("invalid JSON") and issue.hint


def test_wrong_types(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"prompt": "p", "completion": "c"}, {"prompt": ["p"], "completion": 7}, "[1, 2]"],
    )
    found = [(i.line, i.field, i.message) for i in errors_of(path)]
    assert found == [
        (2, "prompt", "must be text, got a list"),
        (2, "completion", "must be text, got a number"),
        (3, "", "a record must be a JSON object, got a list"),
    ]


def test_missing_fields(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"instruction": "i", "output": "o"}, {"instruction": "i"}] * 2
    )
    found = errors_of(path)
    assert [(i.line, i.field, i.message) for i in found] == [
        (2, "output", "missing"),
        (4, "output", "missing"),
    ]
    assert "--field output=" in found[0].hint


def test_empty_file_and_whitespace_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n \r\n")
    assert one_error(empty).message == "the file is empty"
    assert one_error(blank).message == "no records in the file"
    for name in ("e.json", "e.csv", "e.md"):
        (tmp_path / name).write_bytes(b"")
        assert one_error(tmp_path / name).message == "the file is empty"


def test_bom_and_crlf_are_read(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps(chat("caf\u00e9", "ok")), json.dumps(chat("q", "a"))]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    report = validate([path])
    assert report.ok and report.records == 2
    assert [i.message for i in report.issues] == [
        "the file starts with a UTF-8 byte-order mark (BOM)"
    ]


def test_bytes_not_utf8(tmp_path):
    path = tmp_path / "d.jsonl"
    good = json.dumps(chat("q", "a")).encode()
    path.write_bytes(good + b"\n" + good.replace(b'"q"', b'"\xff\xfe"') + b"\n" + good + b"\n")
    issue = one_error(path)
    assert issue.line == 2 and "not UTF-8" in issue.message and "UTF-8" in issue.hint


def test_one_enormous_line(tmp_path):
    huge = chat("q", "x" * 17_000_000)  # over the 16 MB a record we read by default
    path = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a"), huge, chat("q2", "a")])
    report = validate([path])
    [issue] = report.issues
    assert issue.line == 2 and "over the 16.0 MB limit for one record" in issue.message
    assert report.records == 2
    small = validate([path], DataOptions(max_record_bytes=100_000))
    assert small.issues[0].message.startswith("record is 17.0 MB, over the 0.1 MB limit")


def test_formats_mixed_in_one_file(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [chat("q", "a"), chat("q2", "a"), {"prompt": "p", "completion": "c"}, {"text": "t"}],
    )
    found = errors_of(path)
    assert [i.line for i in found] == [3, 4]
    assert "prompt/completion pairs but the file is chat messages" in found[0].message
    assert "one format per file" in found[0].hint


def test_folder_with_nothing_usable(tmp_path):
    (tmp_path / "readme.pdf").write_bytes(b"%PDF")
    report = validate([tmp_path])
    assert not report.ok and report.issues[0].message == "no data files in this folder"


def test_file_of_unknown_records(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "a"}, "not json"])
    found = errors_of(path)
    assert found[0].line == 0 and "can't tell the format" in found[0].message
    assert found[1].line == 2 and "invalid JSON" in found[1].message


def test_roles_out_of_order_and_empty_messages(tmp_path):
    bad = [
        {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]},
        {"messages": []},
        {"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "a"}]},
    ]
    path = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a"), *bad])
    found = [(i.line, i.field, i.message) for i in errors_of(path)]
    assert found == [
        (2, "messages[0].role", "the assistant speaks before the user"),
        (2, "messages[1].role", "the conversation ends with a user message"),
        (3, "messages", "the conversation is empty"),
        (4, "messages[0].content", "empty message"),
    ]


def test_warnings_for_duplicates_and_empty_answers(tmp_path):
    other = tmp_path / "b.jsonl"
    write_jsonl(other, [chat("q1", "a1")])
    path = write_jsonl(
        tmp_path / "a.jsonl", [chat("q1", "a1"), chat("q2", ""), chat("q1", "a1"), chat("q3", "a")]
    )
    report = validate([path, other])
    assert report.ok and report.duplicates == 2
    assert [(i.file, i.line, i.message) for i in report.issues if i.severity == "warning"] == [
        (str(path), 2, "empty answer"),
        (str(path), 3, "duplicate of line 1"),
        (str(other), 1, f"duplicate of {path}:1"),
    ]


def test_progress_and_issue_cap(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", ["nope"] * 10_000)
    seen, ticks = [], []
    report = validate([path], on_issue=seen.append, progress=ticks.append, max_issues=5)
    assert len(seen) == 10_000 and len(report.issues) == 5 and report.omitted == 9_995
    assert report.errors == 10_000
    assert ticks[-1].fraction == 1.0 and len(ticks) >= 3
    assert [t.bytes_done for t in ticks] == sorted(t.bytes_done for t in ticks)


def test_missing_path(tmp_path):
    found = issues_of(tmp_path / "nope.jsonl")
    assert [(i.line, i.message) for i in found] == [(0, "no such file or folder")]


def test_unreadable_file_is_an_issue():
    mem = "/proc/self/mem"  # a file that exists but fails to read
    try:
        with open(mem, "rb") as fh:
            fh.read(1)
    except OSError:
        pass
    else:  # pragma: no cover - not Linux
        return
    [issue] = issues_of(mem)
    assert issue.line == 0 and issue.message.startswith("can't read the file")


def test_duplicates_pairs_each_copy_with_its_first():
    import random

    from mlxstudio.core.data.validate import Duplicates, Example

    rng = random.Random(0)
    values = [rng.randrange(50) for _ in range(3000)]
    seen = Duplicates()
    for i, v in enumerate(values):
        seen.add(Example("f", i + 1, "text", "text", {"text": str(v)}))
    first: dict[int, int] = {}
    expected = []
    for i, v in enumerate(values):
        if v in first:
            expected.append((i, first[v]))
        else:
            first[v] = i
    assert seen.find() == expected
