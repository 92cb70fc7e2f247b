"""Supervised fine-tuning (LoRA / DoRA / full, QLoRA on quantized bases) writing a run
directory; resumable from its checkpoints. The loop is loop.py, the protocol events.py."""

from __future__ import annotations

import json
import math
import time
import types
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig, dump_config
from mlxstudio.core.distributed import World
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.platform import compute_dtype_name
from mlxstudio.core.train import events as ev
from mlxstudio.core.train.batches import BatchPlan, check_packable
from mlxstudio.core.train.control import Control
from mlxstudio.core.train.data_check import check_data_folder
from mlxstudio.core.train.job import (
    Failed,
    RunResult,
    open_run,
    quiet,
    restore,  # noqa: F401 (RunResult, EXIT_CODES: public here too)
    supervise,
)
from mlxstudio.core.train.loop import Diverged, Loop, is_out_of_memory
from mlxstudio.core.train.samples import make_sampler
from mlxstudio.core.train.trainable import (
    adapter_file,
    apply_fine_tune_type,
    build_optimizer,
    check_full_on_quantized,
    load_trainable,
    write_adapter_config,
)

EventSink = ev.EventSink


def resolve_run_dir(cfg: RunConfig, model_path: Path) -> Path:
    """An explicit adapter_path is the run directory (as in mlx-lm); else runs/<name>."""
    if cfg.adapter_path:
        run_dir = Path(cfg.adapter_path).expanduser()
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir.resolve()
    name = cfg.name or f"{model_path.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return runs.new_run_dir(name)


def _prepare_model(model, dtype_setting: str):
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


def _mlx_args(cfg: RunConfig) -> types.SimpleNamespace:
    return types.SimpleNamespace(**cfg.to_dict())


def _oom_message(cfg: RunConfig, step: int, err: Exception) -> str:
    import mlx.core as mx

    hint = f"lower batch_size (now {cfg.batch_size}) or max_seq_length (now {cfg.max_seq_length})"
    if not cfg.grad_checkpoint:
        hint += ", or set grad_checkpoint: true"
    if cfg.fine_tune_type == "full":
        hint += ", or use fine_tune_type: lora"
    peak = mx.get_peak_memory() / 1e9
    return f"out of memory at step {step} (peak {peak:.2f} GB; {err}): {hint}"


def _new_run(cfg: RunConfig, writes: bool = True) -> tuple[RunConfig, Path]:
    model_path = resolve_model(cfg.model)
    check_full_on_quantized(cfg, model_path)
    data_path = check_data_folder(cfg.data, need_test=cfg.test)
    if not cfg.train and not cfg.test:
        raise UserError("config: nothing to do; set 'train: true' and/or 'test: true'")
    if cfg.resume_adapter_file:
        cfg = replace(cfg, resume_adapter_file=str(adapter_file(cfg.resume_adapter_file)))
    if not writes:  # a rank other than 0: rank 0 alone creates the run directory
        run_dir = Path(cfg.adapter_path or model_path.name).expanduser()
        return replace(cfg, model=str(model_path), data=str(data_path)), run_dir
    run_dir = resolve_run_dir(cfg, model_path)
    cfg = replace(cfg, model=str(model_path), data=str(data_path), adapter_path=str(run_dir))
    dump_config(cfg, run_dir / runs.CONFIG)
    return cfg, run_dir


def run_sft(
    cfg: RunConfig | None,
    on_event: EventSink | None = None,
    log: Callable[[str], None] = print,
    *,
    events_stream: TextIO | None = None,
    control: Control | None = None,
    resume_dir: Path | None = None,
) -> RunResult:
    """Fine-tune cfg.model on cfg.data (or continue the run in `resume_dir` from its last
    good checkpoint); returns when the run ends. Events go to metrics.jsonl, `on_event` and,
    as `@event` lines, to `events_stream`. SIGINT/SIGTERM stop it cleanly. Launched by
    mlx.launch, every rank trains its slice of each batch and rank 0 alone writes."""
    from mlxstudio.core.distributed import world

    rank = world()
    if not rank.is_main:  # quiet: rank 0 reports for all (errors still reach stderr)
        on_event, events_stream, log = None, None, quiet
    cfg, run_dir = open_run(
        cfg, resume_dir, events_stream, lambda c: _new_run(c, writes=rank.is_main)
    )
    resuming = resume_dir is not None
    return supervise(
        run_dir,
        cfg,
        lambda emitter, control, box: _train(
            cfg, run_dir, emitter, control, log, box, resuming, rank
        ),
        model=cfg.model,
        on_event=on_event,
        events_stream=events_stream,
        control=control,
        log=log,
        writes=rank.is_main,
        world_size=rank.size,
    )


def _train(
    cfg: RunConfig,
    run_dir: Path,
    emitter: ev.Emitter,
    control: Control,
    log: Callable[[str], None],
    box: types.SimpleNamespace,
    resuming: bool,
    rank: World | None = None,
) -> str:
    import mlx.core as mx
    import numpy as np
    from mlx_lm.tuner.datasets import CacheDataset, load_dataset
    from mlx_lm.tuner.trainer import evaluate
    from mlx_lm.utils import load

    np.random.seed(cfg.seed)
    mx.random.seed(cfg.seed)
    log(f"Loading model {Path(cfg.model).name}")
    model, tokenizer = load(cfg.model)
    model = _prepare_model(model, cfg.compute_dtype)
    try:
        train_set, valid_set, test_set = load_dataset(_mlx_args(cfg), tokenizer)
    except ValueError as err:
        raise UserError(f"{cfg.data}: {err}") from None
    state = box.state
    if cfg.train:
        trainable = apply_fine_tune_type(model, cfg)
        if cfg.packing:
            check_packable(model)
        if cfg.resume_adapter_file and not resuming:
            log(f"Continuing from the adapter {cfg.resume_adapter_file}")
            load_trainable(model, Path(cfg.resume_adapter_file))
        rank = rank or World()
        if rank.is_main:
            write_adapter_config(run_dir, cfg)
        optimizer = build_optimizer(cfg)
        loaded, grads = restore(run_dir, model, optimizer, box, emitter, log, resuming)
        state = box.state
        emitter.emit(
            ev.Start(
                run_dir=str(run_dir),
                model=cfg.model,
                total_steps=cfg.iters,
                fine_tune_type=cfg.fine_tune_type,
                trainable_parameters=int(trainable),
                resumed_from_step=state.step if loaded is not None else None,
                world_size=rank.size,
                batch_size=cfg.batch_size,
                learning_rate=cfg.learning_rate,
            )
        )
        plan = BatchPlan(
            CacheDataset(train_set),
            cfg.batch_size,
            cfg.max_seq_length,
            cfg.seed,
            cfg.packing,
            rank=rank.rank,
            world_size=rank.size,
        )
        loop = Loop(
            cfg=cfg,
            model=model,
            optimizer=optimizer,
            plan=plan,
            valid_set=CacheDataset(valid_set),
            run_dir=run_dir,
            emitter=emitter,
            control=control,
            state=state,
            log=log,
            sampler=make_sampler(model, tokenizer, cfg, emitter.emit) if rank.is_main else None,
            grad_accum=grads,
            writes=rank.is_main,
        )
        try:
            status = loop.run()
        except Diverged as err:
            raise Failed(str(err), "diverged", "diverged") from None
        except (RuntimeError, MemoryError) as err:
            if not is_out_of_memory(err):
                raise
            raise Failed(_oom_message(cfg, state.step, err), "out_of_memory", "failed") from None
        if status == "stopped":
            emitter.emit(ev.Stopped(step=state.step, message="stopped; checkpoint saved"))
            return status
    else:
        emitter.emit(ev.Start(run_dir=str(run_dir), model=cfg.model, total_steps=0))
    if cfg.test:
        loss = evaluate(
            model=model,
            dataset=CacheDataset(test_set),
            batch_size=cfg.batch_size,
            num_batches=cfg.test_batches,
            max_seq_length=cfg.max_seq_length,
        )
        emitter.emit(ev.Test(test_loss=loss, test_ppl=math.exp(min(loss, 50.0))))
    return "completed"


def adapter_base_model(run_dir: Path) -> str:
    """The base model a run's adapters were trained on (recorded in adapter_config.json)."""
    path = Path(run_dir) / "adapter_config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no adapter_config.json; is this a finished run directory?")
    return json.loads(path.read_text(encoding="utf-8")).get("model", "")
