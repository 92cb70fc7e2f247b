"""Readers: line numbers, encodings, line endings and oversized input, on real files."""

from __future__ import annotations

import json

import pytest

from mlxstudio.core.data import readers
from mlxstudio.core.data.readers import CsvReader, JsonlReader, JsonReader, TextReader

LIMIT = 1 << 20


def rows(reader) -> list:
    return list(reader)


def records(reader) -> list:
    return [(line, value) for line, value, problem in reader if value is not None]


def problems(reader) -> list:
    return [(line, p.severity, p.message) for line, _, p in reader if p is not None]


def test_jsonl_records_with_line_numbers(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n\n{"a": 3}')  # no final newline
    reader = JsonlReader(path, LIMIT)
    assert records(reader) == [(1, {"a": 1}), (2, {"a": 2}), (4, {"a": 3})]
    assert reader.bytes_read == path.stat().st_size


def test_jsonl_crlf_and_bom(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": "x"}\r\n{"a": "y"}\r\n')
    out = rows(JsonlReader(path, LIMIT))
    assert [(line, v) for line, v, _ in out if v] == [(1, {"a": "x"}), (2, {"a": "y"})]
    [(line, severity, message)] = problems(out)
    assert (line, severity) == (1, "warning") and "byte-order mark" in message


def test_jsonl_bytes_not_utf8(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n{"a": "fine"}\n')
    out = rows(JsonlReader(path, LIMIT))
    assert records(out) == [(1, {"a": "ok"}), (3, {"a": "fine"})]
    assert problems(out) == [(2, "error", "bytes that are not UTF-8 (column 11)")]


def test_jsonl_invalid_json_reports_column(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n{"a": }\n')
    [(line, severity, message)] = problems(JsonlReader(path, LIMIT))
    assert line == 2 and severity == "error"
    assert message.startswith("invalid JSON: Expecting value") and "column 7" in message


def test_jsonl_enormous_line_is_skipped_in_bounded_memory(tmp_path):
    path = tmp_path / "a.jsonl"
    big = json.dumps({"text": "x" * 300_000})
    path.write_text(f'{{"a": 1}}\n{big}\n{{"a": 3}}\n')
    reader = JsonlReader(path, 100_000)
    out = rows(reader)
    assert records(out) == [(1, {"a": 1}), (3, {"a": 3})]
    [(line, _, message)] = problems(out)
    assert line == 2 and "over the 0.1 MB limit" in message
    assert reader.bytes_read == path.stat().st_size


def test_jsonl_blank_lines_warned_once(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert problems(JsonlReader(path, LIMIT)) == [(2, "warning", "2 blank line(s), the first here")]


@pytest.mark.parametrize(
    "line, expected",
    [
        ("[" * 100_000, "invalid JSON"),  # too deep for the parser
        ("1" * 5000, "invalid JSON"),  # int longer than Python converts
        ('{"a": "\\ud800"}', "unpaired surrogate"),
    ],
)
def test_jsonl_hostile_lines(tmp_path, line, expected):
    path = tmp_path / "a.jsonl"
    path.write_text(line + "\n")
    [(_, severity, message)] = problems(JsonlReader(path, LIMIT))
    assert severity == "error" and expected in message


def test_jsonl_surrogate_pair_escape_is_fine(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": "\\ud83d\\ude00"}\n')
    assert records(JsonlReader(path, LIMIT)) == [(1, {"a": "\U0001f600"})]


def test_json_array_line_numbers_bom_crlf(tmp_path):
    path = tmp_path / "a.json"
    data = [{"a": i, "s": "é\nx"} for i in range(3)]
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data, indent=2).replace("\n", "\r\n").encode())
    assert records(JsonReader(path, LIMIT)) == [(2, data[0]), (6, data[1]), (10, data[2])]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_json_array_parses_across_tiny_reads(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(readers._ArrayParser, "READ", chunk)
    monkeypatch.setattr(readers._ArrayParser, "TRIM", chunk * 2)
    data = [{"n": 12345, "t": "ünïcödé €"}, 987654321, {"nested": [1, [2, {"x": None}]]}, True]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    out = rows(JsonReader(path, LIMIT))
    assert [v for _, v, _ in out] == data
    assert all(p is None for _, _, p in out)


def test_json_array_stops_at_broken_json_with_its_line(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n{"a": 1},\n{"a": 2,,},\n{"a": 3}\n]')
    out = rows(JsonReader(path, LIMIT))
    assert records(out) == [(2, {"a": 1})]
    [(line, severity, message)] = problems(out)
    assert line == 3 and severity == "error" and message.startswith("invalid JSON")


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"a": 1}', "']' is missing"),
        ('[{"a": 1} {"a": 2}]', "expected ',' or ']'"),
        ('[{"a": 1}] extra', "more text after the end"),
        ('[{"a": "unterminated', "invalid JSON"),
    ],
)
def test_json_array_structure_errors(tmp_path, text, message):
    path = tmp_path / "a.json"
    path.write_text(text)
    found = problems(JsonReader(path, LIMIT))
    assert found and message in found[-1][2]


def test_json_single_object_and_empty_array(tmp_path):
    one = tmp_path / "one.json"
    one.write_text('{\n  "conversations": []\n}\n')
    assert records(JsonReader(one, LIMIT)) == [(1, {"conversations": []})]
    empty = tmp_path / "empty.json"
    empty.write_text("[ ]")
    assert rows(JsonReader(empty, LIMIT)) == []


def test_json_array_record_over_limit(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"t": "x" * 5000}, {"t": "y"}]))
    out = rows(JsonReader(path, 1000))
    assert any("over the" in p.message for _, _, p in out if p)


def test_json_array_bytes_not_utf8(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'[{"a": "ok"},\n{"a": "caf\xe9"},\n{"a": "fine"}]')
    out = rows(JsonReader(path, LIMIT))
    assert records(out) == [(1, {"a": "ok"}), (3, {"a": "fine"})]
    assert problems(out) == [(2, "error", "bytes that are not UTF-8")]


def test_csv_header_quotes_multiline_and_bad_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(
        b'\xef\xbb\xbfprompt,completion\r\nhi,there\r\n"two\r\nlines","x, y"\r\nonly-one\r\n'
        b"caf\xe9,x\r\nlast,row\r\n"
    )
    out = rows(CsvReader(path, LIMIT, ","))
    assert records(out) == [
        (2, {"prompt": "hi", "completion": "there"}),
        (3, {"prompt": "two\r\nlines", "completion": "x, y"}),
        (7, {"prompt": "last", "completion": "row"}),
    ]
    assert [(line, msg.split(",")[0]) for line, _, msg in problems(out)] == [
        (5, "row has 1 columns"),
        (6, "bytes that are not UTF-8"),
    ]


def test_tsv(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("text\tlabel\nhello, world\t1\n")
    assert records(CsvReader(path, LIMIT, "\t")) == [(2, {"text": "hello, world", "label": "1"})]


def test_text_chunks_at_paragraphs(tmp_path):
    path = tmp_path / "a.md"
    paragraphs = [f"Paragraph {i} " + "word " * 20 for i in range(6)]
    path.write_text("\r\n\r\n".join(paragraphs) + "\r\n")
    out = records(TextReader(path, LIMIT, 250, "text"))
    assert len(out) > 1
    assert all(len(v["text"]) <= 500 for _, v in out)
    joined = "\n\n".join(v["text"] for _, v in out)
    assert joined.split() == " ".join(paragraphs).split()
    assert all(v["text"].startswith("Paragraph") for _, v in out)
    assert [line for line, _ in out][0] == 1 and all(line % 2 == 1 for line, _ in out)


def test_text_whole_file_and_long_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("x" * 1000 + "\nend\n")
    assert records(TextReader(path, LIMIT, 0, "text")) == [(1, {"text": "x" * 1000 + "\nend"})]
    pieces = records(TextReader(path, LIMIT, 300, "text"))
    assert "".join(v["text"] for _, v in pieces).replace("\n", "") == "x" * 1000 + "end"
    assert all(len(v["text"]) <= 600 for _, v in pieces)


def test_text_drops_lines_that_are_not_utf8(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"good line\nbad \xff line\nanother\n")
    out = rows(TextReader(path, LIMIT, 4000, "text"))
    assert records(out) == [(1, {"text": "good line\nanother"})]
    assert problems(out)[0][:2] == (2, "error")
