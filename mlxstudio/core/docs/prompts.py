"""What we ask the writing model for each chunk, and how its answer is read back.

The answer format is plain `Q:` / `A:` lines rather than JSON: a 135M model keeps to it
where it breaks JSON, and a local model's answer can be started with "Q:" for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlxstudio.core.docs.chunks import Chunk

MEMORY, TIME = "memory", "time"
SYSTEM = (
    "You turn a person's own notes into questions and answers that teach their personal "
    "assistant what they know, did and think. Use only what the note says."
)
_COT_ANSWER = (
    "Each answer first thinks briefly, then answers, exactly as: "
    "A: <think>why the note answers it</think><answer>the answer</answer>"
)
_LINE = re.compile(
    r"^\s*(?:[-*#>]+\s*)?(?:\d+[.)]\s*)?(?:\*\*)?(Q|A|Question|Answer)\s*(?:\d+\s*)?"
    r"(?:\*\*)?\s*[:.)]\s*(?:\*\*)?\s*",
    re.I,
)
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+")


@dataclass(frozen=True)
class Request:
    kind: str  # MEMORY or TIME
    messages: list[dict]
    count: int  # pairs asked for


def requests_for(chunk: Chunk, name: str, pairs: int, cot: bool) -> list[Request]:
    """Memory questions for every chunk; one time question more when the note has a date."""
    fmt = "Use exactly this format, nothing else:\nQ: <question>\nA: <answer>"
    answer = _COT_ANSWER if cot else "Answers are short, from the note, and speak to them as 'you'."
    note = f"Here is a note {name} wrote" + (f" on {chunk.date}" if chunk.date else "") + ":"
    memory = (
        f"{note}\n\n{chunk.text}\n\nWrite {pairs} different questions {name} could ask their "
        f"assistant about this note, in the first person ('What did I write about ...?', "
        f"'Why did I ...?'), each with its answer. {answer}\n{fmt}"
    )
    out = [Request(MEMORY, _messages(memory), pairs)]
    if chunk.date:
        timed = (
            f"{note}\n\n{chunk.text}\n\nWrite 1 question {name} could ask about what they did "
            f"or wrote on {chunk.date}, naming that date, with its answer. {answer}\n{fmt}"
        )
        out.append(Request(TIME, _messages(timed), 1))
    return out


def _messages(user: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_pairs(text: str, cot: bool = False) -> list[tuple[str, str]]:
    """The (question, answer) pairs in a model's answer; pairs missing either part, or in COT
    mode missing the <think>/<answer> parts, are left out."""
    pairs: list[tuple[str, str]] = []
    question: list[str] | None = None
    answer: list[str] | None = None

    def close() -> None:
        if question is not None and answer is not None:
            q, a = _clean(" ".join(question)), _unquote("\n".join(answer).strip())
            if q and a and q.casefold() != a.casefold() and (not cot or _is_cot(a)):
                pairs.append((q, a))

    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(1)[0].upper() == "Q":
            close()
            question, answer = [line[m.end() :]], None
        elif m and question is not None and answer is None:
            answer = [line[m.end() :]]
        elif answer is not None and (cot or answer[-1].strip() or not line.strip()):
            answer.append(line)  # a blank line ends a plain answer: what follows is chatter
        elif answer is not None:
            close()
            question = answer = None
        elif question is not None:
            question.append(line)
    close()
    return pairs


def _clean(question: str) -> str:
    return _unquote(_NUMBERING.sub("", question.strip().strip("*").strip()))


def _unquote(text: str) -> str:
    """'"What did I do?"' -> 'What did I do?': small models quote whole lines."""
    for pair in ('""', "''", "\u201c\u201d"):
        if len(text) > 2 and text[0] == pair[0] and text[-1] == pair[1]:
            inner = text[1:-1]
            if pair[0] not in inner and pair[1] not in inner:
                return inner.strip()
    return text


def _is_cot(answer: str) -> bool:
    return "<think>" in answer and "</think>" in answer and "<answer>" in answer
