"""Data-parallel training over two local ranks (ring backend on 127.0.0.1): the same loss
curve as one process on the same global batch, one run directory, and a rank's death."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig
from mlxstudio.core.events import parse_line
from mlxstudio.core.train import checkpoint as ckpt
from mlxstudio.core.train.sft import run_sft

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finds ranks through /proc")

SETTINGS = dict(
    batch_size=4,  # the global batch: 2 examples per rank
    num_layers=2,
    learning_rate=5e-3,
    steps_per_report=1,
    steps_per_eval=3,
    save_every=3,
    val_batches=-1,
    max_seq_length=128,
)


def write_config(tmp_path: Path, model: Path, data: Path, **overrides) -> Path:
    values = dict(model=str(model), data=str(data), name="dist", iters=6, **SETTINGS)
    values.update(overrides)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def launch(*args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("MLXSTUDIO_BLAS_CHECKED", None)
    return subprocess.Popen(
        [sys.executable, "-m", "mlxstudio", "train", *args, "--local-ranks", "2", "--events"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def split(out: str) -> tuple[list[dict], list[str]]:
    events, log = [], []
    for line in out.splitlines():
        event = parse_line(line)
        (events.append(event) if event else log.append(line))
    return events, log


def train_losses(events) -> dict[int, float]:
    return {e["step"]: e["train_loss"] for e in events if e["event"] == "train"}


def test_two_ranks_train_like_one_process(tmp_path, tiny_model, chat_data, studio_home):
    single = run_sft(
        RunConfig(model=str(tiny_model), data=str(chat_data), name="one", iters=6, **SETTINGS),
        log=lambda m: None,
    )
    job = launch(str(write_config(tmp_path, tiny_model, chat_data)))
    out, err = job.communicate(timeout=600)
    assert job.returncode == 0, err
    events, log = split(out)

    kinds = [e["event"] for e in events]
    assert kinds.count("start") == kinds.count("finished") == 1  # rank 0 alone reports
    start = events[0]
    assert (start["world_size"], start["batch_size"], start["learning_rate"]) == (2, 4, 5e-3)
    assert events[-1]["status"] == "completed"
    run_dir = Path(start["run_dir"])
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["dist", "one"]  # written once
    assert [e["event"] for e in runs.read_events(run_dir)] == kinds
    assert [s for s, _ in ckpt.list_checkpoints(run_dir)] == [3, 6]

    expected = train_losses(runs.read_events(single.run_dir))
    got = train_losses(events)
    assert sorted(got) == sorted(expected) == [1, 2, 3, 4, 5, 6]
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-3), step
    vals = lambda evs: [e["val_loss"] for e in evs if e["event"] == "val"]  # noqa: E731
    assert vals(events) == pytest.approx(vals(runs.read_events(single.run_dir)), rel=1e-3)
    print("loss single vs 2 ranks:", [(expected[s], got[s]) for s in sorted(expected)])


def rank_pid(rank: int, marker: str) -> int | None:
    """The pid of the local rank `rank` whose command line mentions `marker`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="ignore")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in cmdline and f"MLX_RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def test_a_dead_rank_stops_the_job_and_keeps_the_checkpoint(tmp_path, tiny_model, chat_data):
    config = write_config(
        tmp_path, tiny_model, chat_data, name="killed", iters=100000, steps_per_eval=1000
    )
    job = launch(str(config))
    events: list[dict] = []
    for line in job.stdout:
        event = parse_line(line)
        if event:
            events.append(event)
            if event["event"] == "checkpoint" and event["step"] >= 3:
                break
    else:
        pytest.fail(f"the job ended first: {job.stderr.read()}")
    pid = rank_pid(1, str(config))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    tic = time.time()
    out, err = job.communicate(timeout=300)
    assert time.time() - tic < 120  # the surviving rank does not hang in the ring
    assert job.returncode == 1
    more, _ = split(out)
    events += more
    message = [line for line in err.splitlines() if "rank 1" in line]
    assert len(message) == 1, err
    assert "was killed" in message[0] or "exited with code -9" in message[0]
    run_dir = Path(events[0]["run_dir"])
    assert "the last checkpoint (step" in message[0] and str(run_dir) in message[0]
    assert "mlxstudio train --resume" in message[0]
    assert events[-1]["event"] == "error" and events[-1]["code"] == "rank_died"
    saved = ckpt.list_checkpoints(run_dir)
    assert saved and saved[-1][0] >= 3
    assert ckpt.latest_checkpoint(run_dir).step == saved[-1][0]  # intact: it verifies


def test_global_batch_must_divide_by_the_ranks(tmp_path, tiny_model, chat_data):
    job = launch(str(write_config(tmp_path, tiny_model, chat_data, batch_size=3)))
    out, err = job.communicate(timeout=600)
    assert job.returncode != 0
    assert "must divide by the 2 ranks" in out + err


def doctor(tmp_path: Path, hosts: list[dict]) -> subprocess.CompletedProcess:
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps(hosts))
    return subprocess.run(
        [sys.executable, "-m", "mlxstudio", "doctor", "--hosts", str(hostfile), "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_passes_for_local_ranks(tmp_path):
    done = doctor(tmp_path, [{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}] * 2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✗" not in done.stdout.split("\n\n")[0]
    for check in ("reachable", "python", "mlx", "mlx-lm", "mlxstudio", "port 127.0.0.1:32324"):
        assert check in done.stdout
    assert "all 2 hosts are ready" in done.stdout


def test_doctor_reports_an_unreachable_host(tmp_path):
    hosts = [
        {"ssh": "127.0.0.1", "ips": ["127.0.0.1"]},
        {"ssh": "no-such-mac.invalid", "ips": ["192.0.2.1"]},
    ]
    done = doctor(tmp_path, hosts)
    assert done.returncode == 1
    row = [line for line in done.stdout.splitlines() if line.startswith("no-such-mac")]
    assert row and "✗" in row[0] and "ssh-copy-id no-such-mac.invalid" in row[0]
    assert "1 of 2 hosts need attention: no-such-mac.invalid" in done.stdout


def test_stop_signal_stops_every_rank_with_a_checkpoint(tmp_path, tiny_model, chat_data):
    config = write_config(
        tmp_path, tiny_model, chat_data, name="stop", iters=100000, steps_per_eval=1000
    )
    job = launch(str(config))
    for line in job.stdout:
        event = parse_line(line)
        if event and event["event"] == "train" and event["step"] >= 2:
            break
    job.send_signal(signal.SIGTERM)  # as the GUI's Stop button does
    out, err = job.communicate(timeout=300)
    assert job.returncode == 130, err
    events, _ = split(out)
    assert [e["event"] for e in events][-2:] == ["stopped", "finished"]
    step = events[-1]["step"]
    run_dir = Path(events[0]["run_dir"]) if events[0]["event"] == "start" else None
    run_dir = run_dir or next(p for p in (Path(os.environ["MLXSTUDIO_HOME"]) / "runs").iterdir())
    assert ckpt.latest_checkpoint(run_dir).step == step


def test_resume_mid_accumulation_on_two_ranks(tmp_path, tiny_model, chat_data, studio_home):
    """A checkpoint taken halfway through accumulating (step 3 of updates every 2 steps)
    holds the ranks' gradients reduced, so both ranks resume as they would have gone on."""
    config = write_config(
        tmp_path,
        tiny_model,
        chat_data,
        name="whole",
        iters=8,
        grad_accumulation_steps=2,
        steps_per_eval=1000,
        keep_last_checkpoints=0,
    )
    job = launch(str(config))
    out, err = job.communicate(timeout=600)
    assert job.returncode == 0, err
    events, _ = split(out)
    whole = Path(events[0]["run_dir"])
    assert [s for s, _ in ckpt.list_checkpoints(whole)] == [3, 6, 8]
    assert (ckpt.list_checkpoints(whole)[0][1] / "gradients.safetensors").is_file()

    cut = whole.parent / "cut"  # the same run as if it had stopped at step 3
    shutil.copytree(whole, cut)
    for step, path in ckpt.list_checkpoints(cut):
        if step > 3:
            shutil.rmtree(path)
    runs.update_meta(cut, status="stopped")
    resumed = launch("--resume", str(cut))
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    again, _ = split(out)
    assert again[0]["event"] == "start" and again[0]["resumed_from_step"] == 3
    expected, got = train_losses(events), train_losses(again)
    assert sorted(got) == [4, 5, 6, 7, 8]
    for step in got:
        assert got[step] == pytest.approx(expected[step], rel=1e-5), step
