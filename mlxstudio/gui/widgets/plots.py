"""Live metric plots: one PlotDataItem per series, updated with setData, never rebuilt."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

# Panels whose y axis starts at zero, so small wobbles don't look like big swings.
FROM_ZERO = {"Throughput", "Peak memory"}

# (plot title, y label, [(event kind, field, series label, colour)])
PANELS = (
    (
        "Loss",
        "loss",
        [("train", "train_loss", "train", "#2f80ed"), ("val", "val_loss", "validation", "#eb5757")],
    ),
    ("Learning rate", "lr", [("train", "learning_rate", "lr", "#9b51e0")]),
    ("Throughput", "tokens/s", [("train", "tokens_per_second", "tokens/s", "#27ae60")]),
    ("Peak memory", "GB", [("train", "peak_memory_gb", "memory", "#f2994a")]),
)


class MetricPlots(QWidget):
    """A 2x2 grid of plots fed with run events (dicts with 'event' and 'step')."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.series: dict[tuple[str, str], tuple[pg.PlotDataItem, list, list]] = {}
        self.panel_of: dict[tuple[str, str], pg.PlotWidget] = {}
        self.plots: list[pg.PlotWidget] = []
        for i, (title, ylabel, curves) in enumerate(PANELS):
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
                )
                item.setDownsampling(auto=True)
                item.setClipToView(True)
                self.series[(kind, field)] = (item, [], [])
                self.panel_of[(kind, field)] = plot
            self.plots.append(plot)
            layout.addWidget(plot, i // 2, i % 2)

    def clear(self) -> None:
        for item, xs, ys in self.series.values():
            xs.clear()
            ys.clear()
            item.setData([], [])

    def add_events(self, events: list[dict]) -> None:
        """Append many events, then redraw each touched curve once."""
        touched = set()
        for event in events:
            for (kind, field), (_item, xs, ys) in self.series.items():
                if event.get("event") == kind and isinstance(event.get(field), (int, float)):
                    xs.append(event["step"])
                    ys.append(event[field])
                    touched.add((kind, field))
        for key in touched:
            item, xs, ys = self.series[key]
            item.setData(xs, ys)
            plot = self.panel_of[key]
            if plot.property("from_zero") and ys:
                plot.setYRange(0, max(ys) * 1.15 or 1.0, padding=0)

    def add_event(self, event: dict) -> None:
        self.add_events([event])

    def point_count(self) -> int:
        return sum(len(xs) for _item, xs, _ys in self.series.values())
