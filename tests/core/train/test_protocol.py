"""The supervision protocol of `mlxstudio train --events`: @event lines, signals, exit codes,
and a run killed with SIGKILL that resumes where its last checkpoint left it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlxstudio.core import runs
from mlxstudio.core.events import parse_line

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def write_config(tmp_path: Path, model: Path, data: Path, **overrides) -> Path:
    values = dict(
        model=str(model),
        data=str(data),
        name="proto",
        iters=100000,  # never reached: each test ends the job with a signal
        batch_size=4,
        num_layers=2,
        learning_rate=5e-3,
        steps_per_report=1,
        steps_per_eval=1000,
        save_every=5,
        val_batches=-1,
        max_seq_length=128,
    )
    values.update(overrides)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


class Job:
    """`python -m mlxstudio train ... --events`, read line by line like the GUI engine does."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env.pop("MLXSTUDIO_BLAS_CHECKED", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlxstudio", "train", *args, "--events"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.events: list[dict] = []
        self.log: list[str] = []

    def until(self, predicate) -> dict:
        for line in self.proc.stdout:
            event = parse_line(line)
            if event is None:
                self.log.append(line)
                continue
            self.events.append(event)
            if predicate(event):
                return event
        raise AssertionError(f"job ended first:\n{''.join(self.log)}\n{self.proc.stderr.read()}")

    def finish(self, timeout: float = 60) -> int:
        out, _ = self.proc.communicate(timeout=timeout)
        for line in out.splitlines(keepends=True):
            event = parse_line(line)
            (self.events.append(event) if event else self.log.append(line))
        return self.proc.returncode


def losses(events: list[dict]) -> dict[int, float]:
    return {e["step"]: e["train_loss"] for e in events if e["event"] == "train"}


def test_sigkill_then_resume_continues_the_curve(tmp_path, tiny_model, chat_data, studio_home):
    config = write_config(tmp_path, tiny_model, chat_data)
    job = Job(str(config))
    start = job.until(lambda e: e["event"] == "start")
    saved = job.until(lambda e: e["event"] == "checkpoint" and e["step"] >= 10)
    job.until(lambda e: e["event"] == "train" and e["step"] >= saved["step"] + 3)
    job.proc.kill()  # SIGKILL: no chance to save anything more
    job.proc.wait()
    run_dir = Path(start["run_dir"])
    before = losses(job.events)
    killed_at = max(before)

    resumed = Job("--resume", str(run_dir))
    again = resumed.until(lambda e: e["event"] == "start")
    assert again["resumed_from_step"] >= saved["step"]
    resumed.until(lambda e: e["event"] == "train" and e["step"] >= killed_at + 2)
    resumed.proc.send_signal(signal.SIGTERM)
    assert resumed.finish() == 130
    after = losses(resumed.events)
    # steps trained twice (after the checkpoint, before the kill) give the same losses
    replayed = [s for s in before if s > again["resumed_from_step"]]
    assert replayed
    for step in replayed:
        assert after[step] == pytest.approx(before[step], rel=1e-4), step
    assert min(after) == again["resumed_from_step"] + 1  # nothing skipped, nothing repeated
    kinds = [e["event"] for e in resumed.events]
    assert kinds[-3:] == ["checkpoint", "stopped", "finished"]
    assert resumed.events[-1]["status"] == "stopped"
    # metrics.jsonl holds both attempts: every event ever written is kept
    on_disk = list(runs.read_events(run_dir))
    assert len(on_disk) == len(job.events) + len(resumed.events)
    # the history before the kill is the run's: its first validation, its token count
    first_val = next(e["val_loss"] for e in job.events if e["event"] == "val")
    assert runs.read_meta(run_dir)["first_val_loss"] == pytest.approx(first_val)
    tokens = {e["step"]: e["trained_tokens"] for e in job.events if e["event"] == "train"}
    resumed_tokens = {
        e["step"]: e["trained_tokens"] for e in resumed.events if e["event"] == "train"
    }
    for step in replayed:
        assert resumed_tokens[step] == tokens[step], step


def test_pause_continue_and_stop_by_signals(tmp_path, tiny_model, chat_data):
    job = Job(str(write_config(tmp_path, tiny_model, chat_data)))
    job.until(lambda e: e["event"] == "train" and e["step"] >= 2)
    job.proc.send_signal(signal.SIGUSR1)
    paused = job.until(lambda e: e["event"] == "paused")
    job.proc.send_signal(signal.SIGUSR2)
    job.until(lambda e: e["event"] == "resumed" and e["step"] == paused["step"])
    job.until(lambda e: e["event"] == "train" and e["step"] > paused["step"])
    job.proc.send_signal(signal.SIGINT)
    assert job.finish() == 130
    stopped = next(e for e in job.events if e["event"] == "stopped")
    assert any(e["event"] == "checkpoint" and e["step"] == stopped["step"] for e in job.events)
    assert "mlxstudio train --resume" in "".join(job.log)


def test_bad_config_is_an_error_event_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: x\nlerning_rate: 1\n")
    job = Job(str(bad))
    assert job.finish() == 2
    assert job.events[-1]["event"] == "error" and job.events[-1]["code"] == "user_error"
    assert "did you mean 'learning_rate'" in job.events[-1]["message"]
