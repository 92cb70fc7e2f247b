"""RunConfig: one training run's settings, read from YAML.

Accepts every key of mlx-lm's `lora_config.yaml` spelled as mlx-lm spells it (so an
existing file works unchanged), plus a few of our own (`name`, `stage`, `compute_dtype`).
Every problem is reported as one line: file:line, the key, what is wrong, what to do.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlxstudio.core.errors import UserError


class ConfigError(UserError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads 1e-5 as a float, as mlx-lm's loader does (YAML 1.1 would not)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)

STAGES = ("sft", "rl", "grpo", "dpo", "reward", "pretrain")
PREFERENCE_LOSSES = ("sigmoid", "ipo", "orpo")
FINE_TUNE_TYPES = ("lora", "dora", "full")
OPTIMIZERS = ("adam", "adamw", "muon", "sgd", "adafactor")
COMPUTE_DTYPES = ("auto", "model", "float32", "float16", "bfloat16")
LORA_KEYS = {"rank": int, "scale": float, "dropout": float, "keys": list, "alpha": float}
SCHEDULE_KEYS = {"name": str, "arguments": list, "warmup": int, "warmup_init": float}
# stage pretrain: the llama model built from scratch (see core/train/pretrain.py)
DIMENSION_KEYS = {
    "hidden_size": int,
    "intermediate_size": int,
    "num_layers": int,
    "num_attention_heads": int,
    "num_kv_heads": int,
    "head_dim": int,
    "max_position_embeddings": int,
    "rms_norm_eps": float,
    "rope_theta": float,
    "rope_traditional": bool,
    "rope_scaling": dict,
    "tie_word_embeddings": bool,
    "attention_bias": bool,
    "mlp_bias": bool,
}


@dataclass
class RunConfig:
    """Settings of one run. Field names and defaults follow mlx_lm/lora.py's CONFIG_DEFAULTS."""

    model: str = ""
    train: bool = True
    data: str = ""
    fine_tune_type: str = "lora"
    optimizer: str = "adam"
    optimizer_config: dict = field(default_factory=dict)
    seed: int = 0
    num_layers: int = 16
    batch_size: int = 4
    iters: int = 1000
    val_batches: int = 25
    learning_rate: float = 1e-5
    steps_per_report: int = 10
    steps_per_eval: int = 200
    resume_adapter_file: str | None = None
    adapter_path: str | None = None
    save_every: int = 100
    test: bool = False
    test_batches: int = 500
    max_seq_length: int = 2048
    grad_checkpoint: bool = False
    grad_accumulation_steps: int = 1
    clear_cache_threshold: int = 0
    lr_schedule: dict | None = None
    lora_parameters: dict = field(
        default_factory=lambda: {"rank": 8, "dropout": 0.0, "scale": 20.0}
    )
    mask_prompt: bool = False
    report_to: str | None = None
    project_name: str | None = None
    trust_remote_code: bool = False
    hf_dataset: Any = None
    prompt_feature: str = "prompt"
    completion_feature: str = "completion"
    text_feature: str = "text"
    chat_feature: str = "messages"
    # MLX Studio's own keys.
    name: str | None = None
    stage: str = "sft"
    compute_dtype: str = "auto"
    packing: bool = False  # several examples per row, each attending only to itself
    keep_last_checkpoints: int = 3  # plus the best by validation loss; 0 keeps all
    grad_clip: float | None = None  # clip the gradient's global norm to this
    max_loss_ratio: float = 5.0  # stop when a report's loss exceeds this x the lowest; 0: off
    sample_prompts: list | None = None  # answered and saved as `sample` events
    sample_every: int = 0  # steps between samples; 0: at each validation
    sample_max_tokens: int = 48
    # Reinforcement learning (stages rl, grpo, dpo; see core/rl). MLX-Pretrain's rl keys first.
    ppo_epochs: int = 2  # passes over each batch of rollouts
    ppo_mini_batch_size: int | None = None  # responses per update in a step; None: all
    kl_coef: float = 0.05  # weight of the KL penalty to the frozen reference policy
    clip_range: float = 0.2  # PPO ratio clip
    reward_field: str = "reward"
    prompt_field: str = "instruction"  # falls back to "prompt" when absent
    response_field: str = "response"  # falls back to "completion" when absent
    chosen_field: str = "chosen"
    rejected_field: str = "rejected"
    reward_model: str | None = None  # built-in name, or path/to/file.py[:ClassName]
    reward_kwargs: dict = field(default_factory=dict)  # passed to the reward model's class
    beta: float = 0.1  # DPO temperature (ORPO: weight of the odds-ratio term)
    preference_loss: str = "sigmoid"  # sigmoid (DPO) | ipo | orpo
    group_size: int = 4  # GRPO: responses sampled per prompt
    max_new_tokens: int = 64  # GRPO: longest sampled response
    temperature: float = 1.0  # GRPO: sampling temperature
    # Pretraining from scratch (stage pretrain; `data` is text files or a folder of them).
    dimensions: dict | None = None  # the llama to build: DIMENSION_KEYS
    tokenizer: str | None = None  # an existing tokenizer/model folder; None: train one
    vocab_size: int = 4096  # size of a tokenizer trained on the corpus (specials included)
    valid_data: str | None = None  # held-out text; None: 1 window in 10 of the corpus

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
# Keys mlx-lm accepts but that make no sense inside a config file; accepted and ignored.
_IGNORED = {"config"}


def _type_name(kind: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
    names.update({list: "a list", dict: "a mapping"})
    return names.get(kind, str(kind))


def _expected(name: str) -> tuple[type, ...]:
    annotation = str(_FIELDS[name].type)
    kinds: list[type] = []
    for token, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if re.search(rf"\b{token}\b", annotation):
            kinds.append(kind)
    if "dict" in annotation:
        kinds.append(dict)
    if re.search(r"\blist\b", annotation):
        kinds.append(list)
    if "Any" in annotation:
        return ()
    if float in kinds:
        kinds.append(int)  # 1 is a fine learning rate
    return tuple(kinds)


def _check_type(where: str, key: str, value: Any, kinds: tuple[type, ...]) -> Any:
    if not kinds or value is None:
        return value
    ok = False if isinstance(value, bool) and bool not in kinds else isinstance(value, kinds)
    if not ok:
        raise ConfigError(
            f"{where}: '{key}' must be {_type_name(kinds[0])}, got {value!r}; "
            f"fix the value in the config"
        )
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _unknown(where: str, key: str, valid: list[str], section: str = "") -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    scope = f" in '{section}'" if section else ""
    return ConfigError(f"{where}: unknown key '{key}'{scope}{hint}; remove or rename it")


def _check_choice(where: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: '{key}' must be one of {', '.join(choices)}; got {value!r}")


def _check_section(where: str, key: str, value: Any, spec: dict[str, type]) -> None:
    if value is None:
        return
    for sub, sub_value in value.items():
        if sub not in spec:
            raise _unknown(where, sub, list(spec), section=key)
        _check_type(
            where,
            f"{key}.{sub}",
            sub_value,
            (spec[sub], int) if spec[sub] is float else (spec[sub],),
        )


def config_from_dict(
    raw: dict, source: str = "config", lines: dict[str, int] | None = None
) -> RunConfig:
    """Validate a mapping of settings and build a RunConfig. `lines` maps key -> line number."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping of key: value lines")
    lines = lines or {}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{source}:{lines[key]}" if key in lines else source
        if key in _IGNORED:
            continue
        if key not in _FIELDS:
            raise _unknown(where, str(key), list(_FIELDS))
        values[key] = _check_type(where, key, value, _expected(key))
        if key == "lora_parameters":
            _check_section(where, key, value, LORA_KEYS)
        elif key == "lr_schedule":
            _check_section(where, key, value, SCHEDULE_KEYS)
        elif key == "dimensions":
            _check_section(where, key, value, DIMENSION_KEYS)
    cfg = RunConfig(**values)
    for key, choices in (
        ("fine_tune_type", FINE_TUNE_TYPES),
        ("optimizer", OPTIMIZERS),
        ("stage", STAGES),
        ("compute_dtype", COMPUTE_DTYPES),
        ("preference_loss", PREFERENCE_LOSSES),
    ):
        where = f"{source}:{lines[key]}" if key in lines else source
        _check_choice(where, key, getattr(cfg, key), choices)
    for key in (
        "batch_size",
        "iters",
        "steps_per_report",
        "steps_per_eval",
        "save_every",
        "grad_accumulation_steps",
        "max_seq_length",
        "ppo_epochs",
        "group_size",
        "max_new_tokens",
    ):
        if getattr(cfg, key) < 1:
            where = f"{source}:{lines[key]}" if key in lines else source
            raise ConfigError(f"{where}: '{key}' must be at least 1, got {getattr(cfg, key)}")
    for key in (
        "keep_last_checkpoints",
        "sample_every",
        "max_loss_ratio",
        "sample_max_tokens",
        "kl_coef",
        "clip_range",
        "beta",
        "temperature",
    ):
        if getattr(cfg, key) < 0:
            where = f"{source}:{lines[key]}" if key in lines else source
            raise ConfigError(f"{where}: '{key}' must not be negative, got {getattr(cfg, key)}")
    return cfg


def read_yaml(path: str | Path) -> tuple[Any, yaml.Node]:
    """A config file's parsed YAML and its node tree (for line numbers); a ConfigError names
    the file (and line) when it is missing, empty, not UTF-8 or not valid YAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
        node = yaml.compose(text, Loader=_Loader)
        raw = yaml.load(text, Loader=_Loader)
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: invalid YAML ({problem}); fix the syntax") from None
    if raw is None:
        raise ConfigError(f"{path}: the file is empty; see resources/configs for an example")
    return raw, node


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML config (ours, or mlx-lm's lora_config.yaml) into a RunConfig."""
    raw, node = read_yaml(path)
    lines = {}
    if isinstance(node, yaml.MappingNode):
        lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    return config_from_dict(raw, str(path), lines)


def dump_config(cfg: RunConfig, path: Path) -> None:
    """Write the config as YAML that load_config reads back unchanged."""
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
