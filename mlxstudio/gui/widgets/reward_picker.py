"""The rewards for online RL: built-in scoring rules with their settings, or the user's
files; one, or several added together with weights."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.gui.icons import icon

REWARDS = (
    ("max_words", "Short answers (at most N words)", "max_words=20"),
    ("target_length", "Answers of about N words", "target_words=20"),
    ("keywords", "Mentions these keywords", "keywords=Paris,France"),
    ("ends_with", "Ends with a given word", "word=matey"),
    ("regex", "Matches a regular expression", "pattern=^Arr"),
    ("think_answer_format", "<think>…</think><answer>…</answer> format", ""),
    ("length_window", "Between N and M words", "min_words=5; max_words=30"),
    ("relevance", "Uses the question's own words", ""),
    ("repetition", "Does not repeat itself", "n=1"),
    ("math_answer", 'The right number (the data\'s "answer")', ""),
    ("valid_json", "Valid JSON", "keys=name,age"),
)
OWN_FILE = "Your own Python file…"


# Settings whose text is taken whole: a regular expression's commas are not a list.
WHOLE = {"pattern"}


def parse_kwargs(text: str) -> dict:
    """'a=1; b=x,y' -> {'a': 1, 'b': ['x', 'y']}: settings separated by ';', numbers as
    numbers, commas make lists (not in a pattern)."""
    out: dict = {}
    for part in text.split(";") if ";" in text else [text]:
        if "=" not in part:
            continue
        key, value = (s.strip() for s in part.split("=", 1))
        if key in WHOLE:
            out[key] = value
            continue
        items = [v.strip() for v in value.split(",")] if "," in value else [value]
        parsed = []
        for item in items:
            try:
                parsed.append(int(item))
            except ValueError:
                try:
                    parsed.append(float(item))
                except ValueError:
                    parsed.append(item)
        out[key] = parsed if len(parsed) > 1 or "," in value else parsed[0]
    return out


class RewardPicker(QWidget):
    """Emits `changed` whenever the reward or its settings change."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.own_file = ""
        self.reward = QComboBox()
        for key, label, _example in REWARDS:
            self.reward.addItem(label, key)
        self.reward.addItem(OWN_FILE, "")
        self.reward.setToolTip(
            "Scores each answer between 0 and 1 (higher is better). Your own file defines a "
            "RewardModel subclass with compute_reward(prompts, responses)."
        )
        self.kwargs = QLineEdit(REWARDS[0][2])
        self.kwargs.setPlaceholderText("settings, e.g. max_words=20")
        self.kwargs.setMinimumWidth(170)  # the settings stay readable beside a long label
        self.kwargs.setToolTip(
            "Settings of the reward, as name=value; separate several with ';' and list "
            "items with ','."
        )
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.reward, 2)
        row.addWidget(self.kwargs, 1)
        self.reward.activated.connect(self._chosen)
        self.kwargs.editingFinished.connect(self.changed)

    def spec(self) -> str | None:
        """What the config's reward model is: a built-in's name or the user's file."""
        return self.reward.currentData() or self.own_file or None

    def settings(self) -> dict:
        return parse_kwargs(self.kwargs.text())

    def choose(self, reward: str, kwargs: str = "") -> None:
        """Select a built-in by name, or a file path for one's own reward."""
        index = self.reward.findData(reward)
        if index < 0:
            self.own_file = reward
            index = self.reward.findData("")
        self.reward.setCurrentIndex(index)
        self.kwargs.setText(kwargs)
        self.changed.emit()

    def _chosen(self, index: int) -> None:
        if self.reward.itemData(index) == "":
            file, _ = QFileDialog.getOpenFileName(
                self, "Choose a reward file", str(Path.home()), "Python (*.py)"
            )
            self.own_file = file or ""
            self.kwargs.clear()
        else:
            self.kwargs.setText(REWARDS[index][2])
        self.changed.emit()


class RewardRow(QWidget):
    """One reward of several: the picker, its weight and a remove button."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.picker = RewardPicker()
        self.weight = QDoubleSpinBox()
        self.weight.setRange(0.05, 10.0)
        self.weight.setSingleStep(0.25)
        self.weight.setValue(weight)
        self.weight.setToolTip("How much this reward counts in the sum")
        self.weight_label = QLabel("weight")
        self.remove = QToolButton()
        self.remove.setIcon(icon("remove"))
        self.remove.setToolTip("Remove this reward")
        line = QHBoxLayout(self)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.picker, 1)
        line.addWidget(self.weight_label)
        line.addWidget(self.weight)
        line.addWidget(self.remove)

    def show_weight(self, shown: bool) -> None:
        for widget in (self.weight_label, self.weight, self.remove):
            widget.setVisible(shown)


class RewardList(QWidget):
    """One reward, or several with weights: what GRPO trains on. `changed` on any edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[RewardRow] = []
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(0, 0, 0, 0)
        self.column.setSpacing(4)
        self.add_button = QPushButton(icon("add"), "Add a reward")
        self.add_button.setToolTip(
            "Score answers by several rules at once, each with a weight: the answer's "
            "reward is their weighted sum, and each one gets its own curve."
        )
        self.add_button.clicked.connect(lambda: self.add())
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        self.column.addLayout(buttons)
        self.add()

    def add(self, reward: str = "", kwargs: str | None = None, weight: float = 1.0) -> None:
        """A row for one more reward (by default the first built-in not chosen yet)."""
        used = {row.picker.spec() for row in self.rows}
        reward = reward or next((k for k, _l, _e in REWARDS if k not in used), REWARDS[0][0])
        row = RewardRow(weight)
        self.rows.append(row)
        self.column.insertWidget(len(self.rows) - 1, row)
        example = next((e for k, _l, e in REWARDS if k == reward), "")
        row.picker.choose(reward, example if kwargs is None else kwargs)
        row.picker.changed.connect(self.changed)
        row.weight.valueChanged.connect(lambda *_: self.changed.emit())
        row.remove.clicked.connect(lambda: self.remove(row))
        self._show_weights()
        self.changed.emit()

    def remove(self, row: RewardRow) -> None:
        if len(self.rows) == 1:
            return
        self.rows.remove(row)
        row.deleteLater()
        self._show_weights()
        self.changed.emit()

    def choose(self, reward: str, kwargs: str = "") -> None:
        """Just this one reward (a built-in's name or a file path)."""
        for row in self.rows[1:]:
            row.deleteLater()
        del self.rows[1:]
        self._show_weights()
        self.rows[0].picker.choose(reward, kwargs)

    def config_values(self) -> dict:
        """The config keys: reward_model (+ reward_kwargs) for one, reward_functions for
        several."""
        if len(self.rows) == 1:
            picker = self.rows[0].picker
            return dict(reward_model=picker.spec(), reward_kwargs=picker.settings(),
                        reward_functions=None)  # fmt: skip
        parts = [
            {"name": r.picker.spec(), "weight": round(r.weight.value(), 2),
             "kwargs": r.picker.settings()}
            for r in self.rows
            if r.picker.spec()
        ]  # fmt: skip
        return dict(reward_model=None, reward_kwargs={}, reward_functions=parts or None)

    def _show_weights(self) -> None:
        for row in self.rows:
            row.show_weight(len(self.rows) > 1)
