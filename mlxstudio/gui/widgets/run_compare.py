"""Two (or more) runs' train and validation loss on the same axes, with a legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from mlxstudio.core import runs
from mlxstudio.gui.widgets.plots import last_per_step, step_plot
from mlxstudio.gui.widgets.run_info import best_words, finite

COLOURS = ("#2f80ed", "#eb5757", "#27ae60", "#9b51e0", "#f2994a")
CURVES = (("train", "train_loss", "train"), ("val", "val_loss", "validation"))


class LineSample(pg.ItemSample):
    """A legend sample wide enough to show the curve's line style (solid or dashed) and
    its dot: the default 20 px sample with a dot on it looks the same for both."""

    WIDTH = 40

    def __init__(self, item) -> None:
        super().__init__(item)
        self.setFixedWidth(self.WIDTH)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return QRectF(0, 0, self.WIDTH, 20)

    def paint(self, p: QPainter, *args) -> None:
        opts = self.item.opts
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(pg.mkPen(opts["pen"]))
        p.drawLine(0, 11, self.WIDTH, 11)
        symbol = opts.get("symbol")
        if symbol is not None and opts["pen"].style() != Qt.PenStyle.SolidLine:
            scatter = self.item.scatter.opts
            p.translate(self.WIDTH / 2, 11)
            pg.graphicsItems.ScatterPlotItem.drawSymbol(
                p, symbol, scatter["size"], pg.mkPen(scatter["pen"]), pg.mkBrush(scatter["brush"])
            )


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
        self.plot = step_plot()
        self.plot.setLabel("left", "loss")
        self.legend = self.plot.addLegend(offset=(-10, 10), sampleType=LineSample)
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
            best_text = best_words(events, runs.read_meta(run_dir)) or "no validation"
            lines.append(f"<span style='color:{colour}'>■</span> {run_dir.name}: {best_text}")
        self.plot.enableAutoRange()
        self._colour_text()
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

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # light <-> dark
            self._colour_text()

    def _colour_text(self) -> None:
        """Title and legend in the palette's text colour (pyqtgraph's default grey is faint
        on light and dark alike); the legend on an opaque box of the window's colour."""
        text = self.palette().color(QPalette.ColorRole.WindowText)
        self.plot.setTitle(
            "Loss of each run: train solid, validation dashed", color=text, size="11pt"
        )
        self.legend.setLabelTextColor(text)
        for _, label in self.legend.items:  # a label keeps its colour until set again
            label.setText(label.text, color=text)
        base = self.palette().color(QPalette.ColorRole.Window)
        base.setAlpha(225)
        self.legend.setBrush(pg.mkBrush(base))
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(text)
        self.plot.resetCachedContent()  # the view caches its background: the old scheme's
