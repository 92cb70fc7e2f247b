"""What every training job (SFT, pretraining, RL) shares: its events and run.json status,
stop signals, and turning each way a run can end into the right event and exit code."""

from __future__ import annotations

import platform
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from mlxstudio.core import events as ev
from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig, dump_config
from mlxstudio.core.errors import UserError
from mlxstudio.core.eval.after_run import evaluate_after_run
from mlxstudio.core.power import awake_while_training
from mlxstudio.core.runs import Status
from mlxstudio.core.tracking import attach_trackers
from mlxstudio.core.train.control import Control, signal_control
from mlxstudio.core.train.loop import LoopState
from mlxstudio.core.train.trainable import adapter_file

EXIT_CODES = {
    Status.COMPLETED: ev.EXIT_COMPLETED,
    Status.STOPPED: ev.EXIT_STOPPED,
    Status.DIVERGED: ev.EXIT_USER,
    Status.FAILED: ev.EXIT_CRASH,
}

# train(emitter, control, box) -> final status; box.state is the loop's LoopState
TrainFn = Callable[[ev.Emitter, Control, types.SimpleNamespace], str]


@dataclass
class RunResult:
    run_dir: Path
    status: str  # completed | stopped | diverged | failed
    first_val_loss: float | None
    last_val_loss: float | None
    last_train_loss: float | None
    step: int = 0
    best_step: int | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, ev.EXIT_CRASH)


class Failed(Exception):
    """A run that cannot go on (diverged, out of memory): `code` for the error event."""

    def __init__(self, message: str, code: str, status: str) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def quiet(message: str) -> None:
    """The log of ranks other than 0: rank 0 reports for all."""


def report_early_error(events_stream: TextIO | None, err: UserError) -> None:
    """Before a run directory exists, the supervisor hears of an error only on stdout."""
    if events_stream is not None:
        ev.print_event(events_stream, ev.Error(message=str(err), code="user_error"))


def new_run_dir(cfg: RunConfig, default_name: str) -> Path:
    """An explicit adapter_path is the run directory (as in mlx-lm); else runs/<name>, the
    name being cfg.name or `default_name` with the date and time."""
    if cfg.adapter_path:
        run_dir = Path(cfg.adapter_path).expanduser()
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir.resolve()
    return runs.new_run_dir(cfg.name or f"{default_name}-{time.strftime('%Y%m%d-%H%M%S')}")


def create_run(cfg: RunConfig, model_path: Path, **resolved: str) -> tuple[RunConfig, Path]:
    """The run directory of a checked config, with its paths made absolute (the model, the
    adapter it starts from, `resolved` ones such as data) and its config.yaml written."""
    if cfg.resume_adapter_file:
        cfg = replace(cfg, resume_adapter_file=str(adapter_file(cfg.resume_adapter_file)))
    run_dir = new_run_dir(cfg, model_path.name)
    cfg = replace(cfg, model=str(model_path), adapter_path=str(run_dir), **resolved)
    dump_config(cfg, run_dir / runs.CONFIG)
    return cfg, run_dir


def open_run(
    cfg: RunConfig | None,
    resume_dir: Path | None,
    events_stream: TextIO | None,
    new_run: Callable[[RunConfig], tuple[RunConfig, Path]],
) -> tuple[RunConfig, Path]:
    """The config and run directory of a new run, or of the run `resume_dir` continues."""
    from mlxstudio.core.config import load_config

    if resume_dir is not None:
        run_dir = Path(resume_dir).expanduser().resolve()
        if not (run_dir / runs.CONFIG).is_file():
            raise UserError(f"{run_dir}: not a run directory (no {runs.CONFIG})")
        if runs.read_meta(run_dir).get("status") == Status.COMPLETED:
            raise UserError(f"{run_dir}: the run already completed; raise 'iters' to go on")
        return load_config(run_dir / runs.CONFIG), run_dir
    if cfg is None:
        raise UserError("no config given and no run directory to resume")
    try:
        return new_run(cfg)
    except UserError as err:
        report_early_error(events_stream, err)
        raise


def restore(
    run_dir: Path,
    model,
    optimizer,
    box: types.SimpleNamespace,
    emitter: ev.Emitter,
    log: Callable[[str], None],
    resuming: bool,
):
    """Load the run's last good checkpoint into model and optimizer when resuming.

    Returns (checkpoint or None, half-accumulated gradients or None); box.state follows."""
    from mlx.utils import tree_map_with_path

    from mlxstudio.core.train import checkpoint as ckpt

    if not resuming:
        return None, None
    warn = lambda m: emitter.emit(ev.Warning(message=m))  # noqa: E731
    loaded = ckpt.latest_checkpoint(run_dir, warn=warn)
    if loaded is None:
        warn("no usable checkpoint in the run; starting again from step 0")
        return None, None
    model.load_weights(list(loaded.adapters.items()), strict=False)
    optimizer.state = loaded.optimizer
    grads = None
    if loaded.gradients:  # back into the shape of the model's gradient tree
        flat = loaded.gradients
        grads = tree_map_with_path(lambda k, _: flat[k], model.trainable_parameters())
    box.state = LoopState.from_checkpoint(loaded)
    emitter.elapsed_before = float(loaded.state.get("elapsed_s", 0.0))
    log(f"Resuming from the checkpoint of step {box.state.step}")
    return loaded, grads


def finish(
    run_dir: Path, emitter: ev.Emitter, status: str, state: LoopState, writes: bool = True
) -> None:
    import mlx.core as mx

    if writes:
        runs.update_meta(
            run_dir,
            status=status,
            ended=time.time(),
            step=state.step,
            peak_memory_gb=mx.get_peak_memory() / 1e9,
            first_val_loss=state.val_losses[0] if state.val_losses else None,
            last_val_loss=state.val_losses[-1] if state.val_losses else None,
            best_checkpoint=state.best_step,
            last_checkpoint=state.last_saved if state.last_saved >= 0 else None,
        )
    emitter.emit(ev.Finished(status=status, step=state.step))


def supervise(
    run_dir: Path,
    cfg: RunConfig,
    train: TrainFn,
    *,
    model: str,
    on_event: ev.EventSink | None,
    events_stream: TextIO | None,
    control: Control | None,
    log: Callable[[str], None],
    writes: bool = True,
    world_size: int = 1,
) -> RunResult:
    """Run `train` with events, signals and run.json kept; every ending becomes an event
    (stopped, error, finished) and a RunResult; nothing written before is lost."""
    emitter = ev.Emitter(
        run_dir / runs.METRICS if writes else None, sink=on_event, stream=events_stream
    )
    control = control or Control()
    if writes:
        runs.update_meta(
            run_dir,
            status=Status.RUNNING,
            stage=cfg.stage,
            model=model,
            data=cfg.data,
            started=time.time(),
            host=platform.node(),
        )
        if world_size > 1:
            runs.update_meta(run_dir, world_size=world_size)
    log(f"Run directory: {run_dir}")
    box = types.SimpleNamespace(state=LoopState())  # the loop's progress, even after a crash
    status = Status.FAILED
    trackers = None
    try:
        trackers = attach_trackers(emitter, cfg, run_dir, log) if writes else None  # report_to
        with signal_control(control), awake_while_training(run_dir.name, emitter, log):
            status = train(emitter, control, box)
            if status == Status.COMPLETED and writes:  # base vs fine-tuned; never fails the run
                evaluate_after_run(run_dir, cfg, emitter, log, lambda: control.stop_requested)
    except KeyboardInterrupt:  # a second stop request: the last checkpoint stands
        status = Status.STOPPED
        emitter.emit(ev.Stopped(step=box.state.step, message="interrupted; checkpoint kept"))
    except Failed as failed:
        status = failed.status
        emitter.emit(ev.Error(message=str(failed), code=failed.code, step=box.state.step))
        if failed.code != "diverged":
            raise UserError(str(failed)) from None
    except UserError as err:
        emitter.emit(ev.Error(message=str(err), code="user_error"))
        raise
    except Exception as err:
        trace = traceback.format_exc()
        emitter.emit(
            ev.Error(message=f"{type(err).__name__}: {err}", code="crash", traceback=trace)
        )
        raise
    finally:
        finish(run_dir, emitter, status, box.state, writes=writes)
        if trackers is not None:
            trackers.close()
    state = box.state
    return RunResult(
        run_dir=run_dir,
        status=status,
        first_val_loss=state.val_losses[0] if state.val_losses else None,
        last_val_loss=state.val_losses[-1] if state.val_losses else None,
        last_train_loss=state.train_losses[-1] if state.train_losses else None,
        step=state.step,
        best_step=state.best_step,
    )
