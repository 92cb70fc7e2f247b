"""Train on several Macs: choose an mlx.launch hostfile, and check the hosts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget


class HostsPicker(QWidget):
    check_requested = Signal(Path)  # run `mlxstudio doctor --hosts FILE`

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hostfile: Path | None = None
        self.enabled = QCheckBox("Train on several Macs")
        self.enabled.setToolTip(
            "Data-parallel training with MLX's distributed layer: one rank per host in an "
            "mlx.launch hostfile (JSON). The batch size is the global batch."
        )
        self.choose = QPushButton("Hostfile…")
        self.choose.clicked.connect(self._choose)
        self.check = QPushButton("Check hosts")
        self.check.setToolTip("Reachable over ssh, same Python and package versions, ports free.")
        self.check.clicked.connect(
            lambda: self.hostfile and self.check_requested.emit(self.hostfile)
        )
        self.label = QLabel("no hostfile")
        self.label.setObjectName("Hint")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.enabled, self.choose, self.label, self.check):
            row.addWidget(w)
        row.addStretch(1)
        self.enabled.toggled.connect(self._update)
        self._update()

    def _choose(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "Choose an mlx.launch hostfile", str(Path.home()), "Hostfiles (*.json)"
        )
        if file:
            self.set_hostfile(Path(file))

    def set_hostfile(self, path: Path | None) -> None:
        self.hostfile = path
        if path is not None:
            self.enabled.setChecked(True)
        self._update()

    def _update(self) -> None:
        on = self.enabled.isChecked()
        for w in (self.choose, self.label, self.check):
            w.setVisible(on)
        self.check.setEnabled(self.hostfile is not None)
        self.label.setText(self.hostfile.name if self.hostfile else "no hostfile chosen")

    def args(self) -> list[str]:
        """Extra `mlxstudio train` arguments: --hosts FILE when several Macs are chosen."""
        if self.enabled.isChecked() and self.hostfile is not None:
            return ["--hosts", str(self.hostfile)]
        return []
