"""What gets trained and how: LoRA/DoRA layers or unfrozen blocks, and the optimizer.

Thin on purpose: the layers, schedules and optimizers are mlx-lm's and MLX's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig
from mlxstudio.core.errors import UserError
from mlxstudio.core.platform import compute_dtype_name

ADAPTER_CONFIG = "adapter_config.json"


def prepare_model(model, dtype_setting: str):
    """Cast to the compute dtype; on the CPU a float32 copy trains far faster than 4-bit.
    'model' keeps the weights as they are (QLoRA on a quantized base)."""
    import mlx.core as mx
    from mlx_lm.utils import dequantize_model

    name = compute_dtype_name() if dtype_setting == "auto" else dtype_setting
    if name in (None, "model"):
        return model
    model = dequantize_model(model)
    model.set_dtype(getattr(mx, name))
    return model


def load_base(cfg: RunConfig, log: Callable[[str], None]):
    """(model, tokenizer) of cfg.model in the compute dtype, before anything is trainable."""
    from mlx_lm.utils import load

    log(f"Loading model {Path(cfg.model).name}")
    model, tokenizer = load(cfg.model)
    return prepare_model(model, cfg.compute_dtype), tokenizer


def make_trainable(model, cfg: RunConfig, log: Callable[[str], None]) -> int:
    """Freeze the base, add the trainable parts and start them from cfg.resume_adapter_file
    when it names one; returns the trainable count."""
    trainable = apply_fine_tune_type(model, cfg)
    if cfg.resume_adapter_file:
        log(f"Starting from the adapter {cfg.resume_adapter_file}")
        load_trainable(model, Path(cfg.resume_adapter_file))
    return trainable


def start_from_run(cfg: RunConfig) -> RunConfig:
    """`model` may name a fine-tuning run: its base model, starting from its adapter and
    settings (how preference, RL and reward stages follow an SFT run)."""
    run = Path(cfg.model).expanduser()
    if not runs.is_adapter_dir(run):
        return cfg
    settings = json.loads((run / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    keep = {k: settings[k] for k in ("fine_tune_type", "num_layers") if k in settings}
    if settings.get("lora_parameters"):
        keep["lora_parameters"] = settings["lora_parameters"]
    return replace(cfg, model=settings["model"], resume_adapter_file=str(run), **keep)


def check_full_on_quantized(cfg: RunConfig, model_path: Path) -> None:
    """Full fine-tuning changes the base weights themselves: a 4/8-bit base cannot hold
    them (mlx-lm could not load the result on it), so say what to do instead."""
    if cfg.fine_tune_type != "full" or not cfg.train:
        return
    try:
        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    quant = config.get("quantization") or config.get("quantization_config")
    if quant:
        bits = quant.get("bits", "?") if isinstance(quant, dict) else "?"
        raise UserError(
            f"config: fine_tune_type 'full' needs an unquantized base, and {model_path.name} "
            f"is {bits}-bit; use 'lora' or 'dora' (QLoRA), or convert the model first with "
            f"`mlxstudio models convert {model_path} --out FOLDER --dtype float16`"
        )


def apply_fine_tune_type(model, cfg: RunConfig) -> int:
    """Freeze the base and add trainable parts as mlx-lm would; returns the trainable count."""
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import linear_to_lora_layers

    n_layers = len(model.layers)
    if cfg.num_layers > n_layers:
        raise UserError(
            f"config: num_layers={cfg.num_layers} but the model has {n_layers} layers; "
            f"set num_layers to at most {n_layers} (or -1 for all)"
        )
    model.freeze()
    if cfg.fine_tune_type == "full":
        for layer in model.layers[-max(cfg.num_layers, 0) :]:
            layer.unfreeze()
    else:
        params = {"dropout": 0.0, **cfg.lora_parameters}
        if "scale" not in params:
            raise UserError("config: lora_parameters needs 'scale' (mlx-lm's name for alpha/rank)")
        linear_to_lora_layers(model, cfg.num_layers, params, use_dora=cfg.fine_tune_type == "dora")
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


def adapter_file(path: str) -> Path:
    """resume_adapter_file may name a safetensors file or an adapter/run folder."""
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / "adapters.safetensors"
    if not file.is_file():
        raise UserError(f"{path}: resume_adapter_file not found (a .safetensors file or a run)")
    return file


def load_trainable(model, path: Path) -> None:
    """Load weights into the trainable parts, refusing ones that do not fit."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    weights = mx.load(str(path))
    params = dict(tree_flatten(model.trainable_parameters()))
    wrong = [k for k, v in weights.items() if k not in params or params[k].shape != v.shape]
    if wrong:
        raise UserError(
            f"{path}: {len(wrong)} tensors do not fit this model and fine_tune_type/num_layers/"
            f"rank (first: {wrong[0]}); use the settings the adapter was trained with"
        )
    model.load_weights(list(weights.items()), strict=False)


def write_adapter_config(run_dir: Path, cfg: RunConfig) -> None:
    """adapter_config.json as mlx-lm writes it, so load_adapters / fuse / generate work."""
    values = cfg.to_dict()
    if cfg.fine_tune_type == "full":
        values["lora_parameters"] = None
    else:
        values["lora_parameters"] = {"dropout": 0.0, **cfg.lora_parameters}
    (run_dir / ADAPTER_CONFIG).write_text(json.dumps(values, indent=4), encoding="utf-8")


def build_optimizer(cfg: RunConfig):
    import mlx.optimizers as optim
    from mlx_lm.tuner.utils import build_schedule

    classes = {
        "adam": optim.Adam,
        "adamw": optim.AdamW,
        "muon": optim.Muon,
        "sgd": optim.SGD,
        "adafactor": optim.Adafactor,
    }
    lr = build_schedule(cfg.lr_schedule) if cfg.lr_schedule else cfg.learning_rate
    extra = cfg.optimizer_config.get(cfg.optimizer, {}) or {}
    try:
        return classes[cfg.optimizer](learning_rate=lr, **extra)
    except TypeError as err:
        raise UserError(f"config: optimizer_config.{cfg.optimizer}: {err}") from None
