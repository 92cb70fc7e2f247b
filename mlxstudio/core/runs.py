"""The run directory: the source of truth for one training run.

runs/<name>/
  config.yaml          the resolved RunConfig
  run.json             metadata: status, model, data, start/end times, final losses
  metrics.jsonl        one event per line (see core/events.py for the kinds)
  adapters.safetensors + adapter_config.json, NNNNNNN_adapters.safetensors checkpoints
                       (mlx-lm's adapter layout, so `mlx_lm generate --adapter-path` works)
  checkpoints/NNNNNNN/ resumable checkpoints: adapters, optimizer state, data position
                       (see core/train/checkpoint.py)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxstudio.core import paths


class Status:
    """How a run stands: run.json's "status" and the `finished` event's, spelled once."""

    RUNNING = "running"
    COMPLETED = "completed"  # every step done; only more `iters` goes on
    STOPPED = "stopped"  # asked to stop (or interrupted): resumable from its checkpoint
    FAILED = "failed"  # out of memory, the user's code, a crash: resumable once fixed
    DIVERGED = "diverged"  # the loss became NaN or exploded: change a setting first
    ENDED = (COMPLETED, STOPPED, FAILED, DIVERGED)


METRICS = "metrics.jsonl"
META = "run.json"
CONFIG = "config.yaml"


def new_run_dir(name: str, parent: Path | None = None) -> Path:
    """Create runs/<name>, adding -2, -3... if that name is taken."""
    parent = parent or paths.runs_dir()
    parent.mkdir(parents=True, exist_ok=True)
    candidate, n = parent / name, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = parent / f"{name}-{n}"


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class EventLog:
    """Appends events to metrics.jsonl, flushed per line so a crash loses nothing written."""

    path: Path
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.started or time.time()

    def write(self, event: str, **fields: Any) -> dict:
        record = {"event": event, "time": time.time()}
        record["elapsed_s"] = round(record["time"] - self.started, 3)
        record.update(fields)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        return record


def read_events(run_dir: Path) -> Iterator[dict]:
    """Events of a run, skipping a torn last line (a run killed mid-write)."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def read_meta(run_dir: Path) -> dict:
    path = Path(run_dir) / META
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def update_meta(run_dir: Path, **fields: Any) -> dict:
    meta = read_meta(run_dir)
    meta.update(fields)
    write_json_atomic(Path(run_dir) / META, meta)
    return meta


def is_adapter_dir(path: Path) -> bool:
    return (path / "adapters.safetensors").is_file() and (path / "adapter_config.json").is_file()
