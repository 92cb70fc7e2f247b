"""`report_to`: every event's figures also go to TensorBoard and/or Weights & Biases.

A tracker is one more sink of the job's Emitter (core/events.py): it sees each event as
written to metrics.jsonl and logs its numbers at the event's step, so everything a run
reports reaches it: losses, learning rate, speed, memory, RL reward and KL, DPO margins and
accuracy, the test loss and the final evaluation. TensorBoard gets event files in
RUN_DIR/tensorboard (tensorboardX, no TensorFlow); W&B a run in RUN_DIR/wandb, offline
(synced later with `wandb sync`) unless this machine is logged in or WANDB_MODE says so.
Both packages are optional: `pip install "mlxstudio[tracking]"`.
"""

from __future__ import annotations

import importlib.util
import netrc
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from mlxstudio.core.errors import UserError

REPORTERS = {"tensorboard": "tensorboardX", "wandb": "wandb"}  # report_to name -> package
INSTALL = 'pip install "mlxstudio[tracking]"'
TENSORBOARD_DIR = "tensorboard"
DEFAULT_PROJECT = "mlxstudio"
# Fields of an event that are bookkeeping, not figures to plot
NOT_FIGURES = {"step", "total_steps", "time", "elapsed_s", "world_size", "resumed_from_step"}


def reporters(report_to: str | None) -> list[str]:
    """The trackers a report_to value names: one, or a comma list as mlx-lm takes it."""
    return [name.strip().lower() for name in (report_to or "").split(",") if name.strip()]


def report_to_problem(report_to: str | None) -> str | None:
    """Why a report_to value cannot be honoured (config.py asks), or None."""
    unknown = [name for name in reporters(report_to) if name not in REPORTERS]
    if unknown:
        return (
            f"'report_to' names {unknown[0]!r}, which is not built in: use tensorboard, "
            f"wandb or both as 'tensorboard,wandb'"
        )
    return None


def missing_packages(report_to: str | None) -> list[str]:
    """The packages the chosen trackers need that are not installed."""
    wanted = [REPORTERS[n] for n in reporters(report_to) if n in REPORTERS]
    return [pkg for pkg in wanted if importlib.util.find_spec(pkg) is None]


def figures(record: dict) -> dict[str, float]:
    """An event's numbers as tracker tags (`train/train_loss`, `val/kl`, `eval/tuned/...`)."""
    kind = record.get("event", "")
    out: dict[str, float] = {}

    def add(prefix: str, fields: dict) -> None:
        for key, value in fields.items():
            if isinstance(value, dict):
                add(f"{prefix}/{key}", value)
            elif (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and key not in NOT_FIGURES
            ):
                out[f"{prefix}/{key}"] = float(value)

    if kind in ("train", "val", "test", "eval"):
        add(kind, record)
    return out


class Tracker(Protocol):
    def log(self, tags: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class TensorBoard:
    def __init__(self, run_dir: Path, config: dict) -> None:
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / TENSORBOARD_DIR), flush_secs=10)
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in config.items()))

    def log(self, tags: dict[str, float], step: int) -> None:
        for tag, value in tags.items():
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        self.writer.close()


def wandb_logged_in() -> bool:
    """An API key in the environment or in ~/.netrc (where `wandb login` puts it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1]
    try:
        return netrc.netrc().authenticators(host.split("/")[0]) is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandB:
    def __init__(self, run_dir: Path, config: dict, project: str | None) -> None:
        import wandb

        mode = os.environ.get("WANDB_MODE") or ("online" if wandb_logged_in() else "offline")
        self.mode = mode
        self.run = wandb.init(
            project=project or DEFAULT_PROJECT,
            name=run_dir.name,
            id=re.sub(r"[^\w-]", "-", run_dir.name)[-64:],  # a resumed run goes on in it
            resume="allow",
            dir=str(run_dir),
            config=config,
            mode=mode,
            # stdout carries the `@event` protocol: W&B must not wrap it
            settings=wandb.Settings(console="off", silent=True, disable_git=True),
        )

    def log(self, tags: dict[str, float], step: int) -> None:
        self.run.log(tags, step=step)

    def close(self) -> None:
        import wandb

        self.run.finish()
        wandb.teardown()  # waits for W&B's service to have written (or sent) everything


class Trackers:
    """The Emitter's extra sink: each event's figures to every tracker; a tracker that
    fails is dropped with one line in the log, never the run."""

    def __init__(self, trackers: dict[str, Tracker], log: Callable[[str], None]) -> None:
        self.trackers, self.log = trackers, log
        self.step = 0

    def __call__(self, record: dict) -> None:
        if isinstance(record.get("step"), int):
            self.step = record["step"]
        tags = figures(record)
        if not tags:
            return
        for name, tracker in list(self.trackers.items()):
            try:
                tracker.log(tags, self.step)
            except Exception as err:  # noqa: BLE001 - a tracker never fails the run
                self.log(f"{name}: logging stopped ({type(err).__name__}: {err})")
                self.trackers.pop(name)

    def close(self) -> None:
        for name, tracker in self.trackers.items():
            try:
                tracker.close()
            except Exception as err:  # noqa: BLE001
                self.log(f"{name}: could not close ({type(err).__name__}: {err})")
        self.trackers = {}


def require_packages(report_to: str | None) -> None:
    """A UserError naming what to install when a chosen tracker's package is missing."""
    if missing := missing_packages(report_to):
        raise UserError(
            f"config: report_to: {report_to} needs {' and '.join(missing)}, which is not "
            f"installed: {INSTALL} (or remove report_to)"
        )


def require_trackers(cfg):
    """cfg, once its trackers are known to be installed: a run that cannot log where it was
    asked to stops before its run directory exists (core/train/stage.py)."""
    require_packages(cfg.report_to)
    return cfg


def open_trackers(
    report_to: str | None,
    run_dir: Path,
    config: dict[str, Any],
    project: str | None = None,
    log: Callable[[str], None] = print,
) -> Trackers | None:
    """The trackers report_to names, opened on `run_dir`; None when it names none. A
    UserError says which package to install when one is missing."""
    names = reporters(report_to)
    if not names:
        return None
    if problem := report_to_problem(report_to):
        raise UserError(f"config: {problem}")
    require_packages(report_to)
    opened: dict[str, Tracker] = {}
    if "tensorboard" in names:
        opened["tensorboard"] = TensorBoard(run_dir, config)
        log(f"TensorBoard: tensorboard --logdir {run_dir / TENSORBOARD_DIR}")
    if "wandb" in names:
        opened["wandb"] = wandb = WandB(run_dir, config, project)
        if wandb.mode == "offline":
            offline = run_dir / "wandb" / "offline-run-*"
            log(f"W&B: offline (not logged in); upload later with: wandb sync {offline}")
    return Trackers(opened, log)


def attach_trackers(emitter, cfg, run_dir: Path, log: Callable[[str], None]) -> Trackers | None:
    """Open cfg.report_to's trackers and make them a sink of `emitter` (a job's skeleton,
    core/train/job.py); the caller closes what is returned."""
    trackers = open_trackers(cfg.report_to, run_dir, cfg.to_dict(), cfg.project_name, log)
    if trackers is not None:
        emitter.extra_sinks.append(trackers)
    return trackers
