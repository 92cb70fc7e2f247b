"""The reward for online RL: a built-in scoring rule with its settings, or the user's file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QWidget

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
