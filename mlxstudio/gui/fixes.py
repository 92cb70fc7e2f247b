"""Problems worded for the window: each fix the core names (core/data/issues.FIXES) becomes
the control that does it, never a command-line flag."""

from __future__ import annotations

from mlxstudio.core.data.issues import Issue, IssueGroup

FIX_TEXT = {
    "map_fields": "press Map fields… to say which of your fields is which",
    "dedupe": "tick Drop duplicates before preparing",
    "bom": "Prepare dataset writes a copy without it",
    "blank_lines": "Prepare dataset drops them",
    "cot": "untick Chain of thought above, or regenerate the data in that mode",
    "username": "enter your name in the Second-Me box",
    "max_seq_length": "raise Max tokens on the LoRA settings page, or shorten the example",
    "split": "lower the Validation or Test share",
}


def fix_text(fix: str, hint: str = "") -> str:
    """What to do, in window words: the fix's control, else the hint when it names no flag."""
    if fix in FIX_TEXT:
        return FIX_TEXT[fix]
    return "" if "--" in hint or "mlxstudio " in hint else hint


def describe(group: IssueGroup) -> str:
    """'train.jsonl:40: text: not UTF-8 (41 lines, first at line 40) — what to do'."""
    issue: Issue = group.first
    name = issue.file.rsplit("/", 1)[-1]
    where = f"{name}:{issue.line}" if issue.line else name
    field = f"{issue.field}: " if issue.field else ""
    text = f"{where}: {field}{issue.message}"
    if group.count > 1:
        text += f" ({group.count} lines, first at line {issue.line})"
    todo = fix_text(issue.fix, issue.hint)
    return text + (f" — {todo}" if todo else "")
