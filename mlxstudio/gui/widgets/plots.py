"""Live metric plots: one PlotDataItem per series, updated with setData, never rebuilt."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QWidget

# Panels whose y axis starts at zero, so small wobbles don't look like big swings.
FROM_ZERO = {"Throughput", "Peak memory", "KL to reference", "Learning rate"}

LOSS = (
    "Loss",
    "loss",
    [("train", "train_loss", "train", "#2f80ed"), ("val", "val_loss", "validation", "#eb5757")],
)
THROUGHPUT = ("Throughput", "tokens/s", [("train", "tokens_per_second", "tokens/s", "#27ae60")])

# Per stage: (plot title, y label, [(event kind, field, series label, colour)]) x 4
PANELS_BY_STAGE: dict[str, tuple] = {
    "sft": (
        LOSS,
        ("Learning rate", "lr", [("train", "learning_rate", "lr", "#9b51e0")]),
        THROUGHPUT,
        ("Peak memory", "GB", [("train", "peak_memory_gb", "memory", "#f2994a")]),
    ),
    "rl": (
        (
            "Reward",
            "reward",
            [
                ("train", "reward_mean", "mean", "#27ae60"),
                ("val", "reward_mean", "held-out", "#eb5757"),
            ],
        ),
        (
            "KL to reference",
            "KL",
            [("train", "kl", "train", "#9b51e0"), ("val", "kl", "validation", "#eb5757")],
        ),
        ("Policy loss", "loss", [("train", "policy_loss", "policy", "#2f80ed")]),
        THROUGHPUT,
    ),
    "dpo": (
        LOSS,
        (
            "Chosen - rejected margin",
            "margin",
            [("train", "margin", "train", "#2f80ed"), ("val", "margin", "validation", "#eb5757")],
        ),
        (
            "Preference accuracy",
            "share",
            [
                ("train", "accuracy", "train", "#27ae60"),
                ("val", "accuracy", "validation", "#eb5757"),
            ],
        ),
        THROUGHPUT,
    ),
}
PANELS_BY_STAGE["pretrain"] = PANELS_BY_STAGE["sft"]
PANELS_BY_STAGE["grpo"] = PANELS_BY_STAGE["rl"]
PANELS = PANELS_BY_STAGE["sft"]


class _Series:
    """Points of one curve in growable numpy buffers (setData copies nothing from lists)."""

    def __init__(self, item: pg.PlotDataItem, plot: pg.PlotWidget) -> None:
        self.item, self.plot = item, plot
        self.x = np.empty(256)
        self.y = np.empty(256)
        self.n = 0
        self.top = 0.0
        self.own_symbol = item.opts.get("symbol")
        self.dotted = bool(self.own_symbol)

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.resize(self.x, 2 * self.n)
            self.y = np.resize(self.y, 2 * self.n)
        self.x[self.n], self.y[self.n] = x, y
        self.n += 1
        self.top = max(self.top, y)

    def clear(self) -> None:
        self.n, self.top = 0, 0.0

    def draw(self) -> None:
        # Dots while a curve is short (one point draws no line); plain lines once it is long.
        few = self.n <= 60
        if few != self.dotted:
            self.item.setSymbol("o" if few else self.own_symbol)
            self.item.setSymbolSize(6 if few or self.own_symbol else 0)
            self.dotted = few
        self.item.setData(self.x[: self.n], self.y[: self.n], skipFiniteCheck=True)
        if self.plot.property("from_zero") and self.n:
            self.plot.setYRange(0, self.top * 1.15 or 1.0, padding=0)


class MetricPlots(QWidget):
    """A 2x2 grid of plots fed with run events (dicts with 'event' and 'step').

    Events are buffered and the touched curves redrawn at most every REDRAW_MS, one panel
    per event-loop turn (a software-rendered repaint of all four at once stalls the window
    for 100+ ms), so a fast producer never makes the window freeze."""

    REDRAW_MS = 100
    STAGGER_MS = 15

    def __init__(self, parent: QWidget | None = None, stage: str = "sft") -> None:
        super().__init__(parent)
        self.stage = stage
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.series: dict[tuple[str, str], _Series] = {}
        self.plots: list[pg.PlotWidget] = []
        self._dirty: set[tuple[str, str]] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        for i, (title, ylabel, curves) in enumerate(PANELS_BY_STAGE.get(stage, PANELS)):
            plot = pg.PlotWidget(title=title)
            plot.setBackground(None)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("left", ylabel)
            plot.setLabel("bottom", "step")
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setProperty("from_zero", title in FROM_ZERO)
            if len(curves) > 1:
                plot.addLegend(offset=(-10, 10))
            for kind, field, label, colour in curves:
                item = plot.plot(
                    [],
                    [],
                    name=label,
                    pen=pg.mkPen(colour, width=2),
                    symbol="o" if kind == "val" else None,
                    symbolSize=6,
                    symbolBrush=colour,
                    antialias=kind == "val",  # long train curves draw much faster without
                )
                item.setDownsampling(auto=True, method="peak")
                item.setClipToView(True)
                self.series[(kind, field)] = _Series(item, plot)
            self.plots.append(plot)
            layout.addWidget(plot, i // 2, i % 2)

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
            series.draw()
        self._dirty.clear()

    def add_events(self, events: list[dict]) -> None:
        """Append events; the touched curves are redrawn shortly (coalesced)."""
        for event in events:
            kind = event.get("event")
            for (series_kind, field), series in self.series.items():
                value = event.get(field)
                if kind == series_kind and isinstance(value, (int, float)):
                    series.append(event["step"], value)
                    self._dirty.add((series_kind, field))
        if self._dirty and not self._timer.isActive():
            self._timer.start(self.REDRAW_MS)

    def add_event(self, event: dict) -> None:
        self.add_events([event])

    def redraw(self, everything: bool = False) -> None:
        """Draw the dirty curves of one panel (all panels if `everything`)."""
        if not self._dirty:
            return
        panel = self.series[next(iter(self._dirty))].plot
        for key in list(self._dirty):
            if everything or self.series[key].plot is panel:
                self.series[key].draw()
                self._dirty.discard(key)
        if self._dirty:
            self._timer.start(self.STAGGER_MS)
        else:
            self._timer.setInterval(self.REDRAW_MS)

    def point_count(self) -> int:
        return sum(series.n for series in self.series.values())
