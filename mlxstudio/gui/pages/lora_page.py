"""LoRA settings page: presets, every setting with a plain-words tooltip, YAML in and out,
and the memory gauge these settings move. Tooltips, ranges and choices come from the
config's field metadata (core/config.py), the one description of each setting."""

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

from mlxstudio.core.config import dump_config, load_config, settings
from mlxstudio.core.errors import UserError
from mlxstudio.core.settings import Setting
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
CORRECTABLE = ("adam", "adamw")  # MLX's optimizers with a bias_correction argument
# mlx-lm's Adam has no bias correction (its first steps are 3-6x the learning rate): a run
# stays like mlx-lm's unless the user asks (benchmarks/gpu_numerics.py measured why one might)
STEADY_START_TIP = (
    "Adam's bias correction: the first steps are the size the learning rate says, not 3 to "
    "6 times it. Steadier, and bfloat16 then follows float32 closely; off, a run matches "
    "mlx-lm's. Try it when the loss jumps around early."
)
FIELD_WIDTH = 110  # every field of the three boxes: their columns line up
ROW_SPACING = 8  # between rows, the same in every box

LORA_KEYS = ("rank", "scale", "dropout")  # lora_parameters' keys this page edits
# Per stage, the settings of learning from pairs or rewards; a box shows those of the stage.
STAGE_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "dpo": (("beta", "Beta"),),
    "rl": (("kl_coef", "KL weight"), ("clip_range", "Clip"), ("ppo_epochs", "Passes")),
    "grpo": (
        ("group_size", "Answers per prompt"),
        ("temperature", "Temperature"),
        ("max_new_tokens", "Answer tokens"),
        ("kl_coef", "KL weight"),
    ),
}
STAGE_TITLES = {"dpo": "Preference", "rl": "Learning from scores", "grpo": "Learning from a reward"}
INT_KEYS = (
    "num_layers",
    "iters",
    "batch_size",
    "max_seq_length",
    "grad_accumulation_steps",
    "steps_per_eval",
    "save_every",
    "seed",
    "group_size",
    "max_new_tokens",
    "ppo_epochs",
)
NUMBER_KEYS = ("beta", "kl_coef", "clip_range", "temperature")  # config fields (not lora's)
INT_TOP = 2**31 - 1  # the most a QSpinBox holds, for keys without an upper limit
NUMBER_TOP = 1e6  # the same for a QDoubleSpinBox
DECIMALS = 2


def spec_for(key: str) -> Setting:
    """The description of the setting behind a control: RunConfig's field, or for rank,
    scale and dropout the key of lora_parameters."""
    if key in LORA_KEYS:
        return settings()["lora_parameters"].keys[key]
    return settings()[key]


def value_range(spec: Setting, resolution: float, top: float) -> tuple[float, float]:
    """The lowest and highest value a field offers: the setting's limits, an exclusive
    limit moved in by `resolution` (the field's smallest step), `top` where none is set."""
    low = spec.min if spec.min is not None else 0
    if spec.above is not None:
        low = spec.above + resolution
    high = spec.max if spec.max is not None else top
    if spec.below is not None:
        high = spec.below - resolution
    return low, high


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


def _spin(key: str, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    low, high = value_range(spec_for(key), 1, INT_TOP)
    box.setRange(int(low), int(high))
    box.setSingleStep(step)
    return box


def _number(key: str, step: float, decimals: int = DECIMALS) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(*value_range(spec_for(key), 10**-decimals, NUMBER_TOP))
    box.setSingleStep(step)
    return box


class LoraPage(Page):
    title = "LoRA settings"
    subtitle = "Start from a preset, adjust what you need. Hover any setting for what it does."

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self._loading = False

        # ---- widgets
        self.preset = PresetPicker()
        self.preset.currentTextChanged.connect(self.apply_preset)
        top = self._build_top()
        self._build_fields()
        groups = self._build_groups()
        self.stage_box = self._build_stage_box()
        self.message = QLabel()
        self.message.setObjectName("Hint")
        self.message.setWordWrap(True)
        self.gauge = MemoryGauge(state)

        # ---- layout
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addWidget(self.preset)
        layout.addLayout(groups)
        layout.addWidget(self.stage_box)
        layout.addWidget(self.gauge)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.load_from_state()
        state.settings_changed.connect(self._show_stage_keys)

    def _build_top(self) -> QHBoxLayout:
        """The presets' title, with Import and Export settings."""
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
        return top

    def _build_fields(self) -> None:
        """One control per setting in `self.w`, with its tooltip, range and choices from the
        setting's description; every edit goes to _edited."""
        self.w = {
            "fine_tune_type": QComboBox(),
            "num_layers": _spin("num_layers"),
            "rank": _spin("rank"),
            "scale": _number("scale", 1.0),
            "dropout": _number("dropout", 0.05),
            "learning_rate": QLineEdit(),
            "iters": _spin("iters", 10),
            "batch_size": _spin("batch_size"),
            "max_seq_length": _spin("max_seq_length", 128),
            "grad_accumulation_steps": _spin("grad_accumulation_steps"),
            "steps_per_eval": _spin("steps_per_eval", 10),
            "save_every": _spin("save_every", 10),
            "optimizer": QComboBox(),
            "seed": _spin("seed"),
            "mask_prompt": QCheckBox("Train on answers only"),
            "grad_checkpoint": QCheckBox("Gradient checkpointing"),
            "bias_correction": QCheckBox("Steady start"),
            "beta": _number("beta", 0.05),
            "kl_coef": _number("kl_coef", 0.01, 3),
            "clip_range": _number("clip_range", 0.05, 3),
            "ppo_epochs": _spin("ppo_epochs"),
            "group_size": _spin("group_size"),
            "temperature": _number("temperature", 0.1),
            "max_new_tokens": _spin("max_new_tokens", 16),
        }
        for value in spec_for("fine_tune_type").choices:
            self.w["fine_tune_type"].addItem(ADAPTERS.get(value, value), value)
        for value in spec_for("optimizer").choices:
            if value in OPTIMIZER_NAMES:  # muon is not offered here
                self.w["optimizer"].addItem(OPTIMIZER_NAMES[value], value)
        low, high = value_range(spec_for("learning_rate"), 0, NUMBER_TOP)
        validator = QDoubleValidator(low, high, 9)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.w["learning_rate"].setValidator(validator)
        self._typed: set[str] = set()  # NUMBER_KEYS the user edited since the last load
        for key in NUMBER_KEYS:  # connected first: noted before _edited stores
            self.w[key].valueChanged.connect(lambda *_, k=key: self._loading or self._typed.add(k))
        for key, widget in self.w.items():
            widget.setToolTip(STEADY_START_TIP if key == "bias_correction" else spec_for(key).help)
            for sig in ("currentTextChanged", "valueChanged", "textEdited", "toggled"):
                if hasattr(widget, sig):
                    getattr(widget, sig).connect(self._edited)

    def _build_groups(self) -> QHBoxLayout:
        """The settings in three boxes (Adapter, Training, Run) whose rows line up."""
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
        extra.addRow(self.w["bias_correction"])
        # One width and one height for every field, so rows line up from box to box.
        fields = [w for w in self.w.values() if not isinstance(w, QCheckBox)]
        height = max(w.sizeHint().height() for w in fields)
        for widget in fields:
            widget.setFixedSize(FIELD_WIDTH, height)
        for box in (self.w["mask_prompt"], self.w["grad_checkpoint"], self.w["bias_correction"]):
            box.setMinimumHeight(height)
        groups = QHBoxLayout()
        for title, form in (("Adapter", adapter), ("Training", training), ("Run", extra)):
            box = QGroupBox(title)
            box.setLayout(form)
            groups.addWidget(box, 1)  # equal shares: no box stretches alone
        return groups

    def _build_stage_box(self) -> QGroupBox:
        """Preference and RL settings in one row, only those of the run's stage."""
        box = QGroupBox()
        QHBoxLayout(box)
        self._stage_shown: str | None = None
        self.stage_labels: dict[str, QLabel] = {}
        for key in dict(pair for keys in STAGE_KEYS.values() for pair in keys):
            self.stage_labels[key] = QLabel()
            self.stage_labels[key].setToolTip(spec_for(key).help)
            for widget in (self.stage_labels[key], self.w[key]):
                widget.setParent(box)
                widget.hide()
        return box

    def _show_stage_keys(self) -> None:
        """The stage's settings, in its order (the same key may come first or last); laid
        out again only when the stage changes, never under the user's typing."""
        stage = self.state.config.stage
        if stage == self._stage_shown:
            return
        self._stage_shown = stage
        shown = STAGE_KEYS.get(stage, ())
        self.stage_box.setVisible(bool(shown))
        self.stage_box.setTitle(STAGE_TITLES.get(stage, ""))
        row = self.stage_box.layout()
        while row.count():
            item = row.takeAt(0)
            if item.widget():
                item.widget().hide()
        for key, text in shown:
            self.stage_labels[key].setText(text)
            row.addWidget(self.stage_labels[key])
            row.addWidget(self.w[key])
            row.addSpacing(12)
            self.stage_labels[key].show()
            self.w[key].show()
        row.addStretch(1)

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
        self.w["rank"].setValue(int(lora.get("rank", spec_for("rank").default)))
        for key in NUMBER_KEYS:
            self.w[key].setValue(float(getattr(cfg, key)))
        self._typed.clear()
        self.w["scale"].setValue(float(lora.get("scale", spec_for("scale").default)))
        self.w["dropout"].setValue(float(lora.get("dropout", spec_for("dropout").default)))
        for key in INT_KEYS:
            self.w[key].setValue(int(getattr(cfg, key)))
        self.w["mask_prompt"].setChecked(cfg.mask_prompt)
        self.w["grad_checkpoint"].setChecked(cfg.grad_checkpoint)
        own = cfg.optimizer_config.get(cfg.optimizer) or {}
        self.w["bias_correction"].setChecked(bool(own.get("bias_correction", False)))
        self.w["bias_correction"].setEnabled(cfg.optimizer in CORRECTABLE)
        self._loading = False
        self.preset.show_matching(matching_preset(cfg))
        self._show_stage_keys()

    def enter(self) -> None:
        self.load_from_state()  # the Goal page's sample may have set some

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
        values = {k: self.w[k].value() for k in INT_KEYS}
        # a number only once edited here: its field rounds it (GSPO's clip 3e-4 reads 0.000),
        # and the Goal page's methods set some of them
        values |= {k: self.w[k].value() for k in self._typed}
        optimizer = self.w["optimizer"].currentData()
        steady = self.w["bias_correction"]
        steady.setEnabled(optimizer in CORRECTABLE)
        # a choice for the run: it follows the optimizer chosen, and only that one has it
        settings = {}
        for name, own in self.state.config.optimizer_config.items():
            own = {k: v for k, v in (own or {}).items() if k != "bias_correction"}
            if own or name not in CORRECTABLE:
                settings[name] = own
        if optimizer in CORRECTABLE and steady.isChecked():
            settings[optimizer] = dict(settings.get(optimizer) or {}, bias_correction=True)
        self.state.update_config(
            fine_tune_type=self.w["fine_tune_type"].currentData(),
            optimizer=optimizer,
            optimizer_config=settings,
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
        problem = spec_for("learning_rate").limit_problem(lr)
        return [f"The learning rate {problem}; enter one such as 1e-4."] if problem else []

    def import_yaml(self, path: Path) -> None:
        try:
            loaded = load_config(path)
        except UserError as err:
            set_message(self.message, str(err), "error")
            return
        keep = {"model": self.state.config.model, "data": self.state.config.data}
        self.state.replace_config(replace(loaded, **{k: v for k, v in keep.items() if v}))
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
