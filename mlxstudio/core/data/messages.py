"""Checks on a conversation (a list of role/content messages), shared by the chat formats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlxstudio.core.data.issues import Problem, error, type_name, warning

SYSTEM = frozenset({"system", "developer"})
TOOL = frozenset({"tool", "function", "ipython"})
ROLES = SYSTEM | TOOL | {"user", "assistant"}
UNKNOWN = "?"  # the previous message was broken: don't guess at the order
EXAMPLE = '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]'


def _join_parts(parts: list) -> str | None:
    """OpenAI-style content parts [{"type": "text", "text": ...}] -> one string."""
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            return None
    return "".join(texts)


def check_messages(
    messages: Any,
    field: str,
    role_key: str = "role",
    content_key: str = "content",
    roles: Mapping[str, str] | None = None,
) -> tuple[list[dict] | None, list[Problem]]:
    """The conversation normalized to role/content (the same list when nothing changes)."""
    if not isinstance(messages, list):
        return None, [
            error(field, f"must be a list of messages, got {type_name(messages)}", EXAMPLE)
        ]
    if not messages:
        return None, [
            error(field, "the conversation is empty", "add messages or remove the record")
        ]
    rebuild = roles is not None or role_key != "role" or content_key != "content"
    if not rebuild and _simple(messages):
        return messages, []
    out: list[dict] = []
    problems: list[Problem] = []
    prev: str | None = None
    last = len(messages) - 1
    for i, m in enumerate(messages):
        where = f"{field}[{i}]"
        if not isinstance(m, dict):
            problems.append(error(where, f"must be a message object, got {type_name(m)}", EXAMPLE))
            prev = UNKNOWN
            continue
        role = m.get(role_key)
        if isinstance(role, str) and roles is not None:
            role = roles.get(role.lower(), role)
        if not isinstance(role, str) or role not in ROLES:
            what = f"unknown role {role!r}" if role_key in m else "no role"
            problems.append(
                error(f"{where}.{role_key}", what, "use system, user, assistant or tool")
            )
            prev = UNKNOWN
            continue
        content = m.get(content_key)
        if not isinstance(content, str):
            if isinstance(content, list) and (text := _join_parts(content)) is not None:
                if not rebuild:  # the messages before this one were fine as they are
                    out, rebuild = [m for m in messages[:i] if isinstance(m, dict)], True
                content = text
            elif not (content is None and role == "assistant" and m.get("tool_calls")):
                what = f"must be text, got {type_name(content)}" if content_key in m else "missing"
                problems.append(error(f"{where}.{content_key}", what, "give the message's text"))
        elif not content.strip() and role not in SYSTEM:
            if role == "assistant":
                what = "empty answer" if i == last else "empty assistant message"
                problems.append(
                    warning(f"{where}.{content_key}", what, "write it or drop the record")
                )
            else:
                problems.append(
                    error(f"{where}.{content_key}", "empty message", "write it or drop it")
                )
        problem = _order(role, prev, i, f"{where}.{role_key}")
        if problem:
            problems.append(problem)
        prev = role
        if rebuild:
            new = {k: v for k, v in m.items() if k not in (role_key, content_key)}
            out.append({"role": role, "content": content, **new})
    if prev not in (None, UNKNOWN, "assistant"):
        problems.append(
            error(
                f"{field}[{last}].{role_key}",
                f"the conversation ends with a {prev} message",
                "end each example with the assistant's answer: that is what the model learns",
            )
        )
    if any(p.severity == "error" for p in problems):
        return None, problems
    return (out if rebuild else messages), problems


def _simple(messages: list) -> bool:
    """The common shape, checked fast: [system], then user/assistant turns of text, ending
    with the assistant. Anything else takes the slow path, which says what is wrong."""
    want = "user"
    for i, m in enumerate(messages):
        if type(m) is not dict:
            return False
        role, content = m.get("role"), m.get("content")
        if type(content) is not str:
            return False
        if role == want and content and not content.isspace():
            want = "assistant" if want == "user" else "user"
        elif not (i == 0 and type(role) is str and role in SYSTEM):
            return False
    return want == "user"


def _order(role: str, prev: str | None, i: int, where: str) -> Problem | None:
    if prev == UNKNOWN:
        return None
    if role in SYSTEM:
        if i and prev not in SYSTEM:
            return error(where, f"a {role} message at position {i + 1}", "put it first")
    elif role == "user":
        if prev == "user":
            return error(where, "two user messages in a row", "merge them or add the reply between")
    elif role == "assistant":
        if prev == "assistant":
            return error(where, "two assistant messages in a row", "merge them")
        if prev is None or prev in SYSTEM:
            return error(where, "the assistant speaks before the user", "start with a user message")
    elif prev not in ("assistant", *TOOL):
        return error(where, f"a {role} message must follow the assistant's tool call", "")
    return None
