"""A bar showing predicted training memory against this machine's, coloured by the verdict."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from mlxstudio.core.models.memory import MemoryEstimate

COLOURS = {
    "fits": QColor("#2e9d57"),
    "tight": QColor("#e0a100"),
    "will not fit": QColor("#c0392b"),
    "unknown": QColor("#7f8c8d"),
}


class _Bar(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.share = 0.0
        self.colour = COLOURS["unknown"]
        self.setMinimumHeight(18)
        self.setMaximumHeight(18)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's naming)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QColor("#b0b0b0"))
        p.setBrush(QColor("#ececec"))
        p.drawRoundedRect(rect, 4, 4)
        if self.share > 0:
            fill = QRectF(rect)
            fill.setWidth(max(6.0, rect.width() * min(self.share, 1.0)))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self.colour)
            p.drawRoundedRect(fill, 4, 4)
        p.end()


class MemoryGauge(QWidget):
    """Shows a MemoryEstimate: the bar, the peak and its parts, and what would make it fit."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.bar = _Bar()
        self.headline = QLabel("Memory estimate: choose a model")
        self.detail = QLabel()
        self.detail.setObjectName("Hint")
        self.detail.setWordWrap(True)
        # A wrapped label must keep its height; the table above is what gives way.
        self.detail.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.detail.setMinimumHeight(self.detail.fontMetrics().lineSpacing() * 2)
        self.verdict = "unknown"
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.setSpacing(3)
        layout.addWidget(self.headline)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)

    def show_estimate(self, est: MemoryEstimate | None, what: str = "") -> None:
        if est is None:
            self.verdict = "unknown"
            self.bar.share = 0.0
            self.headline.setText(what or "Memory estimate: choose a model")
            self.detail.setText("")
            self.bar.update()
            return
        self.verdict = est.verdict
        self.bar.colour = COLOURS.get(est.verdict, COLOURS["unknown"])
        self.bar.share = est.peak_gb / est.available_gb if est.available_gb else 0.0
        verdict = {"fits": "fits", "tight": "tight", "will not fit": "will NOT fit"}.get(
            est.verdict, ""
        )
        headline = f"Training memory: {est.peak_gb:.1f} GB predicted peak"
        if est.available_gb:
            headline += f" of {est.available_gb:.1f} GB: {verdict}"
        self.headline.setText(headline + (f"  ({what})" if what else ""))
        parts = (
            f"weights {est.weights_gb:.2f} GB, trainable state {est.trainable_gb:.2f} GB, "
            f"activations {est.activations_gb:.2f} GB, logits {est.logits_gb:.2f} GB"
        )
        if est.advice:
            parts += ". To fit: " + "; or ".join(est.advice) + "."
        self.detail.setText(parts)
        self.bar.setToolTip(parts)
        self.bar.update()
