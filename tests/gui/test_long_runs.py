"""Long runs in the window, on the tiny model: the computer kept awake (a fake
systemd-inhibit on PATH: the real one needs a system bus), the memory guard's pause said in
the window's words and continued with Keep going, an ETA from the measured step time, and a
notification with the run's figures that opens the run when clicked."""

from __future__ import annotations

import os
import re

import pytest
from screens import screenshot

from mlxstudio.gui.notices import run_notice
from mlxstudio.gui.tray import TrayStatus, status_text

CLI_WORDS = re.compile(r"--[a-z]|mlxstudio |batch_size|max_seq_length|grad_checkpoint|yaml")
# Holds while its command runs, as systemd-inhibit does.
INHIBIT = '#!/bin/sh\nwhile [ "${1#--}" != "$1" ]; do shift; done\nexec "$@"\n'


@pytest.fixture
def inhibitor(tmp_path, monkeypatch):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    (bin_dir / "systemd-inhibit").write_text(INHIBIT)
    (bin_dir / "systemd-inhibit").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_memory_pause_keep_going_notice_and_eta(
    window, qtbot, chat_data, installed_tiny, inhibitor
):
    window.data_page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    window.state.set_model(installed_tiny)
    window.state.update_config(
        num_layers=2,
        batch_size=4,
        learning_rate=5e-3,
        iters=12,
        steps_per_eval=6,
        save_every=6,
        memory_guard=1e-6,  # past what the machine already uses: it trips
    )
    window.resize(1280, 800)
    window.go("train")
    train = window.train_page
    train.name_edit.setText("long")
    notices: list[tuple[str, str]] = []
    window.tray.notice_sent.connect(lambda title, text: notices.append((title, text)))
    summaries: list[str] = []
    trays: list[str] = []
    train.start()
    train.job.event.connect(lambda _e: summaries.append(train.summary.text()))
    train.status.connect(lambda *_s: trays.append(window.tray.text))

    qtbot.waitUntil(lambda: bool(train.memory_message), timeout=180_000)
    message = train.summary.text()
    assert message.startswith("Memory is nearly full: the next step would fill "), message
    assert "Paused at step 1 with a checkpoint" in message
    assert "press Keep going, or press Stop, then lower “Batch size” (now 4)" in message
    assert "“Max tokens”" in message and "turn on Gradient checkpointing" in message
    assert not CLI_WORDS.search(message), message
    assert train.summary.property("level") == "warning"
    assert train.progress_text() == "Paused at step 1 of 12 · memory nearly full"
    assert train.pause_button.text() == "Keep going" and train.pause_button.isEnabled()
    assert any("keeping the computer awake while training" in s for s in summaries), summaries
    title, text = notices[-1]
    assert title == "Training paused: memory nearly full"
    assert text.startswith("long: 1 of 12 steps in ") and "Memory is nearly full" in text
    assert window.tray.notice_run == window.state.run_dir
    screenshot(window, "train-memory-paused")

    train.pause_button.click()  # Keep going
    qtbot.waitUntil(lambda: not train.paused, timeout=30_000)
    assert not train.memory_message and "Memory is nearly full" not in train.summary.text()
    qtbot.waitUntil(lambda: train.step >= 4, timeout=180_000)
    eta = train.eta()
    assert eta is not None and 0 < eta < 600, eta
    assert re.search(r"ETA \d+m \d\ds", train.progress_text()), train.progress_text()
    assert any(re.search(r"long · step \d+/12 · loss [\d.]+ · ETA \d+m", t) for t in trays)
    assert "keeping the computer awake while training" in train.summary.text()
    screenshot(window, "train-long-run")
    qtbot.waitUntil(lambda: not train.is_running(), timeout=180_000)
    assert "completed" in train.summary.text(), train.log.toPlainText()[-2000:]

    title, text = notices[-1]
    assert title == "Training completed"
    assert re.fullmatch(
        r"long: 12 of 12 steps in \dm \d\ds · validation loss [\d.]+ → [\d.]+\.", text
    ), text
    window.go("goal")
    window.tray.open_notice()  # what clicking the notification does
    assert window.current_name() == "train" and window.isVisible()
    assert train.shown_run == window.state.run_dir and train.shown_run.name == "long"


def test_failed_run_notice_and_tray_lines(qtbot, tmp_path):
    from PySide6.QtGui import QIcon

    events = [
        {"event": "val", "step": 0, "val_loss": 2.5, "elapsed_s": 3.0},
        {"event": "train", "step": 4, "elapsed_s": 65.2},
        {"event": "error", "message": "x", "elapsed_s": 66.0},
    ]
    title, text = run_notice("failed", "demo", events, 4, 40, "Run demo failed: out of memory.")
    assert title == "Training failed"
    assert (
        text
        == "demo: 4 of 40 steps in 1m 06s · validation loss 2.500. Run demo failed: out of memory."
    )
    grpo = [dict(events[0], val_loss=-0.25, reward_mean=0.25), *events[1:]]
    grpo.insert(2, {"event": "val", "step": 4, "val_loss": -0.5, "reward_mean": 0.5})
    assert "held-out reward 0.250 → 0.500" in run_notice("completed", "g", grpo, 4, 40)[1]
    title, text = run_notice("stopped", "demo", events, 4, 40)
    assert text.endswith("Resume run continues it.")
    assert status_text("demo", 5, 40, 0.5, 65, True) == "demo · step 5/40 · loss 0.500 · ETA 1m 05s"
    long = status_text("demo", 5, 40, 0.5, 7500, True)
    assert re.fullmatch(r"demo · step 5/40 · loss 0.500 · ETA 2h 05m \(about \d\d:\d\d\)", long)

    tray = TrayStatus(QIcon())
    opened = []
    tray.open_run.connect(opened.append)
    with qtbot.waitSignal(tray.notice_sent) as sent:
        tray.notify(title, text, tmp_path)
    assert sent.args == [title, text] and tray.last_notice == f"{title}: {text}"
    tray.open_notice()
    assert opened == [tmp_path]
