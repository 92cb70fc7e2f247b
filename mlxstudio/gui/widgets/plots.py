"""Live metric plots: one PlotDataItem per series, updated with setData, never rebuilt."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QStackedLayout, QWidget

from mlxstudio.core.curves import PANELS_BY_STAGE, REWARD, flat_fields, parts_panel
from mlxstudio.gui.widgets.empty_state import empty_state

EMPTY = "The curves appear here from the first step of a run."

# Panels whose y axis starts at zero, so small wobbles don't look like big swings.
FROM_ZERO = {"Throughput", "Peak memory", "KL to reference", "Learning rate"}

# Per stage: (plot title, y label, [(event kind, field, series label, colour)]) x 4; the
# same curves `mlxstudio plot` draws (core/curves.py)
PANELS = PANELS_BY_STAGE["sft"]


class StepAxis(pg.AxisItem):
    """A bottom axis of training steps: whole numbers only, never an SI prefix
    ("step (x0.001)") and never fractional ticks (9.6 ... 10.4) when a curve is short."""

    def __init__(self, **kwargs) -> None:
        super().__init__("bottom", **kwargs)
        self.enableAutoSIPrefix(False)

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802,N803
        levels = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            if spacing >= 1:
                levels.append((spacing, [v for v in values if abs(v - round(v)) < 1e-6]))
        if not levels:  # a range under one step wide: tick the whole numbers inside it
            lo, hi = math.ceil(minVal), math.floor(maxVal)
            levels = [(1.0, [float(v) for v in range(lo, hi + 1)])]
        return levels

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [f"{int(round(v)):,}" for v in values]


def nice_ticks(lo: float, hi: float, most: int) -> tuple[float, list[float]]:
    """About `most` (at most one more) round tick values between lo and hi, and their
    spacing: 0 2 4 6 rather than 0 1 2 3 4 5 6."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return 1.0, []
    magnitude = 10 ** math.floor(math.log10((hi - lo) / max(most, 1)))
    for m in (1, 2, 5, 10, 20, 50):  # the finest round spacing that gives few enough ticks
        spacing = m * magnitude
        first, last = math.ceil(lo / spacing - 1e-9), math.floor(hi / spacing + 1e-9)
        if last - first + 1 <= most + 1:
            break
    return spacing, [v * spacing for v in range(first, last + 1)]


class ValueAxis(pg.AxisItem):
    """A left axis with few round ticks (a short chart gets about 3, not 8 crowded ones)
    and no SI prefix; `self.scale` shows values in another unit (GB as MB)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("left", **kwargs)
        self.enableAutoSIPrefix(False)

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802,N803
        lo, hi = sorted((minVal * self.scale, maxVal * self.scale))
        most = 3 if size < 180 else 5
        spacing, values = nice_ticks(lo, hi, most)
        return [(spacing / self.scale, [v / self.scale for v in values])]


def step_plot(title: str | None = None) -> pg.PlotWidget:
    """A plot whose x axis counts steps (StepAxis) and whose y axis has few round ticks
    and no SI prefix (ValueAxis)."""
    plot = pg.PlotWidget(axisItems={"bottom": StepAxis(), "left": ValueAxis()})
    if title:
        plot.setTitle(title, size="10pt")
    plot.setBackground(None)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setLabel("bottom", "step")
    return plot


HIDDEN_AXIS_WIDTH = 52  # px: a left axis with its title and a few short numbers


def set_values_shown(plot: pg.PlotWidget, shown: bool) -> None:
    """Show or hide the left axis's numbers (an empty panel shows none, not a made-up
    0.2 ... 0.8 scale)."""
    axis = plot.getAxis("left")
    if axis.style["showValues"] != shown:
        axis.setStyle(showValues=shown)
        # An empty panel keeps about the room numbers take, so the panels stay aligned.
        axis.setWidth(None if shown else HIDDEN_AXIS_WIDTH)


def memory_unit(top_gb: float) -> tuple[str, float]:
    """The unit a peak memory of top_gb reads best in, and its scale from GB."""
    return ("GB", 1.0) if top_gb >= 1.0 else ("MB", 1000.0)


def last_per_step(events: list[dict]) -> list[dict]:
    """For a resumed run, keep the event written last for each (kind, step): the steps
    after the checkpoint were trained again, and the curve must not fold back on itself."""
    kept: dict[tuple, dict] = {}
    for i, event in enumerate(events):
        step = event.get("step")
        key = (event.get("event"), step) if isinstance(step, int) else ("#", i)
        kept.pop(key, None)  # re-inserted last, so the order is that of the last writes
        kept[key] = event
    steps = [e for e in kept.values() if isinstance(e.get("step"), int)]
    return sorted(steps, key=lambda e: e["step"]) + [
        e for e in kept.values() if not isinstance(e.get("step"), int)
    ]


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
        # Dots on the line while a curve is short (one point draws no line); plain lines once
        # it is long.
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
        # Before the first point: one line of help instead of four empty axes.
        self.placeholder, _ = empty_state("train", EMPTY)
        self.grid = QWidget()
        layout = QGridLayout(self.grid)
        layout.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.grid)
        self.series: dict[tuple[str, str], _Series] = {}
        self.plots: list[pg.PlotWidget] = []
        self._dirty: set[tuple[str, str]] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        for i, (title, ylabel, curves) in enumerate(PANELS_BY_STAGE.get(stage, PANELS)):
            plot = step_plot(title)
            plot.setLabel("left", ylabel)
            set_values_shown(plot, False)  # until the panel has a point
            if i < 2:  # the bottom row's "step" says it for both rows: room for the curves
                plot.setLabel("bottom", None)
            plot.setProperty("title", title)
            plot.setProperty("from_zero", title in FROM_ZERO)
            plot.setProperty("memory", ylabel == "GB")
            if len(curves) > 1:  # on an opaque box: a curve never runs through its words
                base = plot.palette().color(plot.backgroundRole())
                base.setAlpha(225)
                plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(base), pen=pg.mkPen(None))
            for kind, field, label, colour in curves:
                self._add_curve(plot, kind, field, label, colour)
            self.plots.append(plot)
            layout.addWidget(plot, i // 2, i % 2)

    def _add_curve(self, plot, kind: str, field: str, label: str, colour: str) -> None:
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

    def _add_part_curves(self, event: dict) -> None:
        """GRPO's rewards one by one: a curve per reward and check, named at run time,
        beside the total on the Reward panel (core/curves.py parts_panel)."""
        names = [n for n in event if n.startswith(("reward.", "check."))]
        new = [n for n in names if ("train", n) not in self.series]
        panel = next((p for p in self.plots if p.property("title") == REWARD[0]), None)
        if not new or panel is None:
            return
        if panel.plotItem.legend is None:
            panel.addLegend(offset=(-10, 10))
        _, _, curves = parts_panel(names)
        for kind, field, label, colour in curves:
            if field in new:
                self._add_curve(panel, kind, field, label, colour)
                self.series[(kind, field)].item.setPen(pg.mkPen(colour, width=1, dash=[4, 3]))
        legend = panel.plotItem.legend
        legend.setColumnCount(2 if len(legend.items) > 3 else 1)  # short: room for curves

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # light <-> dark
            for plot in self.plots:
                legend = plot.plotItem.legend
                if legend is not None:
                    base = self.palette().color(QPalette.ColorRole.Window)
                    base.setAlpha(225)
                    legend.setBrush(pg.mkBrush(base))
                plot.resetCachedContent()  # the view caches the old scheme's background

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
            series.draw()
        self._dirty.clear()
        for plot in self.plots:
            self._label_values(plot)
        self.set_steps(0)
        self.set_placeholder(EMPTY)

    def set_placeholder(self, text: str) -> None:
        """The line shown until the first point (e.g. "Loading the model…")."""
        self.placeholder.findChild(QLabel, "EmptyStateText").setText(text)
        if not self.point_count():
            self.stack.setCurrentWidget(self.placeholder)

    def placeholder_text(self) -> str:
        return self.placeholder.findChild(QLabel, "EmptyStateText").text()

    def showing_curves(self) -> bool:
        return self.stack.currentWidget() is self.grid

    def set_steps(self, total: int) -> None:
        """Show steps 0..total on every x axis from the first point on (0: fit the data)."""
        for plot in self.plots:
            if total > 0:
                plot.setXRange(0, total, padding=0.05)
            else:
                plot.enableAutoRange(x=True)

    def show_events(self, events: list[dict], total: int = 0) -> None:
        """Replace the curves with a whole run's events (history): every point, drawn now."""
        self.clear()
        self.add_events(last_per_step(events))
        self.redraw(everything=True)
        self._timer.stop()
        self.set_steps(total)

    def add_events(self, events: list[dict]) -> None:
        """Append events; the touched curves are redrawn shortly (coalesced)."""
        for event in events:
            kind = event.get("event")
            event = flat_fields(event)
            if kind == "train":
                self._add_part_curves(event)
            for (series_kind, field), series in self.series.items():
                value = event.get(field)
                if kind == series_kind and isinstance(value, (int, float)):
                    series.append(event["step"], value)
                    self._dirty.add((series_kind, field))
        if self._dirty and not self._timer.isActive():
            self._timer.start(self.REDRAW_MS)
        if self._dirty:
            self.stack.setCurrentWidget(self.grid)

    def add_event(self, event: dict) -> None:
        self.add_events([event])

    def redraw(self, everything: bool = False) -> None:
        """Draw the dirty curves of one panel (all panels if `everything`)."""
        if not self._dirty:
            return
        panel = self.series[next(iter(self._dirty))].plot
        touched = set()
        for key in list(self._dirty):
            if everything or self.series[key].plot is panel:
                self.series[key].draw()
                self._dirty.discard(key)
                touched.add(self.series[key].plot)
        for plot in touched:
            self._label_values(plot)
        if self._dirty:
            self._timer.start(self.STAGGER_MS)
        else:
            self._timer.setInterval(self.REDRAW_MS)

    def _label_values(self, plot: pg.PlotWidget) -> None:
        """Numbers on the left axis only once the panel has points; peak memory in MB
        while it is under 1 GB (not "0.006 GB")."""
        mine = [s for s in self.series.values() if s.plot is plot]
        set_values_shown(plot, any(s.n for s in mine))
        if plot.property("memory"):
            unit, scale = memory_unit(max((s.top for s in mine), default=0.0))
            axis = plot.getAxis("left")
            if axis.labelText != unit or axis.scale != scale:
                axis.setScale(scale)
                plot.setLabel("left", unit)

    def left_label(self, index: int) -> str:
        """The left axis's title of panel `index` (e.g. "MB" for a small peak memory)."""
        return self.plots[index].getAxis("left").labelText

    def values_shown(self, index: int) -> bool:
        """Whether panel `index` shows numbers on its left axis."""
        return bool(self.plots[index].getAxis("left").style["showValues"])

    def left_ticks(self, index: int) -> list[str]:
        """The left axis's tick labels of panel `index` as drawn now (none if hidden)."""
        plot = self.plots[index]
        axis = plot.getAxis("left")
        if not axis.style["showValues"]:
            return []
        lo, hi = plot.viewRange()[1]
        levels = axis.tickValues(lo, hi, max(axis.height(), 1))
        values = [v for _, vals in levels for v in vals]
        spacing = levels[0][0] if levels else 1.0
        return axis.tickStrings(values, axis.scale, spacing)

    def point_count(self) -> int:
        return sum(series.n for series in self.series.values())

    def points(self, kind: str, field: str) -> tuple[np.ndarray, np.ndarray]:
        """The (steps, values) of one curve, e.g. points("train", "train_loss")."""
        series = self.series.get((kind, field))
        if series is None:
            return np.empty(0), np.empty(0)
        return series.x[: series.n].copy(), series.y[: series.n].copy()

    def drawn(self, kind: str, field: str) -> tuple[np.ndarray, np.ndarray]:
        """What the curve's item holds now (what is on screen, after coalescing)."""
        x, y = self.series[(kind, field)].item.getData()
        return (np.empty(0), np.empty(0)) if x is None else (x, y)
