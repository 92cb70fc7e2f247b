"""Run history that acts: columns, empty state, open / resume / serve signals, delete with
a confirmation, compare two runs' curves, export a real run to a folder."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QIcon, QImage, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox
from screens import screenshot

from mlxstudio.core import paths
from mlxstudio.core.config import RunConfig, dump_config
from mlxstudio.gui.runs_view import COLUMNS, RunHistory, short_path
from mlxstudio.gui.style import apply_style


def _run(name, *, status="completed", stage="sft", steps=20, val=(2.0, 1.2, 1.5), ckpt=False):
    """A run folder as a finished job leaves it (metrics, run.json), without training."""
    run = paths.runs_dir() / name
    run.mkdir(parents=True)
    meta = {"status": status, "stage": stage, "model": "/models/tiny-llama"}
    meta["started"] = time.time() - 3600 * len(name)
    (run / "run.json").write_text(json.dumps(meta))
    events = [{"event": "start", "run_dir": str(run), "total_steps": steps}]
    events += [
        {"event": "train", "step": s, "train_loss": 3 - s / steps} for s in range(1, steps + 1)
    ]
    every = steps // len(val)
    events += [{"event": "val", "step": (i + 1) * every, "val_loss": v} for i, v in enumerate(val)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if ckpt:
        (run / "checkpoints" / "0000010").mkdir(parents=True)
    return run


def _history(qtbot) -> RunHistory:
    view = RunHistory()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    return view


def _brightest(image: QImage) -> int:
    """The lightness of the lightest opaque pixel."""
    return max(
        (
            image.pixelColor(x, y).lightness()
            for x in range(image.width())
            for y in range(image.height())
            if image.pixelColor(x, y).alpha() > 200
        ),
        default=0,
    )


def _line_runs(sample, width: int) -> int:
    """How many separate strokes a legend sample draws along its line (1 solid, 2+ dashed)."""
    image = QImage(width, 20, QImage.Format.Format_ARGB32)
    image.fill(QColor(0, 0, 0, 0))
    painter = QPainter(image)
    sample.paint(painter)
    painter.end()
    inked = [image.pixelColor(x, 11).alpha() > 100 for x in range(width)]
    return sum(1 for x in range(width) if inked[x] and (x == 0 or not inked[x - 1]))


def _cells(view, row):
    return [view.table.item(row, c).text() for c in range(len(COLUMNS))]


def test_empty_history_offers_the_way_to_training(window, qtbot):
    window.resize(1280, 800)
    window.go("history")
    view = window.history
    assert view.stack.currentWidget() is view.empty and view.table.rowCount() == 0
    assert view.start_button.isVisible() and view.start_button.text() == "Go to Training"
    screenshot(window, "history-empty")
    with qtbot.waitSignal(view.start_requested, timeout=1000):
        view.start_button.click()


def test_columns_and_what_each_run_allows(window, qtbot):
    a = _run("alpha", val=(2.0, 1.2, 1.5))
    b = _run("beta-dpo", status="stopped", stage="dpo", val=(0.9, 0.7), ckpt=True)
    _run("gamma-grpo", stage="grpo", val=(-0.25, -0.5))  # val_loss: the reward's negative
    window.resize(1280, 800)
    window.go("history")
    view = window.history
    assert view.stack.currentWidget() is not view.empty
    assert view.table.rowCount() == 3
    rows = {_cells(view, r)[0]: _cells(view, r) for r in range(3)}
    assert rows["gamma-grpo"][2:5] == [
        "Online RL with a reward (GRPO)",
        "Completed",
        "reward 0.500",
    ]
    assert rows["alpha"][1:5] == [
        "tiny-llama",
        "Supervised fine-tuning (SFT)",
        "Completed",
        "loss 1.200",
    ]
    assert rows["beta-dpo"][2:5] == ["Preference pairs (DPO)", "Stopped", "loss 0.700"]
    assert rows["alpha"][5].startswith("20")  # a date

    view.select(a)
    assert view.action("open").isEnabled()
    assert not view.action("resume").isEnabled()  # completed
    assert "stopped or interrupted" in view.action("resume").toolTip()
    assert not view.action("serve").isEnabled() and "no adapters" in view.action("serve").toolTip()
    assert not view.action("compare").isEnabled()
    with qtbot.waitSignal(view.open_run, timeout=1000) as opened:
        view.action("open").trigger()
    assert opened.args == [a]
    assert window.train_page.name_edit.text() == "alpha"  # the lead's wiring shows the run

    window.go("history")
    view.select(b)
    assert view.action("resume").isEnabled()
    with qtbot.waitSignal(view.resume_run, timeout=1000) as resumed:
        view.action("resume").trigger()
    assert resumed.args == [b]
    window.train_page.shutdown(timeout_ms=20000)  # the resume the signal started
    window.go("history")
    view.select(a, b)
    assert view.action("compare").isEnabled()
    # The hint sits right under the toolbar, not far below the table.
    assert view.toolbar.geometry().bottom() < view.hint.geometry().top()
    assert view.hint.geometry().bottom() < view.table.geometry().top()
    assert not view.export_row.isVisible()  # no empty export line
    for name in ("open", "resume", "serve", "export", "compare", "delete"):
        button = view.toolbar.widgetForAction(view.action(name))
        assert button.focusPolicy() == Qt.FocusPolicy.NoFocus, name
    # A status icon on a selected row is drawn in the selection's text colour (white), not
    # in its signal colour, which can vanish on the accent.
    status = view.table.item(view.row_of(a), COLUMNS.index("Status")).icon()
    picked = status.pixmap(16, 16, QIcon.Mode.Selected).toImage()
    normal = status.pixmap(16, 16, QIcon.Mode.Normal).toImage()
    assert _brightest(picked) >= 240 and _brightest(normal) < 240
    view.refresh()  # e.g. when a run ends: both runs stay selected
    assert view.selected_runs() == sorted([a, b], key=view.row_of)
    assert view.action("compare").isEnabled()
    screenshot(window, "history-filled")
    app = QApplication.instance()
    apply_style(app, "dark")
    try:
        QApplication.processEvents()
        screenshot(window, "history-filled-dark")
    finally:
        apply_style(app, "light")


def test_compare_plots_both_runs_on_the_same_axes(qtbot):
    a = _run("alpha", steps=20)
    b = _run("bravo", steps=30, val=(2.5, 1.0))
    apply_style(QApplication.instance(), "light")
    view = _history(qtbot)
    view.select(a, b)
    view.action("compare").trigger()
    dialog = view.compare_dialog
    qtbot.waitExposed(dialog)
    names = dialog.curve_names()
    curves = ("train", "validation")
    expected = [f"{run} · {curve}" for run in ("alpha", "bravo") for curve in curves]
    assert sorted(names) == expected
    assert len(dialog.curves["bravo · train"][0]) == 30
    legend = [label.text for _, label in dialog.plot.plotItem.legend.items]
    assert legend == names
    # Train and validation told apart in the legend itself: a solid and a dashed stroke.
    strokes = {label.text: _line_runs(sample, 40) for sample, label in dialog.legend.items}
    assert strokes["alpha · train"] == 1 and strokes["alpha · validation"] >= 2, strokes
    text = dialog.palette().color(QPalette.ColorRole.WindowText)
    assert dialog.legend.opts["labelTextColor"].name() == text.name()  # not the faint grey
    assert {QColor(label.opts["color"]).name() for _, label in dialog.legend.items} == {text.name()}
    assert dialog.plot.plotItem.titleLabel.opts["color"] == text
    assert "dashed" in dialog.plot.plotItem.titleLabel.text
    screenshot(dialog, "history-compare")
    app = QApplication.instance()
    apply_style(app, "dark")
    try:
        QApplication.processEvents()
        dark_text = dialog.palette().color(QPalette.ColorRole.WindowText)
        assert dark_text.lightness() > 128  # the dark scheme: light text
        assert dialog.legend.opts["labelTextColor"].name() == dark_text.name()
        assert dialog.plot.plotItem.titleLabel.opts["color"] == dark_text
        screenshot(dialog, "history-compare-dark")
    finally:
        apply_style(app, "light")
    dialog.close()


def test_delete_asks_then_removes_the_folder(qtbot, monkeypatch):
    keep, gone = _run("keep-me"), _run("delete-me")
    view = _history(qtbot)
    asked = []

    def answer(reply):
        def question(*args, **kwargs):
            asked.append(args[2])
            return reply

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    view.select(gone)
    view.action("delete").trigger()
    assert gone.is_dir() and view.table.rowCount() == 2
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    view.action("delete").trigger()
    assert not gone.exists() and keep.is_dir()
    assert view.table.rowCount() == 1 and _cells(view, 0)[0] == "keep-me"
    assert "delete-me" in asked[0] and "cannot be undone" in asked[0]
    view.set_active_run(keep)  # a run being trained cannot be deleted
    view.select(keep)
    assert not view.action("delete").isEnabled()
    assert _cells(view, 0)[3] == "Training"


def test_export_writes_a_model_folder(qtbot, monkeypatch, tmp_path, chat_data, installed_tiny):
    cfg = RunConfig(
        model=str(installed_tiny), data=str(chat_data), iters=2, num_layers=2, batch_size=2
    )
    cfg.name, cfg.steps_per_eval, cfg.save_every = "exportable", 2, 2
    dump_config(cfg, tmp_path / "c.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "train", str(tmp_path / "c.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = paths.runs_dir() / "exportable"
    view = _history(qtbot)
    view.select(run)
    assert not view.export_row.isVisible()  # nothing to say before an export
    assert view.action("serve").isEnabled() and view.action("export").isEnabled()
    with qtbot.waitSignal(view.serve_run, timeout=1000) as served:
        view.action("serve").trigger()
    assert served.args == [run]

    target = tmp_path / "exports"
    target.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(target))
    view.action("export").trigger()
    assert view.is_exporting() and not view.action("export").isEnabled()
    assert view.export_progress.isVisible()
    qtbot.waitUntil(lambda: not view.is_exporting(), timeout=300_000)
    qtbot.wait(100)  # the queued `ended`
    out = target / "exportable"
    assert (out / "mlx" / "config.json").is_file(), view.export_status.text()
    assert "Exported" in view.export_status.text()
    assert short_path(out) in view.export_status.text()
    assert not view.export_progress.isVisible()
    assert view.export_row.isVisible() and view.export_folder() == out
    # Show folder hands the folder to the system's file manager (patched: an OS edge).
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    assert view.show_folder_button.isVisible()
    view.show_folder_button.click()
    assert [url.toLocalFile() for url in opened] == [str(out)]
    screenshot(view, "history-exported")


def test_export_message_shortens_the_home_folder():
    from pathlib import Path

    assert short_path(Path.home() / "exports" / "run") == "~/exports/run"
    assert short_path(Path("/elsewhere/run")) == "/elsewhere/run"
