"""Run history's "Save as image…": the selected runs' curves saved as a PNG (the picture
`mlxstudio plot` draws), enabled only for runs that have curves, errors shown in place."""

from __future__ import annotations

import json

from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QFileDialog
from screens import screenshot

from mlxstudio.core import paths
from mlxstudio.core.curves_image import RUN_COLOURS
from mlxstudio.gui.runs_view import RunHistory


def make_run(name: str, steps: int = 12, stage: str = "sft"):
    """A run folder as a finished job leaves it (run.json, metrics.jsonl), not trained here."""
    run = paths.runs_dir() / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": "completed", "stage": stage}))
    events = [{"event": "start", "run_dir": str(run), "total_steps": steps}]
    for s in range(1, steps + 1):
        events.append(
            {
                "event": "train",
                "step": s,
                "train_loss": 3 - s / steps,
                "learning_rate": 1e-4 * s / steps,
                "tokens_per_second": 900.0 + 10 * s,
                "peak_memory_gb": 0.2,
            }
        )
    events.append({"event": "val", "step": steps, "val_loss": 2.2})
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run


def has_colour(image: QImage, hex_colour: str) -> bool:
    want = QColor(hex_colour)
    step = 2
    return any(
        image.pixelColor(x, y) == want
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    )


def test_save_two_runs_overlaid(qtbot, studio_home, tmp_path, monkeypatch):
    first, second = make_run("first-run"), make_run("second-run", steps=20)
    (paths.runs_dir() / "not-started").mkdir()  # a folder with no curves yet
    (paths.runs_dir() / "not-started" / "run.json").write_text('{"status": "running"}')
    view = RunHistory()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    action = view.save_image_action
    assert action.text() == "Save as image…" and action in view.toolbar.actions()
    assert not action.isEnabled()  # nothing selected
    view.select(paths.runs_dir() / "not-started")
    assert not action.isEnabled() and "trained at least one step" in action.toolTip()

    view.select(first, second)
    assert action.isEnabled()
    out = tmp_path / "pictures" / "both"  # typed without a suffix: .png is added
    asked = []

    def save_dialog(parent, title, start, filters):
        asked.append(start)
        return str(out), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    action.trigger()
    assert asked[0].endswith("-curves.png") and "first-run" in asked[0] and "second-run" in asked[0]
    saved = out.with_name("both.png")
    image = QImage(str(saved))
    assert image.width() > 600 and image.height() > 400
    # both runs are drawn, each in its own colour
    assert has_colour(image, RUN_COLOURS[0]) and has_colour(image, RUN_COLOURS[1])
    assert view.image_status.isVisible() and str(saved) in view.image_status.text()
    screenshot(view, "history-save-image")


def test_a_failed_save_says_why(qtbot, studio_home, tmp_path, monkeypatch):
    run = make_run("only-run")
    view = RunHistory()
    qtbot.addWidget(view)
    view.show()
    view.select(run)
    (run / "metrics.jsonl").write_text('{"event": "start"}\n')  # emptied since it was listed
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(tmp_path / "x.png"), ""))
    view.save_image_action.trigger()
    assert not (tmp_path / "x.png").exists()
    assert "no training step recorded yet" in view.image_status.text()
