"""How to read a dataset: the format (or None to detect it), field names, and per-format
settings. One dataclass, so the CLI flags, the GUI's Data page and a YAML config agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mlxstudio.core.errors import UserError

MAX_RECORD_BYTES = 16_000_000  # one example this big is a mistake, not data
TEXT_CHUNK_CHARS = 4000  # about 1,000 tokens: fits any max_seq_length people use


@dataclass(frozen=True)
class DataOptions:
    format: str | None = None
    """A format name from formats.FORMATS, or None to detect it per file."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Our field name -> the name in the user's records or CSV header, e.g. {"prompt": "q"}."""
    # MLX-Pretrain (sft.py / rl.py `data:` keys)
    prompt_format: str | None = None
    response_format: str | None = None
    system_prompt: str | None = None
    input_field_optional: bool = False
    # Second-Me merged.json
    username: str | None = None
    cot: bool = False
    # Plain text files: characters per record (0: one record per file)
    text_chunk_chars: int = TEXT_CHUNK_CHARS
    # CSV/TSV: None = "," for .csv, tab for .tsv
    delimiter: str | None = None
    max_record_bytes: int = MAX_RECORD_BYTES

    def field(self, name: str) -> str:
        return self.fields.get(name, name)


def parse_field_mapping(items: list[str]) -> dict[str, str]:
    """`["prompt=question", "completion=answer"]` -> {"prompt": "question", ...}."""
    mapping = {}
    for item in items:
        ours, sep, theirs = item.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise UserError(
                f"--field {item!r}: expected OURS=THEIRS, e.g. --field prompt=question "
                "(read our 'prompt' from your 'question' field)"
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


def options_from_mlx_pretrain(
    data: Mapping[str, Any], base: DataOptions | None = None
) -> DataOptions:
    """DataOptions from the `data:` section of an MLX-Pretrain sft/rl YAML config."""
    if not isinstance(data, Mapping):
        raise UserError("the MLX-Pretrain config has no 'data:' section with the data settings")
    base = base or DataOptions()
    rl = "reward_field" in data or any(k in data for k in ("ppo_epochs", "kl_coef", "clip_range"))
    fields = dict(base.fields)
    for ours, key in (("instruction", "input_field"), ("response", "output_field")):
        if data.get(key):
            fields[ours] = str(data[key])
    if rl:
        fields["reward"] = str(data.get("reward_field") or "reward")
    for key in ("prompt_format", "response_format", "system_prompt"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise UserError(f"data.{key}: must be text, got {type(value).__name__}")
    return replace(
        base,
        format="mlx-pretrain-rl" if rl else "mlx-pretrain-sft",
        fields=fields,
        prompt_format=data.get("prompt_format", base.prompt_format),
        response_format=data.get("response_format", base.response_format),
        system_prompt=data.get("system_prompt", base.system_prompt),
        input_field_optional=bool(data.get("input_field_optional", base.input_field_optional)),
    )
