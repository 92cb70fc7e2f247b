"""One job skeleton for every stage (sft, pretrain, rl/grpo/dpo, reward).

The sequence is always: open the run (new, or the one being resumed) -> build the model,
data and optimizer -> restore the last checkpoint -> `start` -> the loop -> map how it
ended (diverged, out of memory, the user's code failing, stopped) -> what the stage does
after training. A stage (a `StageJob`) supplies only `new_run` and `build`; `supervise`
(job.py) keeps run.json, the signals and the final event.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig, Stage
from mlxstudio.core.distributed import World
from mlxstudio.core.errors import UserError
from mlxstudio.core.runs import Status
from mlxstudio.core.tracking import require_trackers
from mlxstudio.core.train.control import Control
from mlxstudio.core.train.job import Failed, RunResult, open_run, quiet, restore, supervise
from mlxstudio.core.train.loop import Diverged, Loop

# What MLX's allocators raise when memory runs out (mlx/allocator.cpp, the Metal and CUDA
# allocators, a Metal command buffer killed for memory); nothing else is "out of memory".
_OUT_OF_MEMORY = re.compile(
    r"\[malloc\] Unable to allocate"
    r"|\[metal::malloc\]"
    r"|Attempting to allocate \d+ bytes"
    r"|Insufficient Memory"
    r"|OutOfMemory"
    r"|cuda\w*(?: failed)?: out of memory",
    re.IGNORECASE,
)


def is_out_of_memory(err: BaseException) -> bool:
    """MLX failed to allocate (or Python itself ran out): the run needs less memory."""
    if isinstance(err, MemoryError):
        return True
    return isinstance(err, RuntimeError) and bool(_OUT_OF_MEMORY.search(str(err)))


def oom_message(cfg: RunConfig, step: int, err: BaseException, hint: str = "") -> str:
    """Out of memory, in the settings' names: what to lower first."""
    import mlx.core as mx

    if not hint:
        hint = (
            f"lower batch_size (now {cfg.batch_size}) or max_seq_length (now {cfg.max_seq_length})"
        )
        if not cfg.grad_checkpoint:
            hint += ", or set grad_checkpoint: true"
        if cfg.fine_tune_type == "full":
            hint += ", or use fine_tune_type: lora"
    peak = mx.get_peak_memory() / 1e9
    return f"out of memory at step {step} (peak {peak:.2f} GB; {err}): {hint}"


@dataclass
class Built:
    """What a stage's `build` hands the skeleton: the trained model and its optimizer,
    how to make the loop, and what to run after training."""

    model: Any
    optimizer: Any = None  # None: nothing to train (SFT with train: false, test only)
    trainable: int = 0
    loop_class: type[Loop] = Loop
    loop_args: dict[str, Any] = field(default_factory=dict)  # plan, valid_set, trainer, ...
    make_sampler: Callable[[Callable], Callable[[int], None] | None] | None = None  # (emit)
    start_fields: dict[str, Any] = field(default_factory=dict)  # extra `start` event fields
    model_name: str = ""  # for `start`; default cfg.model
    after: Callable[[ev.Emitter], None] | None = None  # after training (SFT: the test set)
    user_errors: tuple[type[BaseException], ...] = ()  # the user's code failing in a step
    oom_hint: str = ""  # what to lower, when the stage's settings differ from fine-tuning


class StageJob(Protocol):
    def new_run(self, cfg: RunConfig, writes: bool) -> tuple[RunConfig, Path]:
        """Check cfg (every file:line problem before a run directory exists), resolve its
        paths and create the run directory; `writes` False: a rank other than 0."""

    def build(
        self, cfg: RunConfig, run_dir: Path, log: Callable[[str], None], resuming: bool, rank: World
    ) -> Built:
        """Load the model, data and optimizer."""


@dataclass
class _Job:
    stage: StageJob
    cfg: RunConfig
    run_dir: Path
    log: Callable[[str], None]
    resuming: bool
    rank: World

    def train(self, emitter: ev.Emitter, control: Control, box: types.SimpleNamespace) -> str:
        import mlx.core as mx
        import numpy as np

        cfg, run_dir = self.cfg, self.run_dir
        np.random.seed(cfg.seed)
        mx.random.seed(cfg.seed)
        built = self.stage.build(cfg, run_dir, self.log, self.resuming, self.rank)
        if built.optimizer is None:
            emitter.emit(ev.Start(run_dir=str(run_dir), model=cfg.model, total_steps=0))
            if built.after is not None:
                built.after(emitter)
            return Status.COMPLETED
        loaded, grads = restore(
            run_dir, built.model, built.optimizer, box, emitter, self.log, self.resuming
        )
        state = box.state
        emitter.emit(
            ev.Start(
                run_dir=str(run_dir),
                model=built.model_name or cfg.model,
                total_steps=cfg.iters,
                fine_tune_type=cfg.fine_tune_type,
                trainable_parameters=int(built.trainable),
                resumed_from_step=state.step if loaded is not None else None,
                **built.start_fields,
            )
        )
        sampler = None
        if built.make_sampler is not None and self.rank.is_main:
            sampler = built.make_sampler(emitter.emit)
        loop = built.loop_class(
            cfg=cfg,
            model=built.model,
            optimizer=built.optimizer,
            run_dir=run_dir,
            emitter=emitter,
            control=control,
            state=state,
            log=self.log,
            grad_accum=grads,
            writes=self.rank.is_main,
            sampler=sampler,
            **built.loop_args,
        )
        try:
            status = loop.run()
        except Diverged as err:
            raise Failed(str(err), "diverged", Status.DIVERGED) from None
        except built.user_errors as err:  # the user's code: keep what was trained so far
            if state.step > 0 and state.last_saved != state.step:
                loop.save(None)
            raise Failed(f"step {state.step + 1}: {err}", "user_error", Status.FAILED) from None
        except (RuntimeError, MemoryError) as err:
            if not is_out_of_memory(err):
                raise
            message = oom_message(cfg, state.step, err, built.oom_hint)
            raise Failed(message, "out_of_memory", Status.FAILED) from None
        if status == Status.STOPPED:
            emitter.emit(ev.Stopped(step=state.step, message="stopped; checkpoint saved"))
            return status
        if built.after is not None:
            built.after(emitter)
        return status


def run_stage(
    stage: StageJob,
    cfg: RunConfig | None,
    on_event: ev.EventSink | None = None,
    log: Callable[[str], None] = print,
    *,
    events_stream: TextIO | None = None,
    control: Control | None = None,
    resume_dir: Path | None = None,
) -> RunResult:
    """Train by `stage` (or continue the run in `resume_dir` from its last good checkpoint);
    returns when the run ends. Events go to metrics.jsonl, `on_event` and, as `@event`
    lines, to `events_stream`; SIGINT/SIGTERM stop cleanly. Launched by mlx.launch, every
    rank trains its slice of each batch and rank 0 alone writes."""
    from mlxstudio.core.distributed import world

    rank = world()
    if not rank.is_main:  # quiet: rank 0 reports for all (errors still reach stderr)
        on_event, events_stream, log = None, None, quiet
    cfg, run_dir = open_run(  # report_to's packages are checked before a run folder exists
        cfg, resume_dir, events_stream, lambda c: stage.new_run(require_trackers(c), rank.is_main)
    )
    job = _Job(stage, cfg, run_dir, log, resume_dir is not None, rank)
    return supervise(
        run_dir,
        cfg,
        job.train,
        model=cfg.model,
        on_event=on_event,
        events_stream=events_stream,
        control=control,
        log=log,
        writes=rank.is_main,
        world_size=rank.size,
    )


def refuse_in_rl(cfg: RunConfig) -> None:
    """Keys fine-tuning honours that the RL and reward stages do not: said, not ignored.
    (dpo and reward accumulate gradients; PPO and GRPO update per mini-batch.)"""
    if cfg.grad_accumulation_steps > 1 and cfg.stage in (Stage.RL, Stage.GRPO):
        raise UserError(
            f"config: grad_accumulation_steps ({cfg.grad_accumulation_steps}) is for "
            f"fine-tuning, dpo and reward; stage {cfg.stage} updates per "
            f"ppo_mini_batch_size: set it to 1 and lower batch_size or ppo_mini_batch_size "
            f"to save memory"
        )
    if cfg.packing:
        raise UserError(
            f"config: packing joins token rows of fine-tuning data; stage {cfg.stage} "
            f"trains on whole prompt/response examples: set packing: false"
        )
