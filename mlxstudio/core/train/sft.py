"""Supervised fine-tuning (LoRA / DoRA / full) through mlx-lm's tuner, writing a run directory."""

from __future__ import annotations

import json
import math
import platform
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig, dump_config
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.platform import compute_dtype_name
from mlxstudio.core.train.data_check import check_data_folder

EventSink = Callable[[dict], None]


@dataclass
class RunResult:
    run_dir: Path
    status: str
    first_val_loss: float | None
    last_val_loss: float | None
    last_train_loss: float | None


def resolve_run_dir(cfg: RunConfig, model_path: Path) -> Path:
    """An explicit adapter_path is the run directory (as in mlx-lm); else runs/<name>."""
    if cfg.adapter_path:
        run_dir = Path(cfg.adapter_path).expanduser()
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir.resolve()
    name = cfg.name or f"{model_path.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return runs.new_run_dir(name)


def _prepare_model(model, dtype_setting: str):
    """Cast to the compute dtype; on the CPU a float32 copy trains far faster than 4-bit."""
    import mlx.core as mx
    from mlx_lm.utils import dequantize_model

    name = compute_dtype_name() if dtype_setting == "auto" else dtype_setting
    if name in (None, "model"):
        return model
    model = dequantize_model(model)
    model.set_dtype(getattr(mx, name))
    return model


class _EventCallback:
    """mlx-lm TrainingCallback that turns its reports into our events."""

    def __init__(self, log: runs.EventLog, sink: EventSink | None, total: int) -> None:
        self.log, self.sink, self.total = log, sink, total
        self.val_losses: list[float] = []
        self.train_losses: list[float] = []

    def emit(self, event: str, **fields) -> None:
        record = self.log.write(event, **fields)
        if self.sink:
            self.sink(record)

    def on_train_loss_report(self, info: dict) -> None:
        self.train_losses.append(float(info["train_loss"]))
        self.emit(
            "train",
            step=int(info["iteration"]),
            total_steps=self.total,
            train_loss=float(info["train_loss"]),
            learning_rate=float(info["learning_rate"]),
            iterations_per_second=float(info["iterations_per_second"]),
            tokens_per_second=float(info["tokens_per_second"]),
            trained_tokens=int(info["trained_tokens"]),
            peak_memory_gb=float(info["peak_memory"]),
        )

    def on_val_loss_report(self, info: dict) -> None:
        self.val_losses.append(float(info["val_loss"]))
        self.emit(
            "val",
            step=int(info["iteration"]),
            total_steps=self.total,
            val_loss=float(info["val_loss"]),
            val_time_s=float(info["val_time"]),
        )


def _save_now(model, run_dir: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    weights = dict(tree_flatten(model.trainable_parameters()))
    mx.save_safetensors(str(run_dir / "adapters.safetensors"), weights)


def _mlx_args(cfg: RunConfig, model_path: Path, data_path: Path, run_dir: Path):
    values = cfg.to_dict()
    values.update(model=str(model_path), data=str(data_path), adapter_path=str(run_dir))
    if values["resume_adapter_file"]:
        values["resume_adapter_file"] = str(Path(values["resume_adapter_file"]).resolve())
    return types.SimpleNamespace(**values)


def run_sft(
    cfg: RunConfig, on_event: EventSink | None = None, log: Callable[[str], None] = print
) -> RunResult:
    """Fine-tune cfg.model on cfg.data; returns when the run ends (completed or stopped)."""
    model_path = resolve_model(cfg.model)
    data_path = check_data_folder(cfg.data, need_test=cfg.test)
    if not cfg.train and not cfg.test:
        raise UserError("config: nothing to do; set 'train: true' and/or 'test: true'")
    run_dir = resolve_run_dir(cfg, model_path)
    cfg = replace(cfg, model=str(model_path), data=str(data_path), adapter_path=str(run_dir))
    dump_config(cfg, run_dir / runs.CONFIG)
    runs.update_meta(
        run_dir,
        status="running",
        stage=cfg.stage,
        model=str(model_path),
        data=str(data_path),
        started=time.time(),
        host=platform.node(),
    )
    events = runs.EventLog(run_dir / runs.METRICS)
    callback = _EventCallback(events, on_event, cfg.iters)
    callback.emit("start", run_dir=str(run_dir), model=str(model_path), total_steps=cfg.iters)
    log(f"Run directory: {run_dir}")

    import mlx.core as mx
    import numpy as np
    from mlx_lm.lora import train_model
    from mlx_lm.tuner.datasets import CacheDataset, load_dataset
    from mlx_lm.tuner.trainer import evaluate
    from mlx_lm.utils import load

    status = "failed"
    model = None
    try:
        np.random.seed(cfg.seed)
        log(f"Loading model {model_path.name}")
        model, tokenizer = load(str(model_path))
        model = _prepare_model(model, cfg.compute_dtype)
        args = _mlx_args(cfg, model_path, data_path, run_dir)
        train_set, valid_set, test_set = load_dataset(args, tokenizer)

        def score(dataset, batches: int) -> float:
            return evaluate(
                model=model,
                dataset=CacheDataset(dataset),
                batch_size=cfg.batch_size,
                num_batches=batches,
                max_seq_length=cfg.max_seq_length,
            )

        if cfg.train:
            train_model(args, model, train_set, valid_set, training_callback=callback)
            if len(valid_set) >= cfg.batch_size:
                # mlx-lm's last validation runs before the last step; measure the end state.
                tic = time.perf_counter()
                callback.on_val_loss_report(
                    {
                        "iteration": cfg.iters,
                        "val_loss": score(valid_set, cfg.val_batches),
                        "val_time": time.perf_counter() - tic,
                    }
                )
        if cfg.test:
            loss = score(test_set, cfg.test_batches)
            callback.emit("test", test_loss=loss, test_ppl=math.exp(min(loss, 50)))
        status = "completed"
    except KeyboardInterrupt:
        status = "stopped"
        if model is not None and cfg.train:
            _save_now(model, run_dir)
        callback.emit("stopped", message="stopped by the user; adapters saved")
    except ValueError as err:
        callback.emit("error", message=str(err))
        raise UserError(f"training failed: {err}") from err
    except Exception as err:
        callback.emit("error", message=f"{type(err).__name__}: {err}")
        raise
    finally:
        peak = mx.get_peak_memory() / 1e9
        runs.update_meta(
            run_dir,
            status=status,
            ended=time.time(),
            peak_memory_gb=peak,
            first_val_loss=callback.val_losses[0] if callback.val_losses else None,
            last_val_loss=callback.val_losses[-1] if callback.val_losses else None,
        )
    callback.emit("finished", status=status)
    return RunResult(
        run_dir=run_dir,
        status=status,
        first_val_loss=callback.val_losses[0] if callback.val_losses else None,
        last_val_loss=callback.val_losses[-1] if callback.val_losses else None,
        last_train_loss=callback.train_losses[-1] if callback.train_losses else None,
    )


def adapter_base_model(run_dir: Path) -> str:
    """The base model a run's adapters were trained on (recorded in adapter_config.json)."""
    path = Path(run_dir) / "adapter_config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no adapter_config.json; is this a finished run directory?")
    return json.loads(path.read_text(encoding="utf-8")).get("model", "")
