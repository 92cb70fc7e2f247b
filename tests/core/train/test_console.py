"""What `mlxstudio train` prints for people: one line per event that matters."""

from __future__ import annotations

from mlxstudio.core.train.console import describe, printer


def test_lines_for_people():
    train = {
        "event": "train",
        "step": 20,
        "total_steps": 40,
        "train_loss": 0.4123,
        "learning_rate": 2e-4,
        "tokens_per_second": 1234.5,
        "peak_memory_gb": 0.87,
    }
    assert describe(train) == ("  step    20/40  loss 0.412  lr 2.0e-04  1,234 tok/s  0.87 GB")
    rl = dict(train, reward_mean=0.5, kl=0.01)
    assert "reward 0.500  kl 0.010" in describe(rl)
    assert describe({"event": "val", "step": 0, "total_steps": 40, "val_loss": 4.8}) == (
        "  step     0/40  validation loss 4.800"
    )
    grpo_val = {"event": "val", "step": 6, "total_steps": 12, "val_loss": -0.5, "reward_mean": 0.5}
    assert describe(grpo_val) == "  step     6/12  held-out reward 0.500"  # not a loss of -0.5
    assert describe({"event": "start", "run_dir": "x", "model": "m"}) is None
    assert describe({"event": "error", "message": "boom", "step": None}) is None
    assert "stopped: interrupted" in describe(
        {"event": "stopped", "step": 3, "message": "interrupted"}
    )


def test_printer_is_an_event_sink():
    lines: list[str] = []
    sink = printer(lines.append)
    sink({"event": "val", "step": 1, "val_loss": 1.0})
    sink({"event": "finished", "status": "completed"})
    assert lines == ["  step     1  validation loss 1.000"]


def test_a_paused_headless_run_says_how_to_continue_and_that_works(tmp_path, tiny_model, chat_data):
    import os
    import re
    import signal
    import subprocess
    import sys

    import yaml

    from tests.core.train.conftest import tiny_config

    cfg = tiny_config(tiny_model, chat_data, name="headless", iters=100000, steps_per_eval=1000)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in vars(cfg).items() if v is not None}))
    env = dict(os.environ)
    env.pop("MLXSTUDIO_BLAS_CHECKED", None)
    job = subprocess.Popen(
        [sys.executable, "-m", "mlxstudio", "train", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    seen, asked = [], False
    for line in job.stdout:
        seen.append(line)
        if " loss " in line and not asked:
            job.send_signal(signal.SIGUSR1)  # as the window's Pause does
            asked = True
        if line.startswith("  paused:"):
            pid = int(re.search(r"kill -USR2 (\d+)", line).group(1))
            assert "stop with Ctrl-C" in line
            os.kill(pid, signal.SIGUSR2)  # exactly what the line says to type
        if line.startswith("  resumed:"):
            job.send_signal(signal.SIGINT)
    assert job.wait(timeout=120) == 130, "".join(seen)
    assert any(s.startswith("  resumed:") for s in seen) and "Continue it with" in seen[-1]
