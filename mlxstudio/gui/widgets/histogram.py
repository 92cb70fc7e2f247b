"""Token-length histogram: bars per length bin, the max_seq_length cut-off marked."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from mlxstudio.core.data import TokenStats
from mlxstudio.gui.style import ACCENT


class TokenHistogram(pg.PlotWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, title="Tokens per example")
        self.setBackground(None)
        self.setLabel("bottom", "tokens")
        self.setLabel("left", "examples")
        self.showGrid(y=True, alpha=0.2)
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setMinimumHeight(160)
        self.bars: pg.BarGraphItem | None = None
        self.limit = pg.InfiniteLine(
            angle=90, pen=pg.mkPen("#eb5757", width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        self.addItem(self.limit)
        self.limit.hide()

    def show_stats(self, stats: TokenStats) -> None:
        if self.bars is not None:
            self.removeItem(self.bars)
        bins = stats.histogram
        if not bins:
            return
        self.bars = pg.BarGraphItem(
            x0=[b.low for b in bins],
            x1=[b.high for b in bins],
            height=[b.count for b in bins],
            brush=ACCENT,  # the app's accent; reads on light and dark backgrounds
            pen=pg.mkPen(ACCENT),
        )
        self.addItem(self.bars)
        self.limit.setValue(stats.max_seq_length)
        self.limit.setVisible(stats.max >= stats.max_seq_length * 0.8)

    def clear_stats(self) -> None:
        """Nothing measured (a new dataset, or a model not chosen yet)."""
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        self.limit.hide()
