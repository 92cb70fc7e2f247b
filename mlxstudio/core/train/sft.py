"""Supervised fine-tuning (LoRA / DoRA / full, QLoRA on quantized bases) writing a run
directory; resumable from its checkpoints. The job skeleton is stage.py, the loop loop.py,
the protocol events.py."""

from __future__ import annotations

import json
import math
import types
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig
from mlxstudio.core.distributed import World
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.train.batches import BatchPlan, check_packable
from mlxstudio.core.train.data_check import check_data_folder
from mlxstudio.core.train.job import RunResult, create_run
from mlxstudio.core.train.samples import make_sampler
from mlxstudio.core.train.stage import Built, run_stage
from mlxstudio.core.train.trainable import (
    adapter_file,
    build_optimizer,
    check_full_on_quantized,
    load_base,
    make_trainable,
    write_adapter_config,
)


class SFT:
    """Stage sft: mlx-lm's datasets, loss and batching; the test set after training."""

    def new_run(self, cfg: RunConfig, writes: bool = True) -> tuple[RunConfig, Path]:
        model_path = resolve_model(cfg.model)
        check_full_on_quantized(cfg, model_path)
        data_path = check_data_folder(cfg.data, need_test=cfg.test)
        if not cfg.train and not cfg.test:
            raise UserError("config: nothing to do; set 'train: true' and/or 'test: true'")
        if not writes:  # a rank other than 0: rank 0 alone creates the run directory
            run_dir = Path(cfg.adapter_path or model_path.name).expanduser()
            start = cfg.resume_adapter_file and str(adapter_file(cfg.resume_adapter_file))
            cfg = replace(cfg, resume_adapter_file=start or None)
            return replace(cfg, model=str(model_path), data=str(data_path)), run_dir
        return create_run(cfg, model_path, data=str(data_path))

    def build(
        self, cfg: RunConfig, run_dir: Path, log: Callable[[str], None], resuming: bool, rank: World
    ) -> Built:
        from mlx_lm.tuner.datasets import CacheDataset, load_dataset

        model, tokenizer = load_base(cfg, log)
        try:
            args = types.SimpleNamespace(**cfg.to_dict())  # mlx-lm reads its CLI namespace
            train_set, valid_set, test_set = load_dataset(args, tokenizer)
        except ValueError as err:
            raise UserError(f"{cfg.data}: {err}") from None
        after = None
        if cfg.test:
            after = lambda emitter: _test(cfg, model, CacheDataset(test_set), emitter)  # noqa: E731
        if not cfg.train:
            return Built(model=model, after=after)
        trainable = make_trainable(model, cfg, log)  # a checkpoint, if resuming, then wins
        if cfg.packing:
            check_packable(model)
        if rank.is_main:
            write_adapter_config(run_dir, cfg)
        plan = BatchPlan(
            CacheDataset(train_set),
            cfg.batch_size,
            cfg.max_seq_length,
            cfg.seed,
            cfg.packing,
            rank=rank.rank,
            world_size=rank.size,
        )
        return Built(
            model=model,
            optimizer=build_optimizer(cfg),
            trainable=trainable,
            loop_args=dict(plan=plan, valid_set=CacheDataset(valid_set)),
            make_sampler=lambda emit: make_sampler(model, tokenizer, cfg, emit),
            start_fields=dict(
                world_size=rank.size, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate
            ),
            after=after,
        )


def _test(cfg: RunConfig, model, test_set, emitter: ev.Emitter) -> None:
    """The test split's loss, as mlx-lm's --test reports it."""
    from mlx_lm.tuner.trainer import evaluate

    loss = evaluate(
        model=model,
        dataset=test_set,
        batch_size=cfg.batch_size,
        num_batches=cfg.test_batches,
        max_seq_length=cfg.max_seq_length,
    )
    emitter.emit(ev.Test(test_loss=loss, test_ppl=math.exp(min(loss, 50.0))))


def run_sft(cfg: RunConfig | None, *args, **kwargs) -> RunResult:
    """Fine-tune cfg.model on cfg.data, or continue the run in `resume_dir`: see
    stage.run_stage for the arguments and what is reported where."""
    return run_stage(SFT(), cfg, *args, **kwargs)


def adapter_base_model(run_dir: Path) -> str:
    """The base model a run's adapters were trained on (recorded in adapter_config.json)."""
    path = Path(run_dir) / "adapter_config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no adapter_config.json; is this a finished run directory?")
    return json.loads(path.read_text(encoding="utf-8")).get("model", "")
