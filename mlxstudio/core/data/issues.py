"""What can be wrong with data: a Problem (no location yet) and an Issue (file:line)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """Something wrong with one record or line, before we know where it is."""

    field: str
    message: str
    hint: str = ""
    severity: Severity = "error"
    fix: str = ""
    """A name from FIXES when the app has a control that fixes it; `hint` words it for the CLI."""


@dataclass(frozen=True)
class Issue:
    """A problem at a place: `line` is 1-based; 0 means the file as a whole."""

    file: str
    line: int
    field: str
    message: str
    hint: str = ""
    severity: Severity = "error"
    fix: str = ""

    @classmethod
    def at(cls, file: str, line: int, problem: Problem) -> Issue:
        return cls(
            file, line, problem.field, problem.message, problem.hint, problem.severity, problem.fix
        )

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        level = "warning: " if self.severity == "warning" else ""
        field = f"{self.field}: " if self.field else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}: {level}{field}{self.message}{hint}"


# What a fix is called; each front end words it its own way (a flag, a control).
FIXES = (
    "map_fields",  # name the format and which of the user's fields is which
    "dedupe",  # leave duplicate records out
    "bom",  # converting writes a copy without the byte-order mark
    "blank_lines",  # converting drops blank lines
    "cot",  # the Second-Me chain-of-thought switch
    "username",  # the Second-Me username
    "max_seq_length",  # raise the longest sequence, or shorten the record
    "split",  # smaller validation/test shares
)


def error(field: str, message: str, hint: str = "", fix: str = "") -> Problem:
    return Problem(field, message, hint, "error", fix)


def warning(field: str, message: str, hint: str = "", fix: str = "") -> Problem:
    return Problem(field, message, hint, "warning", fix)


@dataclass(frozen=True)
class IssueGroup:
    """Identical problems at several places: shown once, with a count and the first place."""

    first: Issue
    count: int

    @property
    def severity(self) -> Severity:
        return self.first.severity


def group_issues(issues: list[Issue]) -> list[IssueGroup]:
    """Collapse issues that differ only by line (same file, field, message), in first-seen
    order, errors before warnings."""
    groups: dict[tuple, list] = {}
    for issue in issues:
        key = (issue.file, issue.field, issue.message, issue.severity)
        if key in groups:
            groups[key][1] += 1
        else:
            groups[key] = [issue, 1]
    found = [IssueGroup(first, count) for first, count in groups.values()]
    return sorted(found, key=lambda g: g.severity != "error")


def type_name(value: object) -> str:
    """The JSON name of a Python value's type, for messages a user reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
