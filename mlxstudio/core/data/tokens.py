"""Tokens as training sees them: the model's tokenizer, loaded as mlx-lm loads it, applied
as mlx-lm's tuner/datasets.py applies it. Imported only when tokens are asked for (it
loads mlx-lm and MLX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlxstudio.core.errors import UserError

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def _tokenizer_folder(model: str | Path) -> Path:
    path = Path(model).expanduser()
    if path.is_dir() and any((path / f).is_file() for f in _TOKENIZER_FILES):
        return path.resolve()  # a model folder, or a bare tokenizer folder (MLX-Pretrain)
    from mlxstudio.core.models.local import resolve_model

    return resolve_model(str(model))


class TokenCounter:
    """Counts and renders records with one model's tokenizer."""

    def __init__(self, model: str | Path) -> None:
        folder = _tokenizer_folder(model)
        try:
            from mlx_lm.utils import load_tokenizer

            self.tokenizer = load_tokenizer(folder)
        except Exception as err:  # transformers raises many types for a bad folder
            raise UserError(f"{folder}: can't load its tokenizer ({err})") from None
        self.name = folder.name
        self.has_template = bool(getattr(self.tokenizer, "has_chat_template", False))
        self.eos = self.tokenizer.eos_token_id

    def need_template(self, kind: str) -> None:
        if kind != "text" and not self.has_template:
            raise UserError(
                f"{self.name} has no chat template, so {kind} data can't be rendered for it; "
                "pick an instruct/chat model, or use text data"
            )

    @staticmethod
    def conversations(kind: str, record: dict) -> list[list[dict]]:
        """The conversations mlx-lm builds from a record (two for a preference pair)."""
        if kind == "chat":
            return [record["messages"]]
        if kind == "completions":
            return [
                [
                    {"role": "user", "content": record["prompt"]},
                    {"role": "assistant", "content": record["completion"]},
                ]
            ]
        prompt = record["prompt"]
        head = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        if kind == "prompts":  # online RL: the model writes the answer
            return [head]
        out = []
        for key in ("chosen", "rejected"):
            answer = record[key]
            tail = (
                answer if isinstance(answer, list) else [{"role": "assistant", "content": answer}]
            )
            out.append([*head, *tail])
        return out

    def tokens(self, kind: str, record: dict) -> list[list[int]]:
        """Token ids per sequence; raises ValueError when the chat template rejects it."""
        if kind == "text":
            ids = list(self.tokenizer.encode(record["text"]))
            if not ids or ids[-1] != self.eos:
                ids.append(self.eos)
            return [ids]
        tools = record.get("tools")
        out = []
        for messages in self.conversations(kind, record):
            try:
                ids = self.tokenizer.apply_chat_template(messages, tools=tools)
            except Exception as err:  # jinja's raise_exception, missing keys, ...
                raise ValueError(str(err) or type(err).__name__) from None
            out.append(list(ids))
        return out

    def length(self, kind: str, record: dict) -> int:
        return max(len(ids) for ids in self.tokens(kind, record))

    def render(self, kind: str, record: dict) -> str:
        """The exact text the model is trained on (template applied, special tokens shown)."""
        if kind == "text":
            return self.tokenizer.decode(self.tokens(kind, record)[0])
        tools = record.get("tools")
        parts: list[Any] = []
        for messages in self.conversations(kind, record):
            parts.append(self.tokenizer.apply_chat_template(messages, tools=tools, tokenize=False))
        if kind == "preference":
            return f"--- chosen ---\n{parts[0]}\n--- rejected ---\n{parts[1]}"
        return "".join(parts)
