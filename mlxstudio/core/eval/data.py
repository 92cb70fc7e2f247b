"""Evaluation data: records read from JSONL, tokenized as training tokenized them (same
prompt masking), the question/answer pairs among them, and multiple-choice items."""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from pathlib import Path

from mlxstudio.core.errors import UserError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class QA:
    """A prompt (chat messages up to the answer) and the reference answer."""

    messages: list[dict]
    reference: str
    index: int = -1  # of the record in the data file

    @property
    def question(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


@dataclass
class Choice:
    """A multiple-choice question; `answer` indexes `choices`."""

    question: str
    choices: list[str]
    answer: int


@dataclass
class Features:
    """Record keys, as the run's config names them (mlx-lm's defaults otherwise)."""

    prompt: str = "prompt"
    completion: str = "completion"
    text: str = "text"
    chat: str = "messages"


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; give a JSONL file of test examples")
    records = []
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"{path}:{n}: not valid JSON ({err.msg}); fix the line") from None
            if not isinstance(record, dict):
                raise UserError(f"{path}:{n}: each line must be a JSON object")
            records.append(record)
    if not records:
        raise UserError(f"{path}: no examples in the file; add some, one JSON object a line")
    return records


def is_choices(records: list[dict]) -> bool:
    return all(k in records[0] for k in ("question", "choices", "answer"))


def tokenized(
    records: list[dict], tokenizer, features: Features, mask_prompt: bool
) -> list[tuple[list[int], int]]:
    """(tokens, offset) per record, with mlx-lm's datasets: the loss skips the first
    `offset` tokens exactly as training did."""
    from mlx_lm.tuner.datasets import create_dataset

    config = types.SimpleNamespace(
        mask_prompt=mask_prompt,
        prompt_feature=features.prompt,
        completion_feature=features.completion,
        text_feature=features.text,
        chat_feature=features.chat,
    )
    try:
        dataset = create_dataset(records, tokenizer, config)
    except ValueError as err:
        raise UserError(f"the test data: {str(err).splitlines()[0]}") from None
    return [dataset.process(dataset[i]) for i in range(len(dataset))]


def qa_pairs(records: list[dict], features: Features) -> list[QA]:
    """Chat records ending with an assistant turn and prompt/completion records; text
    records have no question, so none."""
    pairs = []
    for index, record in enumerate(records):
        messages = record.get(features.chat)
        if isinstance(messages, list) and messages and messages[-1].get("role") == "assistant":
            pairs.append(QA(list(messages[:-1]), str(messages[-1].get("content", "")), index))
        elif features.prompt in record and features.completion in record:
            prompt = {"role": "user", "content": str(record[features.prompt])}
            pairs.append(QA([prompt], str(record[features.completion]), index))
    return pairs


def read_choices(path: Path) -> list[Choice]:
    """`{question, choices, answer}` lines; the answer is an index, a letter or the text."""
    items = []
    for n, record in enumerate(read_jsonl(path), start=1):
        where = f"{path}: example {n}"
        choices = record.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise UserError(f"{where}: 'choices' must be a list of at least two answers")
        choices = [str(c) for c in choices]
        items.append(
            Choice(str(record.get("question", "")), choices, _answer(record, choices, where))
        )
    return items


def _answer(record: dict, choices: list[str], where: str) -> int:
    answer = record.get("answer")
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(choices):
        return answer
    if isinstance(answer, str):
        if answer in choices:
            return choices.index(answer)
        letter = answer.strip().upper()
        if len(letter) == 1 and letter in LETTERS[: len(choices)]:
            return LETTERS.index(letter)
    raise UserError(
        f"{where}: 'answer' must be the index, the letter or the text of one of the choices; "
        f"got {answer!r}"
    )
