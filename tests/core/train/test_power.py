"""No sleep while a job runs: the inhibitor's command, held for the job and released however
it ends. `caffeinate` and `systemd-inhibit` are fakes on PATH that record their argv and
lifetime and watch the pid as the real ones do (neither works in this container)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlxstudio.core import power, runs
from mlxstudio.core.config import RunConfig
from mlxstudio.core.events import parse_line
from mlxstudio.core.train.job import supervise
from mlxstudio.core.train.sft import run_sft

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX helpers")

# Records "$0 argv" and "started", then "ended: <why>" when it goes.
COMMON = """#!/bin/bash
rec="$FAKE_RECORD/$(basename "$0")"
printf '%s\\n' "$@" > "$rec.argv"
echo started > "$rec.life"
trap 'echo "ended: signal" >> "$rec.life"; exit 0' TERM
"""
# caffeinate -i -w PID: hold until PID exits.
CAFFEINATE = (
    COMMON
    + """pid="${@: -1}"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
echo "ended: pid exited" >> "$rec.life"
"""
)
# systemd-inhibit --opt... COMMAND...: hold while COMMAND runs.
SYSTEMD_INHIBIT = (
    COMMON
    + """while [[ "$1" == --* ]]; do shift; done
"$@" & child=$!
wait "$child"
echo "ended: command exited" >> "$rec.life"
"""
)


@pytest.fixture
def fakes(tmp_path, monkeypatch) -> Path:
    """A folder on PATH with the fake helpers; returns where they record."""
    bin_dir, record = tmp_path / "fakebin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    for name, text in (("caffeinate", CAFFEINATE), ("systemd-inhibit", SYSTEMD_INHIBIT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RECORD", str(record))
    return record


def argv(record: Path, name: str) -> list[str]:
    return (record / f"{name}.argv").read_text().splitlines()


def life(record: Path, name: str) -> list[str]:
    path = record / f"{name}.life"
    return path.read_text().splitlines() if path.exists() else []


def wait_for_end(record: Path, name: str, limit_s: float = 30.0) -> list[str]:
    """The helper's lifetime once it has ended (the fakes poll the pid every 50 ms)."""
    deadline = time.monotonic() + limit_s
    while len(life(record, name)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return life(record, name)


def test_caffeinate_held_through_a_real_job_then_released(make_config, fakes, monkeypatch):
    monkeypatch.setattr(power.platform, "system", lambda: "Darwin")
    seen: dict[str, list[str]] = {}

    def sink(event: dict) -> None:
        if event["event"] == "train" and "during" not in seen:
            seen["during"] = life(fakes, "caffeinate")

    lines: list[str] = []
    result = run_sft(make_config(iters=4), on_event=sink, log=lines.append)
    assert result.status == "completed"
    assert argv(fakes, "caffeinate") == ["-i", "-w", str(os.getpid())]
    assert seen["during"] == ["started"]  # held while steps ran
    assert life(fakes, "caffeinate") == ["started", "ended: signal"]  # released at the end
    kinds = [e["event"] for e in runs.read_events(result.run_dir)]
    assert kinds[:2] == ["start", "awake"]
    awake = next(e for e in runs.read_events(result.run_dir) if e["event"] == "awake")
    assert awake["held"] is True and awake["how"] == "caffeinate"
    assert "Keeping the computer awake while training (caffeinate)" in lines


def test_released_when_the_job_raises(tmp_path, fakes):
    def train(emitter, control, box):
        assert life(fakes, "systemd-inhibit") == ["started"]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        supervise(
            tmp_path / "run",
            RunConfig(),
            train,
            model="m",
            on_event=None,
            events_stream=None,
            control=None,
            log=lambda m: None,
            writes=False,
        )
    assert argv(fakes, "systemd-inhibit") == [
        "--what=sleep:idle",
        "--who=MLX Studio",
        "--why=Training run",
        "tail",
        f"--pid={os.getpid()}",
        "-f",
        "/dev/null",
    ]
    assert life(fakes, "systemd-inhibit") == ["started", "ended: signal"]


@pytest.mark.parametrize(
    "sig, code, end",
    [
        (signal.SIGTERM, 130, "ended: signal"),  # stops after the step: the job releases it
        (signal.SIGKILL, -9, "ended: command exited"),  # no code of ours runs: pid watched
    ],
)
def test_released_when_the_job_is_signalled(tmp_path, make_config, fakes, sig, code, end):
    import yaml

    cfg = make_config(iters=100000, steps_per_eval=1000, save_every=1000)
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict()))
    job = subprocess.Popen(
        [sys.executable, "-m", "mlxstudio", "train", str(config), "--events"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    kinds = []
    for line in job.stdout:
        event = parse_line(line)
        if event:
            kinds.append(event["event"])
        if event and event["event"] == "train":
            break
    assert kinds[:2] == ["start", "awake"]
    assert life(fakes, "systemd-inhibit") == ["started"]
    assert f"--pid={job.pid}" in argv(fakes, "systemd-inhibit")
    job.send_signal(sig)
    job.communicate(timeout=60)
    assert job.returncode == code
    assert wait_for_end(fakes, "systemd-inhibit") == ["started", end]


def test_nothing_held_without_a_helper(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither helper, nor tail
    lines: list[str] = []
    with power.keep_awake("Training x", lines.append) as hold:
        assert not hold.held and hold.how == ""
    assert lines == ["Sleep is not prevented while training: no caffeinate or systemd-inhibit here"]


def test_a_failing_helper_is_logged_not_held(tmp_path, fakes, monkeypatch):
    failing = Path(os.environ["PATH"].split(os.pathsep)[0]) / "systemd-inhibit"
    failing.write_text("#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n")
    lines: list[str] = []
    with power.keep_awake("Training x", lines.append) as hold:
        assert not hold.held
    assert lines == [
        "Sleep is not prevented while training: systemd-inhibit exited (1) Failed to connect to bus"
    ]
