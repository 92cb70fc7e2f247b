"""The Training page's "Log to TensorBoard / W&B" switches: they write the config's
report_to (core/tracking.py does the logging)."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QWidget

from mlxstudio.core.tracking import REPORTERS, missing_packages, reporters
from mlxstudio.gui.state import WizardState

LABELS = {"tensorboard": "Log to TensorBoard", "wandb": "Log to W&&B"}  # &&: a plain &
TIPS = {
    "tensorboard": "Also write every figure of the run (losses, learning rate, reward, KL, "
    "margins, the evaluation) as TensorBoard event files in the run's folder, under "
    "tensorboard/.",
    "wandb": "Also log every figure of the run to Weights & Biases: online when this "
    "computer is logged in to W&B, otherwise saved offline in the run's folder, under wandb/, "
    "to upload later.",
}
NOT_INSTALLED = (
    "{package} is not installed alongside MLX Studio, so this is off. Install the optional "
    'tracking packages into MLX Studio\'s Python (pip install "mlxstudio[tracking]") and '
    "reopen the app."
)


class TrackingSwitch(QWidget):
    """One check box per tracker; a tracker whose package is missing is greyed out and its
    tooltip says what to install."""

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.boxes: dict[str, QCheckBox] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for name in REPORTERS:
            box = QCheckBox(LABELS[name])
            missing = missing_packages(name)
            box.setToolTip(NOT_INSTALLED.format(package=missing[0]) if missing else TIPS[name])
            box.setEnabled(not missing)
            box.toggled.connect(self._write)
            self.boxes[name] = box
            row.addWidget(box)
        self.load_from_state()
        state.settings_changed.connect(self.load_from_state)  # e.g. imported settings

    def load_from_state(self) -> None:
        chosen = reporters(self.state.config.report_to)
        for name, box in self.boxes.items():
            box.blockSignals(True)
            box.setChecked(name in chosen)
            box.blockSignals(False)

    def set_enabled_for_run(self, running: bool) -> None:
        for name, box in self.boxes.items():
            box.setEnabled(not running and not missing_packages(name))

    def _write(self) -> None:
        chosen = [name for name, box in self.boxes.items() if box.isChecked()]
        value = ",".join(chosen) or None
        if reporters(value) != reporters(self.state.config.report_to):
            self.state.update_config(report_to=value)
