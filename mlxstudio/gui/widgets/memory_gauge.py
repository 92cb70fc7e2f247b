"""The training-memory gauge: predicted peak against this machine's memory, kept up to date
from the wizard state. Put `MemoryGauge(state)` on any page whose settings change it.

It gives a verdict only once both the model and the data's token lengths are known: batches
are padded to the longest example, not to Max tokens, so before the lengths are measured any
figure would be a worst case (the 135M demo model at 4 x 2048 tokens in float32 is ~30 GB,
yet ~1 GB on the sample data).
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from mlxstudio.core.errors import UserError
from mlxstudio.core.models.memory import (
    MemoryEstimate,
    ModelShape,
    TrainSettings,
    estimate,
    machine_memory_gb,
)
from mlxstudio.gui.icons import level_colour
from mlxstudio.gui.state import WizardState
from mlxstudio.gui.style import set_message

LEVEL_OF_VERDICT = {"fits": "ok", "tight": "warning", "will not fit": "error"}
NO_MODEL = "Training memory: choose a model to estimate it"
NO_DATA = "Training memory: choose a dataset to estimate memory"
MEASURING = "Training memory: measuring…"

# The estimate's advice (core words, shared with the command line) in the window's words:
# each names the control to change, as labelled on the LoRA settings page.
WINDOW_WORDS = (
    (r"turn on gradient checkpointing", "turn on Gradient checkpointing"),
    (r"gradient checkpointing on", "Gradient checkpointing on"),
    (r"lower batch size to (\d+)", r"lower Batch size to \1"),
    (r"lower max tokens to (\d+)", r"lower Max tokens to \1"),
    (r"use LoRA instead of full fine-tuning", "set Adapter to LoRA"),
    (r"train (\d+) layers instead of (-?\d+)", r"set Layers to \1"),
    (r"train on a 4-bit quantized base \(QLoRA\)", "pick a 4-bit model on the Model page"),
    (r"batch size (\d+)", r"Batch size \1"),
    (r"max tokens (\d+)", r"Max tokens \1"),
    (r"(\d+) layers", r"Layers \1"),
)


def in_window_words(tip: str) -> str:
    for pattern, words in WINDOW_WORDS:
        tip = re.sub(pattern, words, tip)
    return tip


class _Bar(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.share = 0.0
        self.colour: QColor | None = None
        self.setFixedHeight(10)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's naming)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        rect = QRectF(self.rect())
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(pal.color(QPalette.ColorRole.Midlight))
        p.drawRoundedRect(rect, 5, 5)
        if self.share > 0 and self.colour is not None:
            fill = QRectF(rect)
            fill.setWidth(max(10.0, rect.width() * min(self.share, 1.0)))
            p.setBrush(self.colour)
            p.drawRoundedRect(fill, 5, 5)
        p.end()


class MemoryGauge(QWidget):
    """Predicted training memory for the state's model, data and settings; updates itself.

    Public: `verdict` ('measuring' until a verdict can be given, then 'fits', 'tight',
    'will not fit', or 'unknown' where this machine's memory is unknown), `estimate`
    (the MemoryEstimate or None), `memory_gb` (what training may use; settable),
    `refresh()`.
    """

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # attributes
        self.state = state
        self.memory_gb: float | None = machine_memory_gb()
        self.estimate: MemoryEstimate | None = None
        self.verdict = "measuring"
        # widgets
        self.bar = _Bar()
        self.headline = QLabel(NO_MODEL)
        self.detail = QLabel()
        self.detail.setObjectName("Hint")
        self.detail.setWordWrap(True)
        # A wrapped label must keep its height; the table above is what gives way.
        self.detail.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.detail.setMinimumHeight(self.detail.fontMetrics().lineSpacing() * 2)
        # layout
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.setSpacing(4)
        layout.addWidget(self.headline)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        # signals
        for signal in (
            state.model_changed,
            state.data_changed,
            state.lengths_changed,
            state.settings_changed,
        ):
            signal.connect(self.refresh)
        self.refresh()

    # -- Public API ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-estimate from the state now (it also runs when the model, data, lengths or
        settings change)."""
        st = self.state
        if st.model_path is None:
            return self._neutral(NO_MODEL, "")
        if st.data_dir is None:
            return self._neutral(
                NO_DATA, "Memory depends on how long your examples are: choose data first."
            )
        if st.longest_example is None:
            return self._neutral(MEASURING, "Counting the tokens of your longest example…")
        try:
            shape = ModelShape.from_folder(Path(st.model_path))
            # rows as the batches pad them: to the longest example (packed rows fill up)
            settings = TrainSettings.from_run_config(st.config, longest_example=st.longest_example)
            self.estimate = estimate(shape, settings, self.memory_gb)
        except (UserError, KeyError, ValueError) as err:
            return self._neutral("Training memory: no estimate for this model", str(err))
        self._show(self.estimate, settings)

    # -- drawing ---------------------------------------------------------------------------
    def _neutral(self, headline: str, detail: str) -> None:
        self.estimate = None
        self.verdict = "measuring"
        self.bar.share = 0.0
        set_message(self.headline, headline, None)
        self.detail.setText(detail)
        self.bar.setToolTip("")
        self.bar.update()

    def _show(self, est: MemoryEstimate, settings: TrainSettings) -> None:
        self.verdict = est.verdict
        level = LEVEL_OF_VERDICT.get(est.verdict)
        self.bar.colour = (
            level_colour(level)
            if level
            else self.palette().color(QPalette.ColorRole.PlaceholderText)
        )
        self.bar.share = est.peak_gb / est.available_gb if est.available_gb else 0.0
        verdict = {"fits": "fits", "tight": "tight", "will not fit": "will NOT fit"}
        peak = f"{est.peak_gb:.2f}" if est.peak_gb < 1 else f"{est.peak_gb:.1f}"
        headline = f"Training memory: {peak} GB predicted peak"
        if est.available_gb:
            headline += f" of {est.available_gb:.1f} GB: {verdict.get(est.verdict, '')}"
        set_message(self.headline, headline, level)
        cfg = self.state.config
        layers = "all" if cfg.num_layers < 0 else cfg.num_layers
        adapter = {"lora": "LoRA", "dora": "DoRA", "full": "Full"}.get(
            cfg.fine_tune_type, cfg.fine_tune_type
        )
        rows = {"dpo": " (chosen and rejected)", "grpo": f" × {cfg.group_size} answers"}
        longest = f"{self.state.longest_example} tokens (your longest example)"
        if settings.new_tokens:
            longest = (
                f"{self.state.longest_example} + {settings.new_tokens} tokens (your longest "
                "prompt and its answer)"
            )
        what = (
            f"{adapter}, rank {settings.rank}, {layers} layers, batch {cfg.batch_size}"
            f"{rows.get(cfg.stage, '')}, {longest}"
            + (", gradient checkpointing" if cfg.grad_checkpoint else "")
        )
        parts = (
            f"weights {est.weights_gb:.2f} GB, trainable {est.trainable_gb:.2f} GB, "
            f"activations {est.activations_gb:.2f} GB, logits {est.logits_gb:.2f} GB"
        )
        if est.sampling_gb:  # GRPO samples first, then learns: the larger of the two counts
            parts += f"; while sampling, the answers' memory {est.sampling_gb:.2f} GB"
        text = f"{what}. {parts}."
        if est.advice:
            tips = [in_window_words(t) for t in est.advice]
            text += " To fit: " + "; or ".join(tips) + "."
        self.detail.setText(text)
        self.bar.setToolTip(parts)
        self.bar.update()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's naming)
        # A live light/dark switch: level colours differ per scheme.
        if event.type() == QEvent.Type.PaletteChange and self.estimate is not None:
            self.refresh()
        super().changeEvent(event)
