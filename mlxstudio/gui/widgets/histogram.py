"""Token-length histogram: bars per length bin, the max_seq_length cut-off marked."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from mlxstudio.core.data import TokenStats


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
            brush="#2f80ed",
            pen=pg.mkPen("#1b5fb8"),
        )
        self.addItem(self.bars)
        self.limit.setValue(stats.max_seq_length)
        self.limit.setVisible(stats.max >= stats.max_seq_length * 0.8)
