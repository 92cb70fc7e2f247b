"""The Training page on the tiny model: plots from the first step, integer step axes, no
'nan', the method shown (chosen on the Goal page), options written to the config, a killed
run explained in the window's words, and no stale state when runs are reopened."""

from __future__ import annotations

import json
import re

import numpy as np
import yaml
from PySide6.QtCore import QPoint
from screens import screenshot

from mlxstudio.gui.pages.train_page import BLOCKED, IDLE
from mlxstudio.gui.widgets.plots import MetricPlots
from mlxstudio.gui.widgets.train_options import auto_report_every

CLI_WORDS = re.compile(r"--[a-z]|mlxstudio |sample_prompts|steps_per_report|batch_size|yaml", re.I)


def _ready(window, qtbot, chat_data, installed_tiny, **config) -> None:
    window.data_page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    window.state.set_model(installed_tiny)
    window.state.update_config(num_layers=2, batch_size=4, learning_rate=5e-3, **config)
    window.resize(1280, 800)
    window.go("train")


def _axis_ticks(plot) -> tuple[list[float], list[str]]:
    axis = plot.getAxis("bottom")
    lo, hi = plot.viewRange()[0]
    levels = axis.tickValues(lo, hi, max(axis.width(), 200))
    values = [v for _, vals in levels for v in vals]
    spacing = levels[0][0] if levels else 1.0
    return values, axis.tickStrings(values, 1.0, spacing)


def _integer_axis(plot) -> None:
    values, strings = _axis_ticks(plot)
    assert values, "the step axis shows no tick at all"
    assert all(float(v).is_integer() for v in values), values
    assert all(re.fullmatch(r"[\d,]+", s) for s in strings), strings
    assert "x0.001" not in plot.getAxis("bottom").labelString()


def test_a_ten_step_run_plots_ten_points(window, qtbot, chat_data, installed_tiny):
    _ready(window, qtbot, chat_data, installed_tiny, iters=10, steps_per_eval=5, save_every=5)
    train = window.train_page
    # Ready: said once, in the charts' place; no "Not started" bar, no line repeating it.
    assert train.start_button.isEnabled()
    assert train.plots.placeholder_text() == IDLE and not train.plots.showing_curves()
    assert not train.progress.isVisibleTo(train) and not train.summary.isVisibleTo(train)
    screenshot(window, "train-ready")
    train.options.set_prompts(["What is 2 plus 2?"], every=5)
    train.name_edit.setText("ten-steps")
    texts: list[str] = []
    summaries: list[tuple[str, str]] = []  # (summary, progress) after each event
    train.start()
    texts.append(train.progress_text())
    assert texts[0].startswith("Step 0 of 10"), texts
    starting = train.summary.text()
    assert "starting" in starting and train.progress.isVisibleTo(train)
    # Before the first point no panel shows made-up numbers on its left axis.
    assert not [i for i in range(4) if train.plots.values_shown(i)]
    train.job.event.connect(lambda _e: texts.append(train.progress_text()))
    train.job.event.connect(lambda _e: summaries.append((train.summary.text(), texts[-1])))
    qtbot.waitUntil(lambda: train.plots.point_count() >= 3, timeout=180_000)
    qtbot.waitUntil(lambda: train.summary.text() != starting, timeout=60_000)
    assert train.summary.text().startswith("Training ten-steps"), train.summary.text()
    screenshot(window, "train-running")
    qtbot.waitUntil(lambda: not train.is_running(), timeout=180_000)
    assert "completed" in train.summary.text(), train.log.toPlainText()[-2000:]

    steps, losses = train.plots.points("train", "train_loss")
    assert list(steps) == list(range(1, 11)) and np.isfinite(losses).all()
    qtbot.waitUntil(lambda: len(train.plots.drawn("train", "train_loss")[0]) == 10, timeout=5000)
    for plot in train.plots.plots:
        _integer_axis(plot)
    assert train.plots.plots[0].viewRange()[0][1] >= 10  # the x axis spans the whole run
    assert len(texts) > 5 and not [t for t in texts if "nan" in t.lower()], texts
    assert any("loss" in t for t in texts)
    assert train.progress_text() == "Completed at step 10 of 10"
    assert train.progress.outcome() == ""  # the accent colour, not failed or stopped
    # Once steps arrive the line under the bar says something current, never what the bar
    # says: the best validation loss so far, the latest sample's step.
    live = [summary for summary, _ in summaries if summary.startswith("Training")]
    assert any(re.search(r"best validation loss [\d.]+ so far", t) for t in live), live
    assert any("sample answers of step 5" in t for t in live), live
    assert not [(s, p) for s, p in summaries if p and p.lower() in s.lower()], summaries
    # Peak memory of the tiny model is far under 1 GB: in MB, label and numbers.
    assert train.plots.left_label(3) == "MB", train.plots.left_label(3)
    ticks = train.plots.left_ticks(3)
    assert ticks and not [t for t in ticks if t.startswith("0.00")], ticks
    for i in range(4):  # short panels: a few round numbers, not 8 crowded ones
        assert train.plots.values_shown(i) and 2 <= len(train.plots.left_ticks(i)) <= 4

    run = window.state.run_dir
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["steps_per_report"] == 1 and saved["sample_prompts"] == ["What is 2 plus 2?"]
    assert "What is 2 plus 2?" in train.samples.toPlainText()
    assert "Step 5" in train.samples.toPlainText()
    assert (run / "training.log").is_file()
    assert not train.resume_button.isVisible()
    assert not CLI_WORDS.search(train.summary.text()), train.summary.text()
    screenshot(window, "train-finished")


def test_empty_panels_show_no_numbers_and_memory_reads_in_mb(qtbot):
    plots = MetricPlots()
    qtbot.addWidget(plots)
    plots.resize(800, 400)
    plots.show()
    assert [plots.values_shown(i) for i in range(4)] == [False] * 4
    assert plots.left_ticks(1) == []  # no 0.2 ... 0.8 made up on an empty panel
    plots.add_event({"event": "train", "step": 1, "train_loss": 2.5})
    plots.redraw(everything=True)
    assert [plots.values_shown(i) for i in range(4)] == [True, False, False, False]
    plots.add_event({"event": "train", "step": 2, "train_loss": 2.4, "peak_memory_gb": 0.006})
    plots.redraw(everything=True)
    assert plots.values_shown(3) and plots.left_label(3) == "MB"
    ticks = plots.left_ticks(3)
    assert ticks == ["0", "2", "4", "6"], ticks  # MB, not 0.006 GB
    plots.add_event({"event": "train", "step": 3, "peak_memory_gb": 2.5})
    plots.redraw(everything=True)
    assert plots.left_label(3) == "GB"
    assert 2 <= len(plots.left_ticks(3)) <= 4, plots.left_ticks(3)
    plots.clear()
    assert not plots.values_shown(0) and not plots.values_shown(3)


def test_a_single_point_has_an_integer_axis(qtbot):
    plots = MetricPlots()
    qtbot.addWidget(plots)
    plots.resize(800, 500)
    plots.show()
    plots.add_event({"event": "train", "step": 10, "train_loss": 2.5, "learning_rate": 1e-4})
    plots.redraw(everything=True)
    for plot in plots.plots[:2]:
        plot.getViewBox().autoRange()
        _integer_axis(plot)
    plots.set_steps(10)
    values, strings = _axis_ticks(plots.plots[0])
    assert "0" in strings and "10" in strings, strings


def test_report_interval_follows_the_run_length():
    assert auto_report_every(10) == 1
    assert auto_report_every(200) == 4
    assert auto_report_every(1000) == 20


def test_method_is_shown_not_chosen_here(window, qtbot):
    page = window.train_page
    window.resize(1280, 800)
    window.go("train")
    screenshot(window, "train-empty")
    # Said once: no "Not started" bar, no "Press Start" while Start is disabled; the line
    # beside Start says what is missing, the charts only where curves will be.
    assert not page.start_button.isEnabled()
    assert not page.progress.isVisibleTo(page) and not page.summary.isVisibleTo(page)
    assert page.plots.placeholder_text() == BLOCKED and "Press Start" not in BLOCKED
    # Both section toggles are flat text, open or closed (no framed checked button).
    for section in (page.options.samples_section, page.options.hosts_section):
        assert not section.header.isCheckable()
    page.options.samples_section.set_expanded(True)
    assert page.options.samples_section.is_expanded()
    window.show()
    qtbot.wait(10)
    left = page.name_edit.mapTo(page, QPoint(0, 0)).x()
    assert page.options.prompts.mapTo(page, QPoint(0, 0)).x() == left  # the page's edge
    page.options.samples_section.header.click()
    assert not page.options.samples_section.is_expanded()
    assert not hasattr(page, "method")  # the method is chosen on the Goal page
    window.state.update_config(stage="dpo")
    assert "Preference pairs (DPO)" in page.method_line.text()
    assert "·" not in page.method_line.text().split("</b>")[0]  # the usual DPO: no suffix
    window.state.update_config(preference_loss="simpo")  # not the usual DPO: named too
    assert "Preference pairs (DPO) · SimPO" in page.method_line.text()
    window.state.update_config(preference_loss="sigmoid")
    assert "Goal page" in page.method_line.text()
    with qtbot.waitSignal(page.goal_requested, timeout=1000):
        page.method_line.linkActivated.emit("goal")
    # the several-Macs controls are behind an Advanced switch, closed at first
    assert not page.hosts.isVisibleTo(page)
    page.options.hosts_section.set_expanded(True)
    assert page.hosts.isVisibleTo(page)
    # Start says why it is disabled, next to it
    assert not page.start_button.isEnabled()
    assert "Choose a model" in page.why.text() and page.why.isVisibleTo(page)
    assert page.gauge.isVisibleTo(page)


def test_options_write_the_config(window):
    page = window.train_page
    window.go("train")
    page.options.samples_section.set_expanded(True)
    page.options.prompts.setPlainText("Hello?\n\n  Who are you?  \n")
    page.options.sample_every.setValue(7)
    page.options.report_every.setValue(3)
    page.options.apply_to_state()
    cfg = window.state.config
    assert cfg.sample_prompts == ["Hello?", "Who are you?"]
    assert cfg.sample_every == 7 and cfg.steps_per_report == 3
    assert "2 prompts" in page.options.samples_section.header.text()
    page.options.report_every.setValue(0)
    assert page.options.report_every.text() == "auto"
    assert page.options.report_interval(500) == 10
    assert "yaml" not in page.samples.placeholderText().lower()


def _fake_run(folder, name, *, steps, loss0, sample, log=None, resumed=False):
    run = folder / name
    run.mkdir(parents=True)
    meta = {"status": "stopped", "stage": "sft", "model": f"/m/{name}-model", "started": 1e9}
    (run / "run.json").write_text(json.dumps(meta))
    events = [{"event": "start", "run_dir": str(run), "total_steps": steps, "model": "m"}]
    for s in range(1, steps + 1):
        events.append({"event": "train", "step": s, "train_loss": loss0 - s * 0.01})
    if resumed:  # steps 3.. trained again after a resume: the curve must not fold back
        events.append({"event": "start", "total_steps": steps, "resumed_from_step": 2})
        for s in range(3, steps + 1):
            events.append({"event": "train", "step": s, "train_loss": loss0 - s * 0.02})
    events.append({"event": "val", "step": steps, "val_loss": loss0 - 0.5})
    events.append({"event": "sample", "step": steps, "prompt": sample, "response": "ok"})
    with (run / "metrics.jsonl").open("w") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")
    if log:
        (run / "training.log").write_text(log)
    return run


def test_opening_runs_leaves_nothing_of_the_one_before(window, tmp_path):
    page = window.train_page
    window.resize(1280, 800)
    a = _fake_run(tmp_path, "run-a", steps=30, loss0=3.0, sample="PROMPT-A", log="LOG-A\n")
    b = _fake_run(tmp_path, "run-b", steps=8, loss0=2.0, sample="PROMPT-B", resumed=True)
    window.open_run(a)
    assert page.name_edit.text() == "run-a" and "LOG-A" in page.log.toPlainText()
    assert "PROMPT-A" in page.samples.toPlainText()
    assert len(page.plots.points("train", "train_loss")[0]) == 30
    window.open_run(b)
    shown = page.name_edit.text(), page.log.toPlainText(), page.samples.toPlainText()
    shown += (page.summary.text(), page.progress_text())
    assert not [text for text in shown if "run-a" in text or "-A" in text], shown
    assert page.name_edit.text() == "run-b" and "PROMPT-B" in page.samples.toPlainText()
    assert "No log was kept" in page.log.toPlainText()
    steps, losses = page.plots.points("train", "train_loss")
    assert list(steps) == list(range(1, 9))  # the re-trained steps replace the first ones
    assert losses[-1] == 2.0 - 8 * 0.02
    assert page.progress_text() == "Stopped · step 8 of 8"
    assert "1.500" in page.summary.text()  # best validation loss
    assert window.state.run_dir == b
    assert page.progress.outcome() == "stopped"  # grey, not the accent of a live run
    screenshot(window, "train-opened-from-history")

    # A failed run in the dark scheme: the red bar, the panels without made-up numbers.
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.style import apply_style

    c = _fake_run(tmp_path, "run-c", steps=6, loss0=2.0, sample="PROMPT-C")
    meta = json.loads((c / "run.json").read_text())
    (c / "run.json").write_text(json.dumps(meta | {"status": "failed"}))
    apply_style(QApplication.instance(), "dark")
    try:
        window.open_run(c)
        assert page.progress.outcome() == "failed"
        assert page.plots.values_shown(0) and not page.plots.values_shown(1)
        screenshot(window, "train-opened-failed-dark")
    finally:
        apply_style(QApplication.instance(), "light")


def test_a_killed_run_says_what_to_change(window, qtbot, chat_data, installed_tiny):
    _ready(window, qtbot, chat_data, installed_tiny, iters=400, steps_per_eval=200, save_every=2)
    train = window.train_page
    train.name_edit.setText("killed")
    train.start()
    assert train.pause_button.isEnabled() and not train.start_button.isEnabled()
    assert not train.resume_button.isVisible()
    qtbot.waitUntil(lambda: train.step >= 4, timeout=180_000)
    train.pause_button.click()
    qtbot.waitUntil(lambda: train.pause_button.text() == "Keep going", timeout=60_000)
    assert train.progress_text().startswith("Paused at step")
    train.pause_button.click()
    qtbot.waitUntil(lambda: train.pause_button.text() == "Pause", timeout=60_000)
    qtbot.waitUntil(lambda: (window.state.run_dir / "checkpoints").is_dir(), timeout=60_000)
    train.job.kill()  # what the system does when memory runs out
    qtbot.waitUntil(lambda: not train.is_running(), timeout=60_000)
    text = train.summary.text()
    # One step number everywhere: the bar, the message, and not behind the log's pause.
    paused = [int(n) for n in re.findall(r"Paused at step (\d+)", train.log.toPlainText())]
    assert paused and max(paused) <= train.step, (paused, train.step)
    assert train.progress_text() == f"Failed at step {train.step} of 400"
    assert f"at step {train.step} " in text, text
    assert train.progress.outcome() == "failed"  # the red chunk
    assert "memory" in text and "Resume run" in text and "Batch size" in text, text
    assert not CLI_WORDS.search(text.replace("“Batch size”", "")), text
    assert "nan" not in train.progress_text().lower()
    assert train.resume_button.isVisible() and train.resume_button.toolTip(), (
        window.current_name(),
        train.resume_button.isVisibleTo(train),
        train.resumable(),
    )
    assert not train.pause_button.isEnabled() and "Nothing is training" in (
        train.pause_button.toolTip()
    )
    screenshot(window, "train-failed")
