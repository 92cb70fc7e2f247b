"""Two (or more) runs' train and validation loss on the same axes, with a legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from mlxstudio.core import runs
from mlxstudio.gui.widgets.plots import last_per_step, step_plot
from mlxstudio.gui.widgets.run_info import best_val_loss, finite

COLOURS = ("#2f80ed", "#eb5757", "#27ae60", "#9b51e0", "#f2994a")
CURVES = (("train", "train_loss", "train"), ("val", "val_loss", "validation"))


def loss_curves(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (steps, losses), "validation": (steps, losses)} of one run."""
    events = last_per_step(list(runs.read_events(run_dir)))
    out = {}
    for kind, field, label in CURVES:
        points = [
            (e["step"], e[field])
            for e in events
            if e.get("event") == kind and isinstance(e.get("step"), int) and finite(e.get(field))
        ]
        xs, ys = zip(*points, strict=True) if points else ((), ())
        out[label] = (np.array(xs, dtype=float), np.array(ys, dtype=float))
    return out


class CompareDialog(QDialog):
    """Loss curves of several runs: one colour per run, train solid, validation dashed."""

    def __init__(self, run_dirs: list[Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare runs: " + " and ".join(d.name for d in run_dirs))
        self.resize(820, 520)
        self.plot = step_plot("Loss")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(-10, 10))
        self.curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        lines = []
        for i, run_dir in enumerate(run_dirs):
            colour = COLOURS[i % len(COLOURS)]
            for label, (xs, ys) in loss_curves(run_dir).items():
                if not len(xs):
                    continue
                val = label == "validation"
                pen = pg.mkPen(
                    colour, width=2, style=Qt.PenStyle.DashLine if val else Qt.PenStyle.SolidLine
                )
                name = f"{run_dir.name} · {label}"
                self.plot.plot(
                    xs,
                    ys,
                    name=name,
                    pen=pen,
                    symbol="o" if val or len(xs) <= 60 else None,
                    symbolSize=6,
                    symbolBrush=colour,
                )
                self.curves[name] = (xs, ys)
            events = list(runs.read_events(run_dir))
            best = best_val_loss(events, runs.read_meta(run_dir))
            best_text = f"best validation loss {best:.3f}" if best is not None else "no validation"
            lines.append(f"<span style='color:{colour}'>■</span> {run_dir.name}: {best_text}")
        self.plot.enableAutoRange()
        summary = QLabel("&nbsp;&nbsp;&nbsp;".join(lines))
        summary.setTextFormat(Qt.TextFormat.RichText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(summary)
        layout.addWidget(buttons)

    def curve_names(self) -> list[str]:
        return list(self.curves)
