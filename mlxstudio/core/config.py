"""RunConfig: one training run's settings, read from YAML.

Accepts every key of mlx-lm's `lora_config.yaml` spelled as mlx-lm spells it (so an
existing file works unchanged), plus a few of our own (`name`, `stage`, `compute_dtype`).
Each field carries its help, limits and choices (`setting()`, core/settings.py); a key we
cannot honour is refused with the reason. Every problem is reported as one line: file:line,
the key, what is wrong, what to do.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlxstudio.core.config_sections import Dimensions, LoraParameters, LrSchedule
from mlxstudio.core.settings import (
    ConfigError,
    Setting,
    check_value,
    describe,
    setting,
    unknown_key,
)
from mlxstudio.core.tracking import report_to_problem


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


class Stage:
    """What a run trains, as `stage:` spells it."""

    SFT = "sft"  # supervised fine-tuning
    RL = "rl"  # offline PPO on scored answers
    GRPO = "grpo"  # online RL with a reward
    DPO = "dpo"  # preference pairs
    REWARD = "reward"  # a learned reward model
    PRETRAIN = "pretrain"  # a model from scratch


STAGES = (Stage.SFT, Stage.RL, Stage.GRPO, Stage.DPO, Stage.REWARD, Stage.PRETRAIN)
RL_STAGES = (Stage.RL, Stage.GRPO, Stage.DPO)  # core/rl/job.py
TOKEN_STAGES = (Stage.SFT, Stage.PRETRAIN)  # the stages trained by core/train/loop.py


@dataclass
class RunConfig:
    """Settings of one run. Field names and defaults follow mlx_lm/lora.py's CONFIG_DEFAULTS."""

    model: str = setting(
        "", help="The model to fine-tune: an MLX model folder (stage pretrain builds its own)."
    )
    train: bool = setting(True, help="Train; false only measures the test split (test: true).")
    data: str = setting(
        "",
        help="The dataset folder: train.jsonl, valid.jsonl (and test.jsonl for test). Stage "
        "pretrain: text files or a folder of them. Hugging Face dataset names are not "
        "downloaded: download the files into a folder first.",
    )
    fine_tune_type: str = setting(
        "lora",
        help="What is trained. LoRA trains small add-on matrices (fast, little memory). DoRA "
        "is a LoRA variant that is often a bit better. Full changes every weight of the "
        "chosen layers (needs far more memory).",
        choices=("lora", "dora", "full"),
    )
    optimizer: str = setting(
        "adam",
        help="The algorithm that applies each update. Adam is a safe default.",
        choices=("adam", "adamw", "muon", "sgd", "adafactor"),
    )
    optimizer_config: dict = setting(
        factory=dict,
        help="Extra arguments per optimizer, such as adamw: {weight_decay: 0.01}.",
    )
    seed: int = setting(0, help="Makes a run repeatable.", min=0)
    num_layers: int = setting(
        16,
        help="How many of the model's last layers to adapt. -1 means all of them. More "
        "layers learn more but use more memory.",
        min=-1,
    )
    batch_size: int = setting(
        4, help="Examples per step. Larger is smoother but needs more memory.", min=1
    )
    iters: int = setting(1000, help="How many training steps to run.", min=1)
    val_batches: int = setting(
        25, help="Batches measured at each validation; -1 measures the whole split.", min=-1
    )
    learning_rate: float = setting(
        1e-5,
        help="How big each training step is. Too high and the loss jumps around; too low "
        "and nothing changes. 1e-5 to 2e-4 is typical for LoRA.",
        above=0,
    )
    steps_per_report: int = setting(
        10, help="Report the training loss every this many steps.", min=1
    )
    steps_per_eval: int = setting(
        200, help="Measure the validation loss every this many steps.", min=1
    )
    resume_adapter_file: str | None = setting(
        None, help="Start the adapter from an earlier adapters.safetensors."
    )
    adapter_path: str | None = setting(
        None, help="The run folder to write; null: a folder under runs/ named after the run."
    )
    save_every: int = setting(100, help="Save a checkpoint every this many steps.", min=1)
    test: bool = setting(False, help="After training, measure the loss on test.jsonl.")
    test_batches: int = setting(
        500, help="Batches of the test split measured; -1 measures all of it.", min=-1
    )
    max_seq_length: int = setting(
        2048,
        help="Longest example in tokens; longer ones are cut. Lower it to save memory.",
        min=1,
    )
    grad_checkpoint: bool = setting(
        False, help="Recompute activations instead of storing them: less memory, slower."
    )
    grad_accumulation_steps: int = setting(
        1,
        help="Add up the gradients of this many steps before updating: a bigger effective "
        "batch without the memory.",
        min=1,
    )
    clear_cache_threshold: float = setting(
        0,
        help="Free MLX's memory cache after a step when it holds more than this many bytes "
        "(1e9 is 1 GB); 0: never (mlx-lm clears after every step at 0).",
        min=0,
        stages=TOKEN_STAGES,
    )
    lr_schedule: dict | None = setting(
        None,
        help="A learning-rate schedule (mlx-lm's); null: a constant learning_rate.",
        keys=LrSchedule,
    )
    lora_parameters: dict = setting(
        factory=lambda: {"rank": 8, "dropout": 0.0, "scale": 20.0},
        help="The adapter's rank, scale, dropout and the layers it adapts.",
        keys=LoraParameters,
    )
    mask_prompt: bool = setting(False, help="Learn only from the answers, not the questions.")
    report_to: str | None = setting(
        None,
        help="Also log every figure (losses, reward, KL, margins, evaluation) to tensorboard "
        "(event files in the run folder), wandb (offline unless logged in) or both, as "
        "'tensorboard,wandb'; needs mlxstudio[tracking].",
    )
    project_name: str | None = setting(
        None, help="The W&B project of report_to: wandb; null: mlxstudio."
    )
    trust_remote_code: bool = setting(
        False,
        help="mlx-lm's permission to run a model's own Python code.",
        refused="MLX Studio trains the architectures mlx-lm implements and runs no code "
        "shipped with a model; remove the key or set it to false",
    )
    hf_dataset: dict | list | None = setting(
        None,
        help="mlx-lm's Hugging Face dataset(s) to download and load.",
        refused="Hugging Face datasets are not downloaded here; download the dataset's "
        "files, save them as train.jsonl and valid.jsonl in a folder, set 'data:' to that "
        "folder and remove the key",
    )
    prompt_feature: str = setting("prompt", help="The prompt field of prompt/completion data.")
    completion_feature: str = setting(
        "completion", help="The answer field of prompt/completion data."
    )
    text_feature: str = setting("text", help="The field of plain-text data.")
    chat_feature: str = setting(
        "messages", help="The field of chat data (a list of role/content messages)."
    )
    # MLX Studio's own keys.
    name: str | None = setting(
        None, help="The run's name (its folder under runs/); null: the model's and the time."
    )
    stage: str = setting(
        "sft",
        help="What is trained: sft (fine-tuning), pretrain (a llama from scratch), dpo "
        "(preference pairs), rl (offline PPO from scored answers), grpo (online RL with a "
        "reward), reward (a reward model).",
        choices=STAGES,
    )
    compute_dtype: str = setting(
        "auto",
        help="The precision training computes in: auto picks for this machine; model keeps "
        "the weights as they are (QLoRA on a quantized model).",
        choices=("auto", "model", "float32", "float16", "bfloat16"),
    )
    packing: bool = setting(
        False, help="Several examples per row, each attending only to itself: less padding."
    )
    keep_last_checkpoints: int = setting(
        3, help="Checkpoints kept, plus the best by validation loss; 0 keeps all.", min=0
    )
    grad_clip: float | None = setting(
        None, help="Clip the gradient's global norm to this; null: no clipping.", above=0
    )
    max_loss_ratio: float = setting(
        5.0, help="Stop when a report's loss exceeds this times the lowest; 0: off.", min=0
    )
    memory_guard: float = setting(
        0.95,
        help="Save a checkpoint and pause before a step that would take memory past this "
        "share of the machine's RAM; 0: off.",
        min=0,
        max=1,
    )
    sample_prompts: list | None = setting(
        None, help="Prompts answered during training, to watch the model change."
    )
    sample_every: int = setting(
        0, help="Steps between answers to sample_prompts; 0: at each validation.", min=0
    )
    sample_max_tokens: int = setting(
        48, help="Longest answer to a sample prompt, in tokens.", min=0
    )
    eval_after_run: bool | None = setting(
        None,
        help="Compare the base and the fine-tuned model on the test split when the run "
        "ends; null: only when the split is small.",
    )
    # Reinforcement learning (stages rl, grpo, dpo; see core/rl). MLX-Pretrain's rl keys first.
    ppo_epochs: int = setting(2, help="Stage rl: passes over each batch of rollouts.", min=1)
    ppo_mini_batch_size: int | None = setting(
        None, help="Stage rl: responses per update in a step; null: all.", min=1
    )
    kl_coef: float = setting(
        0.05, help="Weight of the KL penalty to the frozen starting policy.", min=0
    )
    clip_range: float = setting(0.2, help="PPO's ratio clip.", min=0)
    reward_field: str = setting("reward", help="The reward field of scored (rl) data.")
    prompt_field: str = setting(
        "instruction", help="The prompt field of RL data; falls back to 'prompt'."
    )
    response_field: str = setting(
        "response", help="The response field of RL data; falls back to 'completion'."
    )
    chosen_field: str = setting("chosen", help="The preferred answer's field of pairs.")
    rejected_field: str = setting("rejected", help="The rejected answer's field of pairs.")
    reward_model: str | None = setting(
        None,
        help="The reward: a built-in name, path/to/file.py[:ClassName], or learned:RUN_DIR "
        "(a reward-stage run).",
    )
    reward_kwargs: dict = setting(factory=dict, help="Passed to the reward model's class.")
    beta: float = setting(
        0.1, help="DPO's temperature (ORPO: the weight of the odds-ratio term).", min=0
    )
    preference_loss: str = setting(
        "sigmoid",
        help="The preference loss: sigmoid (DPO), ipo, orpo, cpo or simpo (pairs; orpo, cpo "
        "and simpo use no reference model), or kto (answers labelled good or bad, unpaired).",
        choices=("sigmoid", "ipo", "orpo", "cpo", "simpo", "kto"),
    )
    simpo_gamma: float = setting(
        0.5,
        help="SimPO: the margin its length-normalised rewards must clear (use beta about 2).",
        min=0,
        stages=("dpo",),
    )
    cpo_alpha: float = setting(
        1.0, help="CPO: weight of the chosen answer's NLL term.", min=0, stages=("dpo",)
    )
    label_field: str = setting(
        "label", help="KTO: the field saying whether an answer is good (true) or bad (false)."
    )
    grpo_loss: str = setting(
        "grpo",
        help="GRPO's objective: grpo; dapo (clip-higher, token-level mean, groups of equal "
        "rewards dropped); dr_grpo (no length or std normalisation); gspo (sequence-level "
        "ratio).",
        choices=("grpo", "dapo", "dr_grpo", "gspo"),
        stages=("grpo",),
    )
    clip_range_high: float | None = setting(
        None,
        help="Upper ratio clip (DAPO's clip-higher, e.g. 0.28); null: clip_range.",
        min=0,
        stages=("rl", "grpo"),
    )
    reward_functions: list | None = setting(
        None,
        help="GRPO: several rewards added with weights, each {name: built-in or "
        "file.py[:Class], weight: 1.0, kwargs: {...}}; instead of reward_model.",
        stages=("grpo",),
    )
    reward_checks: list | None = setting(
        None,
        help="GRPO: rewards logged but not trained on (same form as reward_functions): a check "
        "that the policy does not game its reward.",
        stages=("grpo",),
    )
    group_size: int = setting(
        4,
        help="GRPO: responses sampled per prompt. More give a steadier signal and cost time; "
        "memory only while sampling (it learns from batch_size answers at a time).",
        min=1,
    )
    max_new_tokens: int = setting(64, help="GRPO: longest sampled response.", min=1)
    temperature: float = setting(1.0, help="GRPO: sampling temperature.", min=0)
    # Pretraining from scratch (stage pretrain; `data` is text files or a folder of them).
    dimensions: dict | None = setting(
        None, help="Stage pretrain: the llama to build.", keys=Dimensions
    )
    tokenizer: str | None = setting(
        None, help="Stage pretrain: an existing tokenizer or model folder; null: train one."
    )
    vocab_size: int = setting(
        4096,
        help="Stage pretrain: size of a tokenizer trained on the corpus (specials included).",
        min=1,
    )
    valid_data: str | None = setting(
        None, help="Stage pretrain: held-out text; null: 1 window in 10 of the corpus."
    )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def settings() -> dict[str, Setting]:
    """Every RunConfig key described (help, type, default, limits), in file order."""
    return describe(RunConfig)


# Keys of mlx-lm's that are no setting here, described to be refused like one.
NOT_A_KEY = {
    "config": Setting(
        name="config",
        kinds=(str,),
        optional=True,
        default=None,
        help="mlx-lm's command-line option naming the config file.",
        refused="a config file cannot name another config; remove the key",
    )
}
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name
_FILE_SUFFIXES = {".jsonl", ".json", ".txt", ".parquet", ".csv", ".md", ".gz"}


def hub_dataset_problem(data: str) -> str | None:
    """When `data` is no path here and reads as a Hugging Face dataset name (owner/name):
    why it is refused and what to do. Asked where the data is opened, not when a config is
    read: a relative folder may exist only where the run starts."""
    if not _HUB_NAME.match(data) or Path(data).suffix.lower() in _FILE_SUFFIXES:
        return None
    if Path(data).expanduser().exists():
        return None
    return (
        f"'data' is {data!r}: no such folder here, and Hugging Face datasets are not "
        f"downloaded; download the dataset's files, save them as train.jsonl and valid.jsonl "
        f"in a folder and set 'data:' to that folder"
    )


def _refusal(key: str, value: Any, spec: Setting, stage: str) -> str | None:
    """Why a value that passes its checks is still refused, or None."""
    if value == spec.default:
        return None
    if key == "report_to":  # a comma list, as mlx-lm takes it: no single choice fits
        return report_to_problem(value)
    if spec.refused:
        return f"'{key}' is not supported: {spec.refused}"
    if spec.stages and stage not in spec.stages:
        return (
            f"'{key}' is honoured only by stages {', '.join(spec.stages)}, not '{stage}'; "
            f"remove the key"
        )
    return None


def config_from_dict(
    raw: dict, source: str = "config", lines: dict[str, int] | None = None
) -> RunConfig:
    """Validate a mapping of settings and build a RunConfig. `lines` maps key -> line number."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping of key: value lines")
    lines = lines or {}
    specs = settings()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{source}:{lines[key]}" if key in lines else source
        if key in NOT_A_KEY:
            if value is None:
                continue  # said to be absent: nothing to refuse
            raise ConfigError(f"{where}: '{key}' is not supported: {NOT_A_KEY[key].refused}")
        if key not in specs:
            raise unknown_key(where, str(key), list(specs))
        values[key] = check_value(where, key, value, specs[key])
    stage = values.get("stage", specs["stage"].default)
    for key, value in values.items():
        if problem := _refusal(key, value, specs[key], stage):
            where = f"{source}:{lines[key]}" if key in lines else source
            raise ConfigError(f"{where}: {problem}")
    return RunConfig(**values)


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
