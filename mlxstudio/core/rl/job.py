"""An RL job (stage rl, grpo or dpo) writing a run directory, resumable like SFT.

The wrapper mirrors run_sft: the same events, exit codes, checkpoints, run.json and
stop / pause signals; only the step (core/rl/loop.py + a trainer) differs.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig, dump_config
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.rl import data as rl_data
from mlxstudio.core.rl.loop import RecordPlan, RLLoop
from mlxstudio.core.rl.reference import Reference
from mlxstudio.core.rl.rewards import BUILTINS, RewardError, load_reward_model, score, split_spec
from mlxstudio.core.train import events as ev
from mlxstudio.core.train.control import Control
from mlxstudio.core.train.job import Failed, RunResult, open_run, restore, supervise
from mlxstudio.core.train.loop import Diverged, is_out_of_memory
from mlxstudio.core.train.sft import _oom_message, _prepare_model, resolve_run_dir
from mlxstudio.core.train.trainable import (
    adapter_file,
    apply_fine_tune_type,
    build_optimizer,
    load_trainable,
    write_adapter_config,
)

RL_STAGES = ("rl", "grpo", "dpo")


def _from_sft_run(cfg: RunConfig) -> RunConfig:
    """`model` may name an SFT run: its base model, starting from its adapter and settings."""
    run = Path(cfg.model).expanduser()
    if not runs.is_adapter_dir(run):
        return cfg
    settings = json.loads((run / "adapter_config.json").read_text(encoding="utf-8"))
    keep = {k: settings[k] for k in ("fine_tune_type", "num_layers") if k in settings}
    if settings.get("lora_parameters"):
        keep["lora_parameters"] = settings["lora_parameters"]
    return replace(cfg, model=settings["model"], resume_adapter_file=str(run), **keep)


def read_data(cfg: RunConfig, reward_model=None) -> tuple[list, list]:
    """(train, valid) examples of the stage; scored data without rewards gets them from
    the reward model."""
    train_file, valid_file = rl_data.data_files(cfg.data)
    if cfg.stage == "dpo":
        read = lambda p: rl_data.read_pairs(p, cfg)  # noqa: E731
    elif cfg.stage == "grpo":
        read = lambda p: rl_data.read_prompts(p, cfg)  # noqa: E731
    else:
        need = cfg.reward_model is None
        read = lambda p: rl_data.read_scored(p, cfg, need_reward=need)  # noqa: E731
    train = read(train_file)
    valid = read(valid_file) if valid_file else []
    if cfg.stage == "rl" and reward_model is not None:
        for part in (train, valid):
            todo = [s for s in part if s.reward is None]
            if todo:
                rewards = score(reward_model, [s.prompt for s in todo], [s.response for s in todo])
                for s, r in zip(todo, rewards, strict=True):
                    s.reward = r
    return train, valid


def _check(cfg: RunConfig) -> None:
    if cfg.stage not in RL_STAGES:
        raise UserError(f"config: stage '{cfg.stage}' is not an RL stage ({', '.join(RL_STAGES)})")
    if cfg.stage == "grpo" and not cfg.reward_model:
        raise UserError("config: stage grpo needs reward_model (a built-in or file.py:Class)")
    if cfg.ppo_mini_batch_size is not None and cfg.ppo_mini_batch_size < 1:
        raise UserError("config: 'ppo_mini_batch_size' must be at least 1")
    if cfg.stage == "grpo" and cfg.group_size < 2:
        raise UserError("config: GRPO compares responses within a group: group_size >= 2")


def _new_run(cfg: RunConfig) -> tuple[RunConfig, Path]:
    _check(cfg)
    cfg = _from_sft_run(cfg)
    model_path = resolve_model(cfg.model)
    spec = cfg.reward_model
    learned = bool(spec) and spec.startswith("learned:")
    if learned:  # a reward run: absolute, and checked without loading its model twice
        from mlxstudio.core.rl.learned_reward import check_reward_run, learned_run_dir

        run = learned_run_dir(spec).resolve()
        check_reward_run(run)
        cfg = replace(cfg, reward_model=f"learned:{run}")
    elif spec and spec not in BUILTINS:  # a file: make it absolute
        file, cls = split_spec(spec)
        absolute = str(Path(file).expanduser().resolve())
        cfg = replace(cfg, reward_model=absolute + (f":{cls}" if cls else ""))
    reward_model = None
    if cfg.reward_model and (not learned or cfg.stage == "rl"):  # rl scores data up front
        reward_model = load_reward_model(cfg.reward_model, cfg.reward_kwargs)
    data_path = Path(cfg.data).expanduser().resolve()
    cfg = replace(cfg, data=str(data_path))
    read_data(cfg, reward_model)  # every file:line problem before a run directory exists
    if cfg.resume_adapter_file:
        cfg = replace(cfg, resume_adapter_file=str(adapter_file(cfg.resume_adapter_file)))
    run_dir = resolve_run_dir(cfg, model_path)
    cfg = replace(cfg, model=str(model_path), adapter_path=str(run_dir))
    dump_config(cfg, run_dir / runs.CONFIG)
    return cfg, run_dir


def run_rl(
    cfg: RunConfig | None,
    on_event: ev.EventSink | None = None,
    log: Callable[[str], None] = print,
    *,
    events_stream: TextIO | None = None,
    control: Control | None = None,
    resume_dir: Path | None = None,
) -> RunResult:
    """Train cfg.model by cfg.stage (rl: offline PPO, grpo, dpo), or continue the run in
    `resume_dir`; events go where run_sft sends them."""
    cfg, run_dir = open_run(cfg, resume_dir, events_stream, _new_run)
    resuming = resume_dir is not None
    return supervise(
        run_dir,
        cfg,
        lambda emitter, control, box: _train(cfg, run_dir, emitter, control, log, box, resuming),
        model=cfg.model,
        on_event=on_event,
        events_stream=events_stream,
        control=control,
        log=log,
    )


def _trainer(cfg: RunConfig, model, tokenizer, optimizer, reference: Reference):
    reward_model = (
        load_reward_model(cfg.reward_model, cfg.reward_kwargs) if cfg.reward_model else None
    )
    train, valid = read_data(cfg, reward_model)
    args = (model, tokenizer, optimizer, cfg, train, valid, reference)
    if cfg.stage == "dpo":
        from mlxstudio.core.rl.dpo import DPOTrainer

        return DPOTrainer(*args), len(train)
    if cfg.stage == "grpo":
        from mlxstudio.core.rl.grpo import GRPOTrainer

        return GRPOTrainer(*args, reward_model=reward_model), len(train)
    from mlxstudio.core.rl.ppo import OfflinePPOTrainer

    return OfflinePPOTrainer(*args), len(train)


def _train(
    cfg: RunConfig,
    run_dir: Path,
    emitter: ev.Emitter,
    control: Control,
    log: Callable[[str], None],
    box: types.SimpleNamespace,
    resuming: bool,
) -> str:
    import mlx.core as mx
    import numpy as np
    from mlx_lm.utils import load

    np.random.seed(cfg.seed)
    mx.random.seed(cfg.seed)
    log(f"Loading model {Path(cfg.model).name}")
    model, tokenizer = load(cfg.model)
    model = _prepare_model(model, cfg.compute_dtype)
    trainable = apply_fine_tune_type(model, cfg)
    if cfg.resume_adapter_file:
        log(f"Starting from the adapter {cfg.resume_adapter_file}")
        load_trainable(model, Path(cfg.resume_adapter_file))
    reference = Reference(model)  # the starting policy, before any checkpoint is loaded
    write_adapter_config(run_dir, cfg)
    optimizer = build_optimizer(cfg)
    trainer, n_train = _trainer(cfg, model, tokenizer, optimizer, reference)
    loaded, _grads = restore(run_dir, model, optimizer, box, emitter, log, resuming)
    state = box.state
    emitter.emit(
        ev.Start(
            run_dir=str(run_dir),
            model=cfg.model,
            total_steps=cfg.iters,
            fine_tune_type=cfg.fine_tune_type,
            trainable_parameters=int(trainable),
            resumed_from_step=state.step if loaded is not None else None,
        )
    )
    loop = RLLoop(
        cfg=cfg,
        model=model,
        optimizer=optimizer,
        plan=RecordPlan(n_train, cfg.batch_size, cfg.seed),
        valid_set=None,
        run_dir=run_dir,
        emitter=emitter,
        control=control,
        state=state,
        log=log,
        trainer=trainer,
    )
    try:
        status = loop.run()
    except Diverged as err:
        raise Failed(str(err), "diverged", "diverged") from None
    except RewardError as err:  # the user's reward code: keep what was trained so far
        if state.step > 0 and state.last_saved != state.step:
            loop.save(None)
        raise Failed(f"step {state.step + 1}: {err}", "user_error", "failed") from None
    except (RuntimeError, MemoryError) as err:
        if not is_out_of_memory(err):
            raise
        raise Failed(_oom_message(cfg, state.step, err), "out_of_memory", "failed") from None
    if status == "stopped":
        emitter.emit(ev.Stopped(step=state.step, message="stopped; checkpoint saved"))
    return status
