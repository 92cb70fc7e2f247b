"""MLX-Pretrain's YAML configs run as they are: `train.py --config model-config.yaml`
becomes `mlxstudio train model-config.yaml` (stage pretrain), `sft.py --config C
--pretrained_model RUN` becomes `mlxstudio train C --pretrained_model RUN` (stage sft), and
`rl.py --config C --pretrained_model RUN [--reward_model R]` the same (stage rl; its own
keys are in rl.py).

A file is MLX-Pretrain's when its data/model/training/logging/system entries are sections
(mappings). Its keys are checked like ours (file:line, "did you mean"), then mapped:

  data.input_file / validation_file   SFT, RL: converted (prompt_format, response_format,
                                      system_prompt, input_field, output_field, as sft.py /
                                      rl.py join them) into run_dir/dataset; pretrain: the
                                      corpus
  data.preprocessing.max_context_size max_seq_length
  data.tokenizer_path                 pretrain: the tokenizer to use (SFT: the model's own)
  data.tokenizer.normal_vocab_size    pretrain: vocab_size (+ 3 special tokens)
  model.dimensions/attention/...      pretrain: dimensions; SFT: the pretrained model's own
  training.epochs                     iters = epochs x (examples // batch_size)
  training.hyperparameters            batch_size, learning_rate, iters, weight_decay,
                                      gradient_clip (grad_clip: a global-norm clip)
  training.scheduler / optimization   lr_schedule (cosine, cosine_with_warmup, linear),
                                      optimizer (+ betas, eps, weight_decay)
  logging.steps                       steps_per_report, save_every, steps_per_eval
  system.seed                         seed

SFT and RL train every layer (fine_tune_type full), as sft.py and rl.py do. The run is runs/<name>
(`overwrite: true` replaces an earlier one) and also gets MLX-Pretrain's metadata.json and
log file (see files.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlxstudio.core import paths, runs
from mlxstudio.core.config import (
    ConfigError,
    RunConfig,
    Stage,
    config_from_dict,
    load_config,
    read_yaml,
)
from mlxstudio.core.errors import UserError
from mlxstudio.core.mlx_pretrain import files
from mlxstudio.core.mlx_pretrain.rl import (
    drop_rewards,
    is_rl,
    reward_spec,
    rl_settings,
    updates_per_step,
)
from mlxstudio.core.mlx_pretrain.schema import (
    SFT_KEYS,
    Source,
    is_mlx_pretrain,
    read_source,
    run_candidates,
)
from mlxstudio.core.train.corpus import DATASET, prepare_corpus
from mlxstudio.core.train.tokenizer import SPECIALS


def resolve_pretrained(ref: str) -> Path:
    """--pretrained_model: a model folder (a pretraining run is one), a run name, or a
    model name in the app's folder."""
    from mlxstudio.core.models.local import resolve_model

    for path in (p for p in run_candidates(ref) if p.is_dir()):
        if (path / "config.json").is_file():
            if not any(path.glob("model*.safetensors")):
                raise UserError(f"{path}: no weights yet (model.safetensors); let it train first")
            return path.resolve()
        if runs.is_adapter_dir(path):
            raise UserError(
                f"{path}: a fine-tuning run (an adapter); fuse it into a model first "
                f"(mlxstudio fuse {path} --out FOLDER) and pass that folder"
            )
        if (path / "metadata.json").is_file():
            raise UserError(
                f"{path}: a run of MLX-Pretrain's own scripts; pretrain with `mlxstudio train "
                "model-config.yaml` and pass that run"
            )
    return resolve_model(ref)


def resolve_policy(ref: str) -> Path:
    """RL's --pretrained_model: what resolve_pretrained takes, or a fine-tuning run (an SFT
    run: RL goes on from its weights, as rl.py loads the SFT run's checkpoint)."""
    for path in (p for p in run_candidates(ref) if p.is_dir()):
        if runs.is_adapter_dir(path):
            return path.resolve()
    return resolve_pretrained(ref)


def _run_dir(name: str, overwrite: bool, where: str, keep: Path | None = None) -> Path:
    """runs/<name>, as MLX-Pretrain names runs: replaced only with `overwrite: true`, and
    never when it is `keep` (the model to fine-tune)."""
    if not name.strip() or Path(name).name != name or name in (".", ".."):
        raise ConfigError(f"{where}: 'name' must be a plain folder name, got {name!r}")
    run_dir = paths.runs_dir() / name
    if keep is not None and run_dir.resolve() in (keep, *keep.parents):
        raise ConfigError(f"{where}: '{name}' is the pretrained model's run; pick another name")
    if run_dir.exists():
        if (run_dir / runs.META).exists() and not overwrite:
            raise ConfigError(
                f"{where}: the run '{name}' exists ({run_dir}); set 'overwrite: true' to "
                "replace it, or change 'name'"
            )
        shutil.rmtree(run_dir)  # replaced, or a folder whose job never started
    run_dir.mkdir(parents=True)
    return run_dir


def _settings(src: Source) -> tuple[dict, dict[str, int]]:
    """RunConfig values (and their source lines) of the training/logging/system sections."""
    mapping = {
        "batch_size": "training.hyperparameters.batch_size",
        "learning_rate": "training.hyperparameters.learning_rate",
        "grad_clip": "training.hyperparameters.gradient_clip",
        "max_seq_length": "data.preprocessing.max_context_size",
        "steps_per_report": "logging.steps.logging_interval",
        "save_every": "logging.steps.checkpoint_interval",
        "steps_per_eval": "logging.steps.validation_interval",
        "seed": "system.seed",
        "optimizer": "training.optimization.optimizer",
    }
    values = {k: src.get(d) for k, d in mapping.items() if src.get(d) is not None}
    lines = {k: src.lines[d] for k, d in mapping.items() if d in src.lines}
    values.setdefault("max_seq_length", 1024)  # MLX-Pretrain's default context
    if values.get("steps_per_eval") == 0:
        values.pop("steps_per_eval")  # "0 disables": set to iters once it is known
    decay = src.get("training.hyperparameters.weight_decay")
    optimizer = values.setdefault("optimizer", "adamw" if decay is not None else "adam")
    extra = {}
    if decay is not None and optimizer != "adam":
        extra["weight_decay"] = float(decay)
    if optimizer in ("adam", "adamw"):
        for key in ("betas", "eps"):
            if src.get(f"training.optimization.{key}") is not None:
                extra[key] = src.get(f"training.optimization.{key}")
    values["optimizer_config"] = {optimizer: extra} if extra else {}
    values.update(val_batches=50, keep_last_checkpoints=0)  # sft.py: <= 50; all kept
    return values, lines


def _schedule(src: Source, iters: int) -> dict | None:
    kind = src.get("training.scheduler.type")
    lr = float(src.get("training.hyperparameters.learning_rate", 1e-5))
    low = lr * float(src.get("training.scheduler.min_lr_ratio", 0.0))
    if kind is None:
        return None
    if kind == "cosine":
        return {"name": "cosine_decay", "arguments": [lr, iters, low]}
    if kind == "linear":
        return {"name": "linear_schedule", "arguments": [lr, 0.0, iters]}
    if kind == "cosine_with_warmup":
        ratio = float(src.get("training.scheduler.warmup_ratio", 0.0))
        warmup = int(src.get("training.scheduler.warmup_steps", round(ratio * iters)))
        warmup = min(warmup, iters - 1)
        decay = {"name": "cosine_decay", "arguments": [lr, max(iters - warmup, 1), low]}
        return {**decay, "warmup": warmup, "warmup_init": 0.0}
    where = src.where("training.scheduler.type")
    raise ConfigError(
        f"{where}: 'training.scheduler.type' must be one of cosine, cosine_with_warmup, "
        f"linear; got {kind!r}"
    )


def _iters(src: Source, examples: int, batch_size: int) -> tuple[int, int]:
    """(iters, steps per epoch) as train.py / sft.py count them."""
    per_epoch = examples // batch_size
    epochs = src.get("training.epochs")
    iters = per_epoch * epochs if epochs else src.get("training.hyperparameters.iters", per_epoch)
    if iters < 1:
        raise ConfigError(
            f"{src.where('training')}: {examples} examples make no batch of batch_size="
            f"{batch_size}; lower batch_size or add data"
        )
    return iters, per_epoch


def _dimensions(src: Source) -> dict:
    """Our `dimensions` from MLX-Pretrain's model section (train.py's names for ModelArgs)."""
    names = {
        "hidden_size": "dimensions.hidden_size",
        "intermediate_size": "dimensions.intermediate_size",
        "num_layers": "dimensions.num_layers",
        "num_attention_heads": "attention.num_heads",
        "num_kv_heads": "attention.num_kv_heads",
        "head_dim": "attention.head_dim",
        "max_position_embeddings": "attention.max_position_embeddings",
        "rms_norm_eps": "normalization.rms_norm_eps",
        "rope_theta": "rope.theta",
        "rope_traditional": "rope.traditional",
        "rope_scaling": "rope.scaling",
        "tie_word_embeddings": "misc.tie_word_embeddings",
        "attention_bias": "misc.attention_bias",
        "mlp_bias": "misc.mlp_bias",
    }
    dims = {ours: src.get(f"model.{theirs}") for ours, theirs in names.items()}
    dims = {k: v for k, v in dims.items() if v is not None}
    dims.setdefault("num_layers", 8)  # train.py's default
    for ours in ("hidden_size", "intermediate_size", "num_attention_heads"):
        if ours not in dims:
            where = src.where("model")
            raise ConfigError(f"{where}: 'model.{names[ours]}' is required to build the model")
    return dims


def _unused(src: Source, tuned: bool) -> list[str]:
    """Keys read but without an effect here (printed, so nothing is silently dropped)."""
    keys = ["logging.log_dir", "logging.checkpoint_dir", "logging.metrics", "system.device"]
    keys += ["data.tokenizer.special_tokens", "data.preprocessing.chunk_overlap"]
    keys += ["model.model_source", "model.lora", "model.misc.logit_scale"]
    if tuned:  # SFT and RL use the pretrained model's own architecture and tokenizer
        keys += ["model", "data.tokenizer_path", "data.tokenizer"]
    if src.get("training.optimization.optimizer", "adamw") == "adam":
        keys.append("training.hyperparameters.weight_decay")  # Adam has none: use adamw
    return [k for k in keys if k in src.lines]


def _convert(
    src: Source,
    inputs: tuple[str, str | None],
    run_dir: Path,
    seed: int,
    log: Callable[[str], None],
) -> int:
    from mlxstudio.core.data import convert, options_from_mlx_pretrain

    data = dict(src.get("data") or {})
    # sft.py's / rl.py's defaults: the record's text as it is, no chat template
    data.setdefault("prompt_format", "{instruction}")
    data.setdefault("response_format", "{response}")
    train, valid = inputs
    issues: list = []
    try:
        result = convert(
            [train],
            run_dir / DATASET,
            options_from_mlx_pretrain(data),
            valid=0,
            valid_inputs=[valid] if valid else (),
            seed=seed,
            overwrite=True,
            on_issue=issues.append,
        )
    except UserError as err:  # no record could be used: say why, for the first one
        first = next((i for i in issues if i.severity == "error"), None)
        if first is None:
            raise
        raise UserError(
            f"{src.where('data.input_file')}: {err}; the first problem: {first}"
        ) from None
    if result.report.errors:
        first = result.report.issues[0] if result.report.issues else ""
        log(f"{result.report.errors} record(s) left out of the data; the first: {first}")
    return result.counts["train"]


def _model_values(src: Source, kind: str, pretrained_model: str | None) -> dict:
    """The RunConfig values naming the model to train (SFT, RL) or to build (pretrain)."""
    if kind == "pretrain":
        if src.get("model.architecture", "llama") != "llama":
            raise ConfigError(f"{src.where('model.architecture')}: only 'llama' is built")
        values = {"stage": "pretrain", "dimensions": _dimensions(src), "tokenizer": None}
        values.update(data=src.path_of("data.input_file"))
        values.update(valid_data=src.path_of("data.validation_file"))
        if src.get("data.tokenizer_path"):
            values["tokenizer"] = src.path_of("data.tokenizer_path")
        normal = src.get("data.tokenizer.normal_vocab_size")
        if normal is not None:
            values["vocab_size"] = normal + len(SPECIALS)
        return values
    if pretrained_model is None:
        what = "an SFT run, " if kind == "rl" else ""
        raise ConfigError(
            f"{src.path}: an {kind.upper()} config needs the model to train: add "
            f"--pretrained_model RUN_OR_FOLDER ({what}a pretraining run, or a model folder)"
        )
    model = (
        resolve_policy(pretrained_model) if kind == "rl" else resolve_pretrained(pretrained_model)
    )
    return {"stage": kind, "model": str(model), "fine_tune_type": "full", "num_layers": -1}


def from_mlx_pretrain(
    path: str | Path,
    pretrained_model: str | None = None,
    name: str | None = None,
    log: Callable[[str], None] = print,
    reward_model: str | None = None,
) -> RunConfig:
    """The RunConfig of an MLX-Pretrain config file. Creates its run folder and prepares
    its data there (converted SFT / RL records, or the tokenizer and token windows)."""
    src = read_source(path)
    tuned = pretrained_model is not None or any(k in (src.get("data") or {}) for k in SFT_KEYS)
    kind = "rl" if is_rl(src) else "sft" if tuned else "pretrain"
    if reward_model and kind != "rl":
        raise ConfigError(
            f"{path}: --reward_model scores responses for RL; this is an MLX-Pretrain "
            f"{kind} config (an RL config has data.reward_field or the ppo_* keys)"
        )
    values, lines = _settings(src)
    if src.get("data.input_file") is None:
        raise ConfigError(f"{src.where('data')}: 'data.input_file' is required: the data to use")
    train, valid = src.path_of("data.input_file"), src.path_of("data.validation_file")
    values.update(_model_values(src, kind, pretrained_model))
    if kind == "rl":
        ppo, ppo_lines = rl_settings(src)
        values.update(ppo)
        lines.update(ppo_lines)
        if reward_model:
            values["reward_model"] = reward_spec(reward_model)
    cfg = config_from_dict(values, str(path), lines)  # every value checked before any work
    _schedule(src, 1)
    if unused := _unused(src, kind != "pretrain"):
        log(f"Read but not used by MLX Studio: {', '.join(unused)}")
    run_name = name or str(src.get("name") or Path(path).stem)
    keep = Path(cfg.model) if kind != "pretrain" else None
    run_dir = _run_dir(run_name, bool(src.get("overwrite", False)), src.where("name"), keep)
    shutil.copyfile(src.path, run_dir / files.SOURCE)
    if kind == "pretrain":
        examples = len(prepare_corpus(replace(cfg, adapter_path=str(run_dir)), run_dir, log).train)
    else:
        examples = _convert(src, (train, valid), run_dir, cfg.seed, log)
        cfg = replace(cfg, data=str(run_dir / DATASET))
        if cfg.reward_model:
            drop_rewards(run_dir / DATASET, cfg.reward_model, log)
    iters, per_epoch = _iters(src, examples, cfg.batch_size)
    cfg = replace(
        cfg,
        name=run_name,
        iters=iters,
        lr_schedule=_schedule(src, iters * updates_per_step(cfg)),
        steps_per_eval=cfg.steps_per_eval if "steps_per_eval" in values else iters,
        adapter_path=str(run_dir),
    )
    files.write_metadata(run_dir, src.raw, cfg, per_epoch, pretrained_model)
    return cfg


def load_run_config(
    path: str | Path,
    pretrained_model: str | None = None,
    name: str | None = None,
    log: Callable[[str], None] = print,
    reward_model: str | None = None,
) -> RunConfig:
    """Any config `mlxstudio train` runs: ours or mlx-lm's (load_config), or MLX-Pretrain's.
    `pretrained_model` is the model to train (MLX-Pretrain's --pretrained_model);
    `reward_model` scores RL responses (--reward_model, over the config's)."""
    raw, _ = read_yaml(path)
    if is_mlx_pretrain(raw):
        return from_mlx_pretrain(path, pretrained_model, name, log, reward_model)
    cfg = load_config(path)
    if name:
        cfg.name = name
    if reward_model:
        cfg.reward_model = reward_spec(reward_model)
    if pretrained_model:
        if cfg.stage == Stage.PRETRAIN:
            raise ConfigError(f"{path}: stage pretrain builds a new model; drop --pretrained_model")
        rl = cfg.stage in (Stage.RL, Stage.GRPO, Stage.DPO)  # these go on from an SFT run too
        cfg.model = str((resolve_policy if rl else resolve_pretrained)(pretrained_model))
    return cfg
