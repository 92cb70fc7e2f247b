"""Streaming readers: JSONL, JSON (array or one object), CSV/TSV and plain text.

Each yields rows `(line, value, problem)`: a record with its 1-based line, or a problem
(value None) at that line. Memory stays bounded by `max_record_bytes` whatever the file
holds; bytes that are not UTF-8, a byte-order mark, CRLF and one enormous line are all
reported rather than raised. `bytes_read` lets the caller report progress.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlxstudio.core.data.issues import Problem, error, warning

Row = tuple[int, Any, Problem | None]

BOM = b"\xef\xbb\xbf"
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of non-UTF-8 bytes
_WS = " \t\r\n"
# mlx-lm reads train.jsonl with json.loads per line: a BOM or a blank line stops it.
_BOM_WARNING = warning(
    "",
    "the file starts with a UTF-8 byte-order mark (BOM)",
    "mlx-lm cannot read it; `mlxstudio data convert` writes a copy without",
    fix="bom",
)
_BLANK_HINT = "mlx-lm fails on blank lines; `mlxstudio data convert` drops them"
_NOT_UTF8_HINT = "save the file as UTF-8 (most editors offer it under 'Save as' / 'Encoding')"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _bad_escape(text: str, value: Any) -> Problem | None:
    """A lone \\uD800-\\uDFFF escape parses but can never be written as UTF-8 nor tokenized."""
    if "\\ud" not in text and "\\uD" not in text:
        return None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return error(
            "", "text holds an unpaired surrogate escape (\\uD800-\\uDFFF)", "remove or fix it"
        )
    return None


def _too_long(size: int, limit: int) -> Problem:
    return error(
        "",
        f"record is {_mb(size)}, over the {_mb(limit)} limit for one record",
        "split it into smaller examples (or raise max_record_bytes)",
    )


def _json_problem(err: Exception) -> Problem:
    if isinstance(err, json.JSONDecodeError):
        return error(
            "",
            f"invalid JSON: {err.msg} (column {err.colno})",
            "each record must be one complete JSON object",
        )
    if isinstance(err, RecursionError):
        return error("", "invalid JSON: nested too deeply", "flatten the record")
    return error("", f"invalid JSON: {err}", "each record must be one complete JSON object")


class JsonlReader:
    """One JSON value per line."""

    def __init__(self, path: Path, max_record_bytes: int) -> None:
        self.path = Path(path)
        self.limit = max_record_bytes
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Row]:
        loads, limit = json.loads, self.limit
        blank, first_blank = 0, 0
        with self.path.open("rb") as fh:
            readline = fh.readline
            number = 0
            while raw := readline(limit + 1):
                number += 1
                self.bytes_read += len(raw)
                if len(raw) > limit and not raw.endswith(b"\n"):
                    size = len(raw) + self._skip_line(fh)
                    yield number, None, _too_long(size, limit)
                    continue
                if number == 1 and raw.startswith(BOM):
                    raw = raw[3:]
                    yield 1, None, _BOM_WARNING
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    msg = f"bytes that are not UTF-8 (column {err.start + 1})"
                    yield number, None, error("", msg, _NOT_UTF8_HINT)
                    continue
                try:
                    value = loads(text)
                except (ValueError, RecursionError) as err:
                    if text.strip(_WS):
                        yield number, None, _json_problem(err)
                    else:
                        blank += 1
                        first_blank = first_blank or number
                    continue
                problem = _bad_escape(text, value)
                yield (number, None, problem) if problem else (number, value, None)
        if blank:
            message = f"{blank} blank line(s), the first here"
            yield first_blank, None, warning("", message, _BLANK_HINT, fix="blank_lines")

    def _skip_line(self, fh: io.BufferedReader) -> int:
        skipped = 0
        while chunk := fh.readline(1 << 20):
            skipped += len(chunk)
            if chunk.endswith(b"\n"):
                break
        self.bytes_read += skipped
        return skipped


class JsonReader:
    """A JSON array of records, parsed element by element; any other JSON value is one record."""

    def __init__(self, path: Path, max_record_bytes: int) -> None:
        self.path = Path(path)
        self.limit = max_record_bytes
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Row]:
        with self.path.open("rb") as fh:
            yield from _ArrayParser(self, fh).rows()


class _ArrayParser:
    READ = 1 << 16
    TRIM = 1 << 20

    def __init__(self, reader: JsonReader, fh: io.BufferedReader) -> None:
        self.reader, self.fh = reader, fh
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.raw_decode = json.JSONDecoder().raw_decode
        self.buf, self.pos, self.eof, self.started = "", 0, False, False
        self.line, self.counted = 1, 0  # the line number at buf[counted]

    def fill(self, want: int) -> None:
        """Read at least `want` more bytes (doubling keeps a big record linear), or hit EOF."""
        if self.pos > self.TRIM:  # drop what is parsed: memory stays near one record
            self.line_at(self.pos)
            self.buf, self.counted, self.pos = self.buf[self.pos :], 0, 0
        data = self.fh.read(max(want, self.READ))
        self.reader.bytes_read += len(data)
        self.eof = not data
        text = self.decoder.decode(data, final=self.eof)
        if not self.started:
            text, self.started = text.removeprefix("\ufeff"), True
        self.buf += text

    def line_at(self, pos: int) -> int:
        self.line += self.buf.count("\n", self.counted, pos)
        self.counted = pos
        return self.line

    def skip_ws(self) -> str:
        """The next non-space character ('' at EOF), with pos on it."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return buf[pos]
            if self.eof:
                return ""
            self.fill(self.READ)

    def value(self) -> tuple[int, Any, Problem | None, bool]:
        """(line, value, problem, fatal) for the value at pos, reading on until it is whole."""
        while True:
            start = self.pos
            try:
                value, end = self.raw_decode(self.buf, start)
                if end < len(self.buf) or self.eof:  # a number at the very end may go on
                    break
            except (ValueError, RecursionError) as err:
                if self.eof or len(self.buf) - start > self.reader.limit:
                    return (*self.fail(start, err), True)
            self.fill(len(self.buf) - start)
        line = self.line_at(start)
        self.pos = end
        text = self.buf[start:end]
        if _BAD_BYTES.search(text):
            return line, None, error("", "bytes that are not UTF-8", _NOT_UTF8_HINT), False
        if len(text) > self.reader.limit:
            return line, None, _too_long(len(text), self.reader.limit), False
        return line, value, _bad_escape(text, value), False

    def fail(self, start: int, err: Exception) -> tuple[int, None, Problem]:
        line = self.line_at(start)
        if len(self.buf) - start > self.reader.limit:
            return line, None, _too_long(len(self.buf) - start, self.reader.limit)
        if _BAD_BYTES.search(self.buf, start):
            return line, None, error("", "bytes that are not UTF-8", _NOT_UTF8_HINT)
        if isinstance(err, json.JSONDecodeError) and err.pos >= start:
            line = self.line_at(err.pos)
            return line, None, error("", f"invalid JSON: {err.msg}", _STOPPED)
        return line, None, _json_problem(err)

    def rows(self) -> Iterator[Row]:
        first = self.skip_ws()
        if not first:
            return
        if first != "[":
            line, value, problem, _ = self.value()
            yield line, value, problem
            if problem is None and self.skip_ws():
                yield self.line_at(self.pos), None, _TRAILING
            return
        self.pos += 1
        if self.skip_ws() == "]":
            self.pos += 1
        else:
            while True:
                line, value, problem, fatal = self.value()
                yield line, value, problem
                if fatal:
                    return  # after broken JSON there is no telling where the next record starts
                nxt = self.skip_ws()
                self.pos += 1
                if nxt == "]":
                    break
                if nxt != ",":
                    what = "expected ',' or ']' after a record" if nxt else "']' is missing"
                    yield (
                        self.line_at(self.pos - 1),
                        None,
                        error("", f"invalid JSON: {what}", _STOPPED),
                    )
                    return
                self.skip_ws()
        if self.skip_ws():
            yield self.line_at(self.pos), None, _TRAILING


_STOPPED = "fix the JSON there; the rest of the file was not read"
_TRAILING = error("", "invalid JSON: more text after the end of the data", "remove it")


class CsvReader:
    """CSV or TSV with a header row; each row becomes {column: text}."""

    def __init__(self, path: Path, max_record_bytes: int, delimiter: str) -> None:
        self.path = Path(path)
        self.limit = max_record_bytes
        self.delimiter = delimiter
        self._raw: io.BufferedReader | None = None

    @property
    def bytes_read(self) -> int:
        return self._raw.tell() if self._raw and not self._raw.closed else 0

    def __iter__(self) -> Iterator[Row]:
        csv.field_size_limit(max(csv.field_size_limit(), self.limit))
        with self.path.open("rb") as raw:
            self._raw = raw
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
            rows = csv.reader(text, delimiter=self.delimiter)
            header: list[str] | None = None
            line = 1
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    return
                except csv.Error as err:
                    yield (
                        line,
                        None,
                        error("", f"not valid CSV: {err}", "check quoting on this row"),
                    )
                    line = rows.line_num + 1
                    continue
                at, line = line, rows.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if any(_BAD_BYTES.search(cell) for cell in row):
                    yield at, None, error("", "bytes that are not UTF-8", _NOT_UTF8_HINT)
                    continue
                if header is None:
                    header = [c.strip() or f"column {i + 1}" for i, c in enumerate(row)]
                    continue
                if len(row) != len(header):
                    yield (
                        at,
                        None,
                        error(
                            "",
                            f"row has {len(row)} columns, the header has {len(header)}",
                            "quote cells that contain the delimiter or line breaks",
                        ),
                    )
                    continue
                yield at, dict(zip(header, row, strict=True)), None


class TextReader:
    """Plain text or Markdown, cut into records of about `chunk_chars` at paragraph breaks."""

    def __init__(self, path: Path, max_record_bytes: int, chunk_chars: int, key: str) -> None:
        self.path = Path(path)
        self.limit = max_record_bytes
        self.chunk = chunk_chars
        self.key = key
        self._raw: io.BufferedReader | None = None

    @property
    def bytes_read(self) -> int:
        return self._raw.tell() if self._raw and not self._raw.closed else 0

    def __iter__(self) -> Iterator[Row]:
        parts: list[str] = []
        size, start, number = 0, 0, 1
        whole = self.chunk <= 0
        piece = self.limit if whole else self.chunk
        with self.path.open("rb") as raw:
            self._raw = raw
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape")
            while line := text.readline(piece):
                at = number
                number += line.endswith("\n")
                if _BAD_BYTES.search(line):
                    yield (
                        at,
                        None,
                        error("", "bytes that are not UTF-8; line left out", _NOT_UTF8_HINT),
                    )
                    continue
                blank = not line.strip()
                boundary = blank and size >= self.chunk
                if not whole and parts and (boundary or size + len(line) > 2 * self.chunk):
                    yield from self._emit(start, parts)
                    parts, size, start = [], 0, 0
                if blank and not parts:
                    continue
                if whole and size + len(line) > self.limit:
                    yield (
                        at,
                        None,
                        error(
                            "",
                            f"the file is over {_mb(self.limit)}, too much for one record",
                            "cut it into records (text_chunk_chars > 0)",
                        ),
                    )
                    return
                start = start or at
                parts.append(line)
                size += len(line)
        yield from self._emit(start, parts)

    def _emit(self, start: int, parts: list[str]) -> Iterator[Row]:
        chunk = "".join(parts).strip()
        if chunk:
            yield start, {self.key: chunk}, None
