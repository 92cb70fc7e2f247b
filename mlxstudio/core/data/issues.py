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


@dataclass(frozen=True)
class Issue:
    """A problem at a place: `line` is 1-based; 0 means the file as a whole."""

    file: str
    line: int
    field: str
    message: str
    hint: str = ""
    severity: Severity = "error"

    @classmethod
    def at(cls, file: str, line: int, problem: Problem) -> Issue:
        return cls(file, line, problem.field, problem.message, problem.hint, problem.severity)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        level = "warning: " if self.severity == "warning" else ""
        field = f"{self.field}: " if self.field else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}: {level}{field}{self.message}{hint}"


def error(field: str, message: str, hint: str = "") -> Problem:
    return Problem(field, message, hint, "error")


def warning(field: str, message: str, hint: str = "") -> Problem:
    return Problem(field, message, hint, "warning")


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
