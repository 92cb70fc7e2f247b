"""LoRA settings page: presets, every setting with a plain-words tooltip, YAML in and out,
and the memory gauge these settings move."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core.config import (
    FINE_TUNE_TYPES,
    OPTIMIZERS,
    dump_config,
    load_config,
)
from mlxstudio.core.errors import UserError
from mlxstudio.gui.icons import icon
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.style import set_message
from mlxstudio.gui.widgets.memory_gauge import MemoryGauge

PRESETS: dict[str, dict] = {
    "Quick test": dict(
        iters=50,
        num_layers=8,
        batch_size=4,
        learning_rate=2e-4,
        max_seq_length=512,
        rank=8,
        grad_checkpoint=False,
    ),
    "Balanced": dict(
        iters=300,
        num_layers=16,
        batch_size=4,
        learning_rate=1e-4,
        max_seq_length=1024,
        rank=16,
        grad_checkpoint=False,
    ),
    "Quality": dict(
        iters=1000,
        num_layers=-1,
        batch_size=8,
        learning_rate=5e-5,
        max_seq_length=2048,
        rank=32,
        grad_checkpoint=True,
    ),
}

PRESET_WORDS = {
    "Quick test": "A few minutes, to see it all works",
    "Balanced": "A good first real run",
    "Quality": "Longer, every layer, larger rank",
}
ADAPTERS = {"lora": "LoRA", "dora": "DoRA", "full": "Full"}  # value -> what the window says
OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "adafactor": "Adafactor"}
FIELD_WIDTH = 110  # every field of the three boxes: their columns line up
ROW_SPACING = 8  # between rows, the same in every box

TIPS = {
    "fine_tune_type": "What is trained. LoRA trains small add-on matrices (fast, little "
    "memory). DoRA is a "
    "LoRA variant that is often a bit better. Full changes every weight of "
    "the chosen layers (needs far more memory).",
    "num_layers": "How many of the model's last layers to adapt. -1 means all of them. "
    "More layers learn more but use more memory.",
    "rank": "Size of the LoRA matrices. Higher learns more detail; 8-16 is usually enough.",
    "scale": "How strongly the LoRA update is applied to the model.",
    "dropout": "Randomly drops parts of the update while training, to avoid memorising.",
    "learning_rate": "How big each training step is. Too high and the loss jumps around; too "
    "low and nothing changes. 1e-5 to 2e-4 is typical for LoRA.",
    "iters": "How many training steps to run.",
    "batch_size": "Examples per step. Larger is smoother but needs more memory.",
    "max_seq_length": "Longest example in tokens; longer ones are cut. Lower it to save memory.",
    "grad_accumulation_steps": "Add up the gradients of this many steps before updating: "
    "a bigger effective batch without the memory.",
    "steps_per_eval": "Measure the validation loss every this many steps.",
    "save_every": "Save a checkpoint every this many steps.",
    "optimizer": "The algorithm that applies each update. Adam is a safe default.",
    "mask_prompt": "Learn only from the answers, not from the questions.",
    "grad_checkpoint": "Recompute activations instead of storing them: less memory, slower.",
    "seed": "Makes a run repeatable.",
}


class PresetPicker(QWidget):
    """The presets as a row of buttons, each with its one-line description; none is checked
    once a setting is edited ("Custom")."""

    currentTextChanged = Signal(str)  # noqa: N815 (the QComboBox name it replaces)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for name, words in PRESET_WORDS.items():
            button = QPushButton(f"{name}\n{words}")
            button.setCheckable(True)
            button.setProperty("choice", True)
            button.setToolTip(words + ".")
            self.group.addButton(button)
            self.buttons[name] = button
            button.clicked.connect(lambda _on, n=name: self.currentTextChanged.emit(n))
            row.addWidget(button, 1)

    def currentText(self) -> str:  # noqa: N802 (QComboBox's name)
        checked = self.group.checkedButton()
        return next((n for n, b in self.buttons.items() if b is checked), "Custom")

    def setCurrentText(self, name: str) -> None:  # noqa: N802 (QComboBox's name)
        """Choose a preset (emitting currentTextChanged), or "Custom" to uncheck them all."""
        if name == self.currentText():
            return
        self.show_matching(name)
        self.currentTextChanged.emit(name)

    def show_matching(self, name: str) -> None:
        """Check name's button (none for "Custom") without emitting: the settings already
        are that preset's."""
        if name == self.currentText():
            return
        self.group.setExclusive(False)
        for n, b in self.buttons.items():
            b.setChecked(n == name)
        self.group.setExclusive(True)


def matching_preset(cfg) -> str:
    """The preset whose every value the config has, else "Custom"."""
    for name, preset in PRESETS.items():
        values = dict(preset)
        rank = values.pop("rank")
        if cfg.lora_parameters.get("rank") == rank and all(
            getattr(cfg, key) == value for key, value in values.items()
        ):
            return name
    return "Custom"


def _spin(low: int, high: int, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    return box


class LoraPage(Page):
    title = "LoRA settings"
    subtitle = "Start from a preset, adjust what you need. Hover any setting for what it does."

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self._loading = False
        self.preset = PresetPicker()
        self.preset.currentTextChanged.connect(self.apply_preset)
        import_button = QPushButton(icon("import"), "Import settings…")
        import_button.setToolTip("Load settings from a YAML file (mlx-lm lora_config.yaml works).")
        import_button.clicked.connect(self._import)
        export_button = QPushButton(icon("export"), "Export settings…")
        export_button.setToolTip("Save these settings to a YAML file, to import them later.")
        export_button.clicked.connect(self._export)
        presets_label = QLabel("Start from a preset")
        presets_label.setStyleSheet("font-weight: 600;")
        top = QHBoxLayout()
        top.addWidget(presets_label)
        top.addStretch(1)
        top.addWidget(import_button)
        top.addWidget(export_button)

        self.w = {
            "fine_tune_type": QComboBox(),
            "num_layers": _spin(-1, 512),
            "rank": _spin(1, 512),
            "scale": QDoubleSpinBox(),
            "dropout": QDoubleSpinBox(),
            "learning_rate": QLineEdit(),
            "iters": _spin(1, 1_000_000, 10),
            "batch_size": _spin(1, 1024),
            "max_seq_length": _spin(16, 131072, 128),
            "grad_accumulation_steps": _spin(1, 1024),
            "steps_per_eval": _spin(1, 1_000_000, 10),
            "save_every": _spin(1, 1_000_000, 10),
            "optimizer": QComboBox(),
            "seed": _spin(0, 2**31 - 1),
            "mask_prompt": QCheckBox("Train on answers only"),
            "grad_checkpoint": QCheckBox("Gradient checkpointing"),
        }
        for value in FINE_TUNE_TYPES:
            self.w["fine_tune_type"].addItem(ADAPTERS.get(value, value), value)
        for value in OPTIMIZERS:
            if value in OPTIMIZER_NAMES:  # muon is not offered here
                self.w["optimizer"].addItem(OPTIMIZER_NAMES[value], value)
        self.w["scale"].setRange(0.0, 1000.0)
        self.w["dropout"].setRange(0.0, 0.9)
        self.w["dropout"].setSingleStep(0.05)
        validator = QDoubleValidator(1e-9, 10.0, 9)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.w["learning_rate"].setValidator(validator)
        for key, widget in self.w.items():
            widget.setToolTip(TIPS[key])
            for sig in ("currentTextChanged", "valueChanged", "textEdited", "toggled"):
                if hasattr(widget, sig):
                    getattr(widget, sig).connect(self._edited)

        adapter = self._form(
            ("fine_tune_type", "Adapter"),
            ("num_layers", "Layers"),
            ("rank", "Rank"),
            ("scale", "Scale"),
            ("dropout", "Dropout"),
        )
        training = self._form(
            ("learning_rate", "Learning rate"),
            ("iters", "Steps"),
            ("batch_size", "Batch size"),
            ("max_seq_length", "Max tokens"),
            ("grad_accumulation_steps", "Accumulate"),
            ("optimizer", "Optimizer"),
        )
        extra = self._form(
            ("steps_per_eval", "Validate every"), ("save_every", "Save every"), ("seed", "Seed")
        )
        extra.addRow(self.w["mask_prompt"])
        extra.addRow(self.w["grad_checkpoint"])
        # One width and one height for every field, so rows line up from box to box.
        fields = [w for w in self.w.values() if not isinstance(w, QCheckBox)]
        height = max(w.sizeHint().height() for w in fields)
        for widget in fields:
            widget.setFixedSize(FIELD_WIDTH, height)
        for box in (self.w["mask_prompt"], self.w["grad_checkpoint"]):
            box.setMinimumHeight(height)
        groups = QHBoxLayout()
        for title, form in (("Adapter", adapter), ("Training", training), ("Run", extra)):
            box = QGroupBox(title)
            box.setLayout(form)
            groups.addWidget(box, 1)  # equal shares: no box stretches alone

        self.message = QLabel()
        self.message.setObjectName("Hint")
        self.message.setWordWrap(True)
        self.gauge = MemoryGauge(state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addWidget(self.preset)
        layout.addLayout(groups)
        layout.addWidget(self.gauge)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.load_from_state()

    def _form(self, *rows: tuple[str, str]) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.setVerticalSpacing(ROW_SPACING)
        form.setHorizontalSpacing(10)
        form.setFormAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        for key, label in rows:
            form.addRow(label, self.w[key])
        return form

    def load_from_state(self) -> None:
        cfg, lora = self.state.config, self.state.config.lora_parameters
        self._loading = True
        box = self.w["fine_tune_type"]
        box.setCurrentIndex(max(0, box.findData(cfg.fine_tune_type)))
        optimizer = self.w["optimizer"]
        optimizer.setCurrentIndex(max(0, optimizer.findData(cfg.optimizer)))
        self.w["learning_rate"].setText(f"{cfg.learning_rate:g}")
        self.w["rank"].setValue(int(lora.get("rank", 8)))
        self.w["scale"].setValue(float(lora.get("scale", 20.0)))
        self.w["dropout"].setValue(float(lora.get("dropout", 0.0)))
        for key in (
            "num_layers",
            "iters",
            "batch_size",
            "max_seq_length",
            "grad_accumulation_steps",
            "steps_per_eval",
            "save_every",
            "seed",
        ):
            self.w[key].setValue(int(getattr(cfg, key)))
        self.w["mask_prompt"].setChecked(cfg.mask_prompt)
        self.w["grad_checkpoint"].setChecked(cfg.grad_checkpoint)
        self._loading = False
        self.preset.show_matching(matching_preset(cfg))

    def _edited(self, *_args) -> None:
        if self._loading:
            return
        self.preset.blockSignals(True)
        self.preset.setCurrentText("Custom")
        self.preset.blockSignals(False)
        self.store()

    def store(self) -> None:
        try:
            lr = float(self.w["learning_rate"].text())
        except ValueError:
            lr = self.state.config.learning_rate
        lora = dict(
            self.state.config.lora_parameters,
            rank=self.w["rank"].value(),
            scale=self.w["scale"].value(),
            dropout=self.w["dropout"].value(),
        )
        values = {
            k: self.w[k].value()
            for k in (
                "num_layers",
                "iters",
                "batch_size",
                "max_seq_length",
                "grad_accumulation_steps",
                "steps_per_eval",
                "save_every",
                "seed",
            )
        }
        self.state.update_config(
            fine_tune_type=self.w["fine_tune_type"].currentData(),
            optimizer=self.w["optimizer"].currentData(),
            learning_rate=lr,
            lora_parameters=lora,
            mask_prompt=self.w["mask_prompt"].isChecked(),
            grad_checkpoint=self.w["grad_checkpoint"].isChecked(),
            **values,
        )

    def apply_preset(self, name: str) -> None:
        preset = PRESETS.get(name)
        if not preset:
            return
        values = dict(preset)
        rank = values.pop("rank")
        lora = dict(self.state.config.lora_parameters, rank=rank)
        self.state.update_config(lora_parameters=lora, **values)
        self.load_from_state()

    def problems(self) -> list[str]:
        try:
            lr = float(self.w["learning_rate"].text())
        except ValueError:
            return ["Enter a learning rate such as 1e-4."]
        return [] if lr > 0 else ["The learning rate must be above zero."]

    def import_yaml(self, path: Path) -> None:
        try:
            loaded = load_config(path)
        except UserError as err:
            set_message(self.message, str(err), "error")
            return
        keep = {"model": self.state.config.model, "data": self.state.config.data}
        self.state.config = replace(loaded, **{k: v for k, v in keep.items() if v})
        self.state.changed.emit()
        self.load_from_state()
        set_message(self.message, f"Loaded {path}", "ok")

    def export_yaml(self, path: Path) -> None:
        self.store()
        dump_config(self.state.config, path)
        set_message(self.message, f"Saved {path}. Import it later from this page.", "ok")

    def _import(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "Import settings", str(Path.home()), "YAML (*.yaml *.yml)"
        )
        if file:
            self.import_yaml(Path(file))

    def _export(self) -> None:
        file, _ = QFileDialog.getSaveFileName(
            self, "Export settings", str(Path.home() / "lora_config.yaml"), "YAML (*.yaml *.yml)"
        )
        if file:
            self.export_yaml(Path(file))
