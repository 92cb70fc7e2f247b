"""Record formats, one small class each, as mlx-lm's tuner/datasets.py has them.

A format knows its fields (renamable through DataOptions.fields), whether a record looks
like it (`matches`), and how to turn a record into what `mlxstudio train` reads
(`convert` -> (output record or None, problems)). Output kinds are mlx-lm's own:
chat `{"messages": [...]}`, completions `{"prompt", "completion"}`, text `{"text"}`;
plus preference `{"prompt", "chosen", "rejected"}` for DPO and prompts `{"prompt", ...}`
for online RL.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, ClassVar

from mlxstudio.core.data.issues import Problem, error, type_name, warning
from mlxstudio.core.data.messages import check_messages
from mlxstudio.core.data.options import DataOptions
from mlxstudio.core.errors import UserError

Converted = tuple[dict | None, list[Problem]]


class Format:
    name: ClassVar[str]
    label: ClassVar[str]
    required: ClassVar[tuple[str, ...]]
    kind = "chat"

    def __init__(self, options: DataOptions) -> None:
        self.options = options
        self.keys = tuple(options.field(f) for f in self.required)

    def matches(self, record: dict) -> bool:
        return all(k in record for k in self.keys)

    def convert(self, record: dict) -> Converted:
        raise NotImplementedError

    def text(self, record: dict, name: str, problems: list[Problem], optional: bool = False) -> str:
        """The text field `name` (our name; read from the mapped key), noting what is wrong."""
        key = self.options.field(name)
        value = record.get(key)
        if isinstance(value, str):
            return value
        if value is None and (optional or key not in record):
            if not optional:
                problems.append(_missing(key, name))
            return ""
        problems.append(
            error(key, f"must be text, got {type_name(value)}", "put the text in quotes")
        )
        return ""


def _missing(key: str, ours: str) -> Problem:
    hint = f"add the '{key}' field, or map it: --field {ours}=YOUR_FIELD"
    return error(key, "missing", hint, fix="map_fields")


def _failed(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


def _empty_answer(key: str) -> Problem:
    return warning(key, "empty answer", "write the answer or drop the record")


class Chat(Format):
    """mlx-lm / OpenAI fine-tuning chat: {"messages": [{"role", "content"}...], "tools"?}."""

    name, label, required = "chat", "chat messages", ("messages",)

    def __init__(self, options: DataOptions) -> None:
        super().__init__(options)
        self.role, self.content = options.field("role"), options.field("content")

    def convert(self, record: dict) -> Converted:
        key = self.keys[0]
        if key not in record:
            return None, [_missing(key, "messages")]
        messages, problems = check_messages(record[key], key, self.role, self.content)
        tools = record.get("tools")
        if tools is None and not problems:
            return {"messages": messages}, problems
        if tools is not None and not isinstance(tools, list):
            problems.append(error("tools", f"must be a list, got {type_name(tools)}", "or drop it"))
        if messages is None or _failed(problems):
            return None, problems
        out: dict[str, Any] = {"messages": messages}
        if tools:
            out["tools"] = tools
        return out, problems


class ShareGPT(Format):
    """ShareGPT: {"conversations": [{"from": "human"|"gpt"|"system", "value"}...]}."""

    name, label, required = "sharegpt", "ShareGPT conversations", ("conversations",)
    ROLES: ClassVar[dict[str, str]] = {
        "human": "user",
        "gpt": "assistant",
        "chatgpt": "assistant",
        "bard": "assistant",
        "bing": "assistant",
        "model": "assistant",
        "observation": "tool",
        "function_response": "tool",
    }

    def matches(self, record: dict) -> bool:
        if self.keys[0] in record:
            return True
        messages = record.get("messages")
        return (
            isinstance(messages, list)
            and bool(messages)
            and isinstance(messages[0], dict)
            and "from" in messages[0]
        )

    def convert(self, record: dict) -> Converted:
        key = self.keys[0] if self.keys[0] in record else "messages"
        if key not in record:
            return None, [_missing(key, "conversations")]
        turns = record[key]
        system = record.get(self.options.field("system"))
        if isinstance(system, str) and system.strip() and isinstance(turns, list):
            turns = [{"from": "system", "value": system}, *turns]
        messages, problems = check_messages(
            turns, key, self.options.field("from"), self.options.field("value"), self.ROLES
        )
        return ({"messages": messages} if messages else None), problems


class Completions(Format):
    """mlx-lm completions: {"prompt", "completion"} (the model's chat template wraps them)."""

    name, label, required = "completions", "prompt/completion pairs", ("prompt", "completion")
    kind = "completions"

    def convert(self, record: dict) -> Converted:
        problems: list[Problem] = []
        prompt = self.text(record, "prompt", problems)
        completion = self.text(record, "completion", problems)
        if _failed(problems):
            return None, problems
        if not prompt.strip():
            problems.append(warning(self.keys[0], "empty prompt", "write the prompt"))
        if not completion.strip():
            problems.append(_empty_answer(self.keys[1]))
        out: dict[str, Any] = {"prompt": prompt, "completion": completion}
        if isinstance(record.get("tools"), list):
            out["tools"] = record["tools"]
        return out, problems


class Prompts(Format):
    """Bare prompts for online RL (GRPO): {"prompt", ...}; the record's other fields are
    kept, for a reward that reads them (math_answer's "answer")."""

    name, label, required = "prompts", "prompts (a reward scores the answers)", ("prompt",)
    kind = "prompts"

    def convert(self, record: dict) -> Converted:
        problems: list[Problem] = []
        prompt = self.text(record, "prompt", problems)
        if _failed(problems):
            return None, problems
        if not prompt.strip():
            problems.append(warning(self.keys[0], "empty prompt", "write the prompt"))
        rest = {k: v for k, v in record.items() if k != self.keys[0]}
        return {"prompt": prompt, **rest}, problems


class Labeled(Completions):
    """Answers marked good or bad one at a time, for KTO (TRL's unpaired preference format):
    {"prompt", "completion", "label": true|false}."""

    name, label = "labeled", "answers marked good or bad (KTO)"
    required = ("prompt", "completion", "label")

    def matches(self, record: dict) -> bool:
        return super().matches(record) and isinstance(record.get(self.keys[2]), bool)

    def convert(self, record: dict) -> Converted:
        out, problems = super().convert(record)
        if out is not None:
            out["label"] = record[self.keys[2]]
        return out, problems


class Text(Format):
    """mlx-lm text: {"text"}, also what plain text and Markdown files become."""

    name, label, required = "text", "plain text", ("text",)
    kind = "text"

    def convert(self, record: dict) -> Converted:
        problems: list[Problem] = []
        text = self.text(record, "text", problems)
        if not _failed(problems) and not text.strip():
            problems.append(
                error(self.keys[0], "empty text", "mlx-lm fails on it: drop the record")
            )
        return (None if _failed(problems) else {"text": text}), problems


class Alpaca(Format):
    """Alpaca: {"instruction", "input"?, "output", "system"?} -> a user/assistant chat."""

    name, label, required = "alpaca", "Alpaca instructions", ("instruction", "output")

    def convert(self, record: dict) -> Converted:
        problems: list[Problem] = []
        instruction = self.text(record, "instruction", problems)
        extra = self.text(record, "input", problems, optional=True)
        output = self.text(record, "output", problems)
        system = self.text(record, "system", problems, optional=True)
        if not _failed(problems) and not (instruction.strip() or extra.strip()):
            problems.append(error(self.keys[0], "empty instruction", "write the instruction"))
        if _failed(problems):
            return None, problems
        if not output.strip():
            problems.append(_empty_answer(self.keys[1]))
        user = (
            f"{instruction}\n\n{extra}"
            if extra.strip() and instruction.strip()
            else instruction or extra
        )
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
        if system.strip():
            messages.insert(0, {"role": "system", "content": system})
        return {"messages": messages}, problems


class Preference(Format):
    """Preference pairs for DPO: {"prompt", "chosen", "rejected"}, text or message lists."""

    name, label, required = "preference", "preference pairs", ("prompt", "chosen", "rejected")
    kind = "preference"

    def convert(self, record: dict) -> Converted:
        problems: list[Problem] = []
        out = {}
        for ours, key in zip(self.required, self.keys, strict=True):
            value = record.get(key)
            if isinstance(value, list) and all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in value
            ):
                out[ours] = value
            elif isinstance(value, str):
                out[ours] = value
                if ours != "prompt" and not value.strip():
                    problems.append(_empty_answer(key))
            else:
                problems.append(error(key, f"must be text or messages, got {type_name(value)}", ""))
        if _failed(problems):
            return None, problems
        if out["chosen"] == out["rejected"]:
            problems.append(warning(self.keys[1], "chosen and rejected are the same", "drop it"))
        return out, problems


class PretrainSFT(Format):
    """MLX-Pretrain SFT: {input_field, output_field}. With a prompt/response format the
    record becomes the text MLX-Pretrain trains on; without, a chat for the model's template."""

    name, label, required = "mlx-pretrain-sft", "MLX-Pretrain SFT", ("instruction", "response")
    SYSTEM_SEP = "\n"  # sft.py joins system prompt and prompt with one newline, rl.py with two

    def __init__(self, options: DataOptions) -> None:
        super().__init__(options)
        self.templated = options.prompt_format is not None or options.response_format is not None
        self.prompt_format = options.prompt_format or "{instruction}"
        self.response_format = options.response_format or "{response}"
        for key, fmt, arg in (
            ("prompt_format", self.prompt_format, "instruction"),
            ("response_format", self.response_format, "response"),
        ):
            try:
                fmt.format(**{arg: ""})
            except (KeyError, IndexError, ValueError) as err:
                raise UserError(
                    f"{key} {fmt!r}: {err!r} is not a field; write {{{arg}}} where it goes "
                    "(and {{ }} for literal braces)"
                ) from None
        self.kind = "text" if self.templated else "chat"

    def matches(self, record: dict) -> bool:
        return (
            self.keys[1] in record
            and (self.keys[0] in record or self.options.input_field_optional)
            and all(k in record for k in self.keys[2:])
        )

    def value(self, record: dict, name: str, problems: list[Problem]) -> str:
        key = self.options.field(name)
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # MLX-Pretrain formats numbers (its arithmetic data has them)
        optional = name == "instruction" and self.options.input_field_optional
        return self.text(record, name, problems, optional=optional)

    def parts(self, record: dict, problems: list[Problem]) -> tuple[str, str, str]:
        instruction = self.value(record, "instruction", problems)
        response = self.value(record, "response", problems)
        if not _failed(problems) and not response.strip():
            problems.append(_empty_answer(self.keys[1]))
        return instruction, response, self.options.system_prompt or ""

    def convert(self, record: dict) -> Converted:
        problems: list[Problem] = []
        instruction, response, system = self.parts(record, problems)
        if _failed(problems):
            return None, problems
        if self.templated:
            prompt = self.prompt_format.format(instruction=instruction)
            if system:
                prompt = f"{system}{self.SYSTEM_SEP}{prompt}"
            return {"text": prompt + self.response_format.format(response=response)}, problems
        return {"messages": _chat(system, instruction, response)}, problems


class PretrainRL(PretrainSFT):
    """MLX-Pretrain RL: SFT's fields plus a numeric reward; the prompt stays separate."""

    name, label = "mlx-pretrain-rl", "MLX-Pretrain RL"
    required = ("instruction", "response", "reward")
    SYSTEM_SEP = "\n\n"

    def __init__(self, options: DataOptions) -> None:
        super().__init__(options)
        self.kind = "completions" if self.templated else "chat"

    def convert(self, record: dict) -> Converted:
        problems: list[Problem] = []
        instruction, response, system = self.parts(record, problems)
        reward = _reward(record.get(self.keys[2]), self.keys[2], problems)
        if _failed(problems):
            return None, problems
        if not self.templated:
            return {"messages": _chat(system, instruction, response), "reward": reward}, problems
        prompt = self.prompt_format.format(instruction=instruction)
        if system:
            prompt = f"{system}{self.SYSTEM_SEP}{prompt}"
        completion = self.response_format.format(response=response)
        return {"prompt": prompt, "completion": completion, "reward": reward}, problems


def _chat(system: str, user: str, assistant: str) -> list[dict]:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _reward(value: Any, key: str, problems: list[Problem]) -> float:
    if isinstance(value, str):  # CSV cells are text
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(error(key, f"must be a number, got {type_name(value)}", "e.g. 0.8"))
        return 0.0
    if not math.isfinite(value):
        problems.append(error(key, f"must be a finite number, got {value}", "e.g. 0.8"))
        return 0.0
    return float(value)
