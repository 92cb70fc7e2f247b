"""Run history's Export menu: the MLX folder alone or with a GGUF of a chosen type; choosing
one exports the run in it (a real training run, a real export in a child process)."""

from __future__ import annotations

import subprocess
import sys

from PySide6.QtWidgets import QFileDialog, QToolButton
from screens import screenshot

from mlxstudio.core import paths
from mlxstudio.core.config import RunConfig, dump_config
from mlxstudio.core.models.gguf_export import quant_choices
from mlxstudio.core.models.gguf_reader import read_gguf
from mlxstudio.gui.runs_view import RunHistory


def test_export_menu_writes_the_chosen_gguf(
    qtbot, monkeypatch, tmp_path, chat_data, installed_tiny
):
    cfg = RunConfig(
        model=str(installed_tiny), data=str(chat_data), iters=2, num_layers=2, batch_size=2
    )
    cfg.name, cfg.steps_per_eval, cfg.save_every = "to-gguf", 2, 2
    dump_config(cfg, tmp_path / "c.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "train", str(tmp_path / "c.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    view = RunHistory()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    view.select(paths.runs_dir() / "to-gguf")

    labels = [a.text() for a in view.export_menu.actions()]
    assert labels[0] == "MLX folder only" and len(labels) == 1 + len(quant_choices())
    assert "MLX folder + GGUF Q8_0 (8-bit, near full quality)" in labels
    button = view.toolbar.widgetForAction(view.action("export"))
    assert button.popupMode() == QToolButton.ToolButtonPopupMode.MenuButtonPopup
    assert view.export_gguf is None  # the plain button: the MLX folder only, as before

    target = tmp_path / "exports"
    target.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(target))
    q8 = next(a for a in view.export_menu.actions() if "Q8_0" in a.text())
    q8.trigger()  # choosing a format exports in it, and is remembered
    assert view.export_gguf == "Q8_0" and view.action("export").text() == "Export (Q8_0)…"
    assert view.is_exporting() and q8.isChecked()
    qtbot.waitUntil(lambda: not view.is_exporting(), timeout=300_000)
    qtbot.wait(100)  # the queued `ended`
    out = target / "to-gguf"
    assert "Exported" in view.export_status.text(), view.export_status.text()
    info = read_gguf(out / "model.gguf")
    assert info.file_type == "Q8_0" and (out / "Modelfile").is_file()
    screenshot(view, "history-export-formats")
