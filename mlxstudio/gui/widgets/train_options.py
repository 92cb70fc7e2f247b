"""The Training page's run options: how often to report, sample answers while training, and
(behind an Advanced switch) training on several Macs."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.gui.state import WizardState
from mlxstudio.gui.widgets.hosts_picker import HostsPicker
from mlxstudio.gui.widgets.tracking_switch import TrackingSwitch

POINTS_PER_RUN = 50  # "auto" reporting aims at about this many points on a curve


def auto_report_every(iters: int) -> int:
    """A 10-step run reports every step (a line of 10 points); 1000 steps every 20."""
    return max(1, int(iters) // POINTS_PER_RUN)


# A section header is flat text with an arrow, open or closed alike (a checked tool button
# would draw a sunken frame when open); the hover tint says it can be clicked.
HEADER_SHEET = """
QToolButton { border: none; background: transparent; padding: 3px 6px 3px 0px; }
QToolButton:hover { color: palette(link); }
"""


class Collapsible(QWidget):
    """A header with an arrow that shows or hides a body; the owner places both."""

    toggled = Signal(bool)

    def __init__(self, title: str, body: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.body = body
        self._expanded = False
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setAutoRaise(True)
        self.header.setStyleSheet(HEADER_SHEET)
        self.header.setCursor(Qt.CursorShape.PointingHandCursor)
        self.header.clicked.connect(lambda: self.set_expanded(not self._expanded))
        self.set_expanded(False)

    def set_expanded(self, expanded: bool) -> None:
        self._expanded = expanded
        arrow = Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow
        self.header.setArrowType(arrow)
        self.header.setAccessibleDescription("expanded" if expanded else "collapsed")
        self.body.setVisible(expanded)
        self.toggled.emit(expanded)

    def is_expanded(self) -> bool:
        return self._expanded

    def set_title(self, title: str) -> None:
        self.header.setText(title)


class TrainOptions(QWidget):
    """Writes sample_prompts, sample_every and steps_per_report of the wizard's config."""

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._loading = False

        # ---- report interval
        self.report_every = QSpinBox()
        self.report_every.setRange(0, 1_000_000)
        self.report_every.setSpecialValueText("auto")
        self.report_every.setSuffix(" steps")
        self.report_every.setToolTip(
            "How often the curves get a new point. Auto follows the run's length: about "
            f"{POINTS_PER_RUN} points per run, every step for a short run."
        )
        self.report_every.valueChanged.connect(self._write)

        # ---- sample answers
        self.prompts = QPlainTextEdit()
        self.prompts.setPlaceholderText("One prompt per line, e.g.\nWhat is the capital of France?")
        self.prompts.setToolTip(
            "While training, the model answers these prompts now and then; the answers "
            "appear in the Samples tab below, so you can see it change."
        )
        self.prompts.setFixedHeight(self.prompts.fontMetrics().lineSpacing() * 3 + 14)
        self.sample_every = QSpinBox()
        self.sample_every.setRange(0, 1_000_000)
        self.sample_every.setSpecialValueText("at each validation")
        self.sample_every.setPrefix("every ")
        self.sample_every.setSuffix(" steps")
        self.sample_every.setToolTip("How often to answer the prompts.")
        self.sample_every.valueChanged.connect(self._write)
        # Typing must not rewrite the config (and refresh every page) on each key.
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self._write)
        self.prompts.textChanged.connect(self._debounce.start)
        sample_body = QWidget()
        sample_row = QHBoxLayout(sample_body)
        sample_row.setContentsMargins(0, 0, 0, 0)  # aligned with the page's left edge
        sample_row.addWidget(self.prompts, 1)
        answer = QVBoxLayout()
        answer.addWidget(QLabel("Answer them"))
        answer.addWidget(self.sample_every)
        answer.addStretch(1)
        sample_row.addLayout(answer)
        self.samples_section = Collapsible("Sample answers while training", sample_body)

        # ---- several Macs
        self.hosts = HostsPicker()
        hosts_body = QWidget()
        hosts_row = QHBoxLayout(hosts_body)
        hosts_row.setContentsMargins(0, 0, 0, 0)
        hosts_row.addWidget(self.hosts)
        self.hosts_section = Collapsible("Advanced: train on several Macs", hosts_body)

        # ---- layout: the headers on one line, an open section's body below
        headers = QHBoxLayout()
        headers.setContentsMargins(0, 0, 0, 0)
        headers.addWidget(self.samples_section.header)
        headers.addWidget(self.hosts_section.header)
        headers.addStretch(1)
        self.tracking = TrackingSwitch(state)  # report_to: TensorBoard / W&B
        headers.addWidget(self.tracking)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(headers)
        layout.addWidget(sample_body)
        layout.addWidget(hosts_body)
        self.report_box = QWidget()  # the owner places it (beside the method line)
        report_row = QHBoxLayout(self.report_box)
        report_row.setContentsMargins(0, 0, 0, 0)
        report_row.addWidget(QLabel("Report every"))
        report_row.addWidget(self.report_every)
        self.load_from_state()

    # ---- Public API
    def prompt_list(self) -> list[str]:
        return [line.strip() for line in self.prompts.toPlainText().splitlines() if line.strip()]

    def report_interval(self, iters: int) -> int:
        """Steps between reports for a run of `iters` steps (auto unless one was chosen)."""
        return self.report_every.value() or auto_report_every(iters)

    def set_report_every(self, steps: int | None) -> None:
        """None or 0: auto."""
        self.report_every.setValue(steps or 0)

    def set_prompts(self, prompts: list[str], every: int = 0) -> None:
        self.prompts.setPlainText("\n".join(prompts))
        self.sample_every.setValue(every)
        self.samples_section.set_expanded(bool(prompts))
        self._write()

    def load_from_state(self) -> None:
        """Show the config's prompts (e.g. after settings were imported)."""
        cfg = self.state.config
        self._loading = True
        prompts = [str(p) for p in cfg.sample_prompts or []]
        if prompts != self.prompt_list():
            self.prompts.setPlainText("\n".join(prompts))
        self.sample_every.setValue(cfg.sample_every)
        self._loading = False
        self._retitle()

    def apply_to_state(self) -> None:
        """Write what is in the boxes now (pending typing included)."""
        self._debounce.stop()
        self._write()

    def set_enabled_for_run(self, running: bool) -> None:
        for w in (self.report_every, self.prompts, self.sample_every, self.hosts):
            w.setEnabled(not running)
        self.tracking.set_enabled_for_run(running)

    # ---- internals
    def _retitle(self) -> None:
        n = len(self.prompt_list())
        title = "Sample answers while training"
        self.samples_section.set_title(f"{title} ({n} prompt{'s' * (n != 1)})" if n else title)

    def _write(self) -> None:
        self._retitle()
        if self._loading:
            return
        values: dict = {
            "sample_prompts": self.prompt_list() or None,
            "sample_every": self.sample_every.value(),
        }
        if self.report_every.value():
            values["steps_per_report"] = self.report_every.value()
        cfg = self.state.config
        if any(getattr(cfg, key) != value for key, value in values.items()):
            self.state.update_config(**values)
