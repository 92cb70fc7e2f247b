"""Run history's "Save as image…": the selected runs' curves in one picture (several runs
overlaid), the same one `mlxstudio plot` draws (core/curves_image.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QLabel

from mlxstudio.core import runs
from mlxstudio.core.curves_image import SUFFIXES, save_curves
from mlxstudio.core.errors import UserError
from mlxstudio.gui.icons import icon
from mlxstudio.gui.style import set_message


def has_curves(run_dir: Path) -> bool:
    metrics = run_dir / runs.METRICS
    return metrics.is_file() and metrics.stat().st_size > 0


def default_image(run_dirs: list[Path]) -> Path:
    """Where the save dialog starts: Pictures (else home), named after the runs."""
    folder = Path.home() / "Pictures"
    name = "-vs-".join(r.name for r in run_dirs)[:80]
    return (folder if folder.is_dir() else Path.home()) / f"{name}-curves.png"


def save_image(history, run_dirs: list[Path], out: Path) -> bool:
    """Draw the runs' curves into `out`; the outcome shows under the run list."""
    if out.suffix.lower() not in SUFFIXES:
        out = out.with_name(out.name + ".png")
    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        save_curves(run_dirs, out)
    except UserError as err:
        set_message(history.image_status, f"The image was not saved: {err}", "error")
        return False
    finally:
        QGuiApplication.restoreOverrideCursor()
        history.image_status.show()
    what = run_dirs[0].name if len(run_dirs) == 1 else f"{len(run_dirs)} runs"
    set_message(history.image_status, f"Saved the curves of {what} to {out}", "ok")
    return True


def attach_save_image(history) -> QAction:
    """A "Save as image…" action on run history's toolbar, for the runs selected (one, or
    several to overlay); its outcome shows in a line under the run list."""
    action = QAction(icon("export"), "Save as image…", history)
    history.image_status = QLabel()
    history.image_status.setWordWrap(True)
    history.image_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    history.image_status.hide()
    history.export_row.parentWidget().layout().addWidget(history.image_status)

    def update() -> None:
        chosen = history.selected_runs()
        ok = bool(chosen) and all(has_curves(r) for r in chosen)
        action.setEnabled(ok)
        action.setToolTip(
            "Save the curves (loss, learning rate, speed, memory; reward and KL for RL) as a "
            "picture; several selected runs are drawn on the same axes."
            if ok
            else "Select runs that have trained at least one step to save their curves."
        )

    def trigger() -> None:
        chosen = history.selected_runs()
        if not chosen or not action.isEnabled():
            return
        path, _ = QFileDialog.getSaveFileName(
            history,
            "Save the curves as an image",
            str(default_image(chosen)),
            "Images (*.png *.svg *.pdf)",
        )
        if path:
            save_image(history, chosen, Path(path))

    action.triggered.connect(trigger)
    history.toolbar.insertAction(history.actions_by_name["compare"], action)
    history.table.itemSelectionChanged.connect(update)
    update()
    return action
