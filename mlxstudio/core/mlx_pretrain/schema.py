"""Reading an MLX-Pretrain YAML config (train.py's / sft.py's / rl.py's sections) with the checks
our own configs get: every key known, of the right type, and each problem named by
file:line with the nearest known key ("did you mean ...").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlxstudio.core import paths
from mlxstudio.core.config import ConfigError, read_yaml
from mlxstudio.core.settings import check_type, unknown_key

SECTIONS = ("data", "model", "training", "logging", "system")
ANY = None  # a value of any type
# Every key MLX-Pretrain's train.py / sft.py read: a type, ANY, or a nested section.
SCHEMA: dict[str, Any] = {
    "name": str,
    "overwrite": bool,
    "data": {
        **dict.fromkeys(("input_file", "validation_file", "tokenizer_path", "weight_path"), str),
        **dict.fromkeys(("prompt_format", "response_format", "system_prompt"), str),
        **dict.fromkeys(("input_field", "output_field"), str),
        "input_field_optional": bool,
        "reward_field": str,  # rl.py's keys from here
        **dict.fromkeys(("ppo_epochs", "ppo_mini_batch_size"), int),
        **dict.fromkeys(("kl_coef", "clip_range"), float),
        "preprocessing": {"max_context_size": int, "chunk_overlap": int},
        "tokenizer": {"normal_vocab_size": int, "special_tokens": dict},
    },
    "model": {
        "architecture": str,
        "model_source": str,
        "dimensions": {"hidden_size": int, "intermediate_size": int, "num_layers": int},
        "attention": dict.fromkeys(
            ("num_heads", "num_kv_heads", "head_dim", "max_position_embeddings"), int
        ),
        "normalization": {"rms_norm_eps": float},
        "rope": {"theta": float, "traditional": bool, "scaling": ANY},
        "misc": {
            **dict.fromkeys(("attention_bias", "mlp_bias", "tie_word_embeddings"), bool),
            "logit_scale": float,
            **dict.fromkeys(("num_local_experts", "num_experts_per_tok"), int),
        },
        "lora": ANY,
    },
    "training": {
        "epochs": int,
        "hyperparameters": {
            **dict.fromkeys(("batch_size", "iters"), int),
            **dict.fromkeys(("learning_rate", "weight_decay", "gradient_clip"), float),
        },
        "scheduler": {
            "type": str,
            **dict.fromkeys(("min_lr_ratio", "warmup_ratio"), float),
            "warmup_steps": int,
        },
        "optimization": {"optimizer": str, "betas": list, "eps": float, "weight_decay": ANY},
    },
    "logging": {
        **dict.fromkeys(("log_dir", "checkpoint_dir"), str),
        "steps": dict.fromkeys(
            ("logging_interval", "checkpoint_interval", "validation_interval"), int
        ),
        "metrics": dict,
    },
    "system": {"seed": int, "device": str},
}
SFT_KEYS = ("prompt_format", "response_format", "system_prompt", "input_field", "output_field")
NOT_SUPPORTED = {
    "resume": "continue a stopped run with `mlxstudio train --resume RUN_DIR`",
    "data.weight_path": "start from a model with --pretrained_model RUN_OR_FOLDER",
}


class Source:
    """An MLX-Pretrain YAML file: its values, and the line of every dotted key."""

    def __init__(self, path: Path, raw: dict, node: yaml.Node) -> None:
        self.path, self.raw = path, raw
        self.lines: dict[str, int] = {}
        self._index(node, "")

    def _index(self, node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.lines[prefix + str(key.value)] = key.start_mark.line + 1
                self._index(value, f"{prefix}{key.value}.")

    def where(self, dotted: str) -> str:
        line = self.lines.get(dotted)
        return f"{self.path}:{line}" if line else str(self.path)

    def get(self, dotted: str, default: Any = None) -> Any:
        value: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(value, dict) or value.get(part) is None:
                return default
            value = value[part]
        return value

    def path_of(self, dotted: str) -> str | None:
        """A file named by the config: as given (the working folder, as MLX-Pretrain runs),
        else beside the config file, else in our runs folder for 'runs/...'."""
        value = self.get(dotted)
        if value is None:
            return None
        given = Path(str(value)).expanduser()
        candidates = [given, self.path.parent / given]
        if given.parts[:1] == ("runs",):
            candidates.append(paths.runs_dir().joinpath(*given.parts[1:]))
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            raise ConfigError(f"{self.where(dotted)}: '{dotted}': {value}: no such file or folder")
        return str(found.resolve())


def run_candidates(ref: str) -> list[Path]:
    """Where a run named on the command line may be: the path as given, runs/<ref> in our
    runs folder, and 'runs/NAME' (as MLX-Pretrain users write it) there too."""
    given = Path(ref).expanduser()
    candidates = [given, paths.runs_dir() / ref]
    if given.parts[:1] == ("runs",):
        candidates.append(paths.runs_dir().joinpath(*given.parts[1:]))
    return candidates


def is_mlx_pretrain(raw: Any) -> bool:
    return isinstance(raw, dict) and any(isinstance(raw.get(k), dict) for k in SECTIONS)


def _check(src: Source, values: dict, spec: dict, prefix: str = "") -> None:
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        where = src.where(dotted)
        if dotted in NOT_SUPPORTED:
            raise ConfigError(f"{where}: '{dotted}' is not supported; {NOT_SUPPORTED[dotted]}")
        if key not in spec:
            raise unknown_key(where, str(key), list(spec), section=prefix.rstrip("."))
        kind = spec[key]
        if isinstance(kind, dict) and value is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: '{dotted}' must be a section of key: value lines")
            _check(src, value, kind, f"{dotted}.")
        elif isinstance(kind, type):
            check_type(where, dotted, value, (float, int) if kind is float else (kind,))


def read_source(path: str | Path) -> Source:
    """Read and check an MLX-Pretrain config (train.py's, sft.py's or rl.py's)."""
    raw, node = read_yaml(path)
    src = Source(Path(path), raw, node)
    _check(src, raw, SCHEMA)
    return src
