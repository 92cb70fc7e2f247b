"""Readers for RL data, with file:line errors: scored responses, preference pairs, prompts.

`data` is a folder with train.jsonl (and optionally valid.jsonl), or one .jsonl file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from mlxstudio.core.config import RunConfig, hub_dataset_problem
from mlxstudio.core.errors import UserError

LOGPROBS_FIELD = "logprobs"  # optional: the generating policy's log-prob of each response token


@dataclass
class Scored:
    prompt: str
    response: str
    reward: float | None  # None: to be scored by the reward model
    logprobs: list[float] | None = None  # the behaviour policy's, when the data carries them


@dataclass
class Pair:
    prompt: str
    chosen: str
    rejected: str


@dataclass
class Prompt:
    text: str
    fields: dict  # the record's other fields (e.g. the expected answer a reward reads)


@dataclass
class Labelled:
    """KTO's unpaired example: an answer marked good (True) or bad (False)."""

    prompt: str
    completion: str
    good: bool


def data_files(data: str) -> tuple[Path, Path | None]:
    """(train file, validation file or None) of a data folder or a single JSONL file."""
    path = Path(data).expanduser()
    if path.is_file():
        return path, None
    if path.is_dir():
        train = path / "train.jsonl"
        if not train.is_file():
            raise UserError(f"{path}: no train.jsonl; put the training records there")
        valid = path / "valid.jsonl"
        return train, valid if valid.is_file() else None
    if hub := hub_dataset_problem(data):
        raise UserError(f"config: {hub}")
    raise UserError(f"{data}: data not found (a folder with train.jsonl, or a .jsonl file)")


def _records(path: Path) -> list[tuple[str, dict]]:
    """(where, record) of each non-empty line."""
    out = []
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"{where}: invalid JSON ({err.msg}); fix the line") from None
            if not isinstance(record, dict):
                raise UserError(f"{where}: expected a JSON object, got {type(record).__name__}")
            out.append((where, record))
    if not out:
        raise UserError(f"{path}: no records; the file is empty")
    return out


def _text(where: str, record: dict, key: str, fallback: str | None = None) -> str:
    if key not in record and fallback is not None and fallback in record:
        key = fallback
    if key not in record:
        found = ", ".join(sorted(record)) or "nothing"
        alt = f" (or '{fallback}')" if fallback else ""
        raise UserError(
            f"{where}: no '{key}'{alt} field (found: {found}); fix the record or set the "
            f"matching *_field key in the config"
        )
    value = record[key]
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: '{key}' must be non-empty text, got {value!r}")
    return value


def _reward(where: str, record: dict, key: str) -> float:
    if key not in record:
        raise UserError(
            f"{where}: no '{key}' (the reward); add it, set reward_field, or set "
            f"reward_model to score responses"
        )
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: '{key}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise UserError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def _logprobs(where: str, record: dict) -> list[float] | None:
    """The optional per-token log-probs of the response under the policy that wrote it."""
    value = record.get(LOGPROBS_FIELD)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v <= 0
        for v in value
    ):
        raise UserError(
            f"{where}: '{LOGPROBS_FIELD}' must be a list of log-probabilities (finite numbers "
            f"<= 0, one per response token); fix or remove it"
        )
    return [float(v) for v in value]


def read_scored(path: Path, cfg: RunConfig, need_reward: bool = True) -> list[Scored]:
    """instruction / response / reward records (field names from the config), with the
    response's per-token log-probs when a record carries them."""
    out = []
    for where, rec in _records(path):
        prompt = _text(where, rec, cfg.prompt_field, "prompt")
        response = _text(where, rec, cfg.response_field, "completion")
        reward = (
            _reward(where, rec, cfg.reward_field)
            if need_reward or cfg.reward_field in rec
            else None
        )
        out.append(Scored(prompt, response, reward, _logprobs(where, rec)))
    return out


def read_pairs(path: Path, cfg: RunConfig) -> list[Pair]:
    """prompt / chosen / rejected records."""
    out = []
    for where, rec in _records(path):
        pair = Pair(
            _text(where, rec, cfg.prompt_field, "prompt"),
            _text(where, rec, cfg.chosen_field),
            _text(where, rec, cfg.rejected_field),
        )
        if pair.chosen == pair.rejected:
            raise UserError(f"{where}: chosen and rejected are the same text; nothing to learn")
        out.append(pair)
    return out


def read_prompts(path: Path, cfg: RunConfig) -> list[Prompt]:
    """Prompts for online RL (the prompt field), each with its record's other fields."""
    out = []
    for where, rec in _records(path):
        text = _text(where, rec, cfg.prompt_field, "prompt")
        used = cfg.prompt_field if cfg.prompt_field in rec else "prompt"
        out.append(Prompt(text, {k: v for k, v in rec.items() if k != used}))
    return out


def read_labelled(path: Path, cfg: RunConfig) -> list[Labelled]:
    """prompt / completion / label (true: good, false: bad) records, as TRL's KTO reads
    them; a preference pair counts as one good and one bad answer."""
    out = []
    for where, rec in _records(path):
        prompt = _text(where, rec, cfg.prompt_field, "prompt")
        if cfg.chosen_field in rec and cfg.rejected_field in rec:
            out.append(Labelled(prompt, _text(where, rec, cfg.chosen_field), True))
            out.append(Labelled(prompt, _text(where, rec, cfg.rejected_field), False))
            continue
        completion = _text(where, rec, cfg.response_field, "completion")
        label = rec.get(cfg.label_field)
        if not isinstance(label, bool):
            raise UserError(
                f"{where}: '{cfg.label_field}' must be true (a good answer) or false (a bad "
                f"one), got {label!r}; fix the record or set label_field"
            )
        out.append(Labelled(prompt, completion, label))
    return out
