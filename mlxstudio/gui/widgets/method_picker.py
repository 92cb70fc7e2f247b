"""Training method (SFT, DPO, offline PPO, GRPO) and, for online RL, the reward."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QWidget

METHODS = (
    (
        "sft",
        "Supervised fine-tuning (SFT)",
        "Learn to answer like the examples: chat, prompt/completion or text data.",
    ),
    (
        "dpo",
        "Preference pairs (DPO)",
        "Prefer the 'chosen' answer over the 'rejected' one: prompt/chosen/rejected data.",
    ),
    (
        "rl",
        "Offline RL from scored answers (PPO)",
        "Move towards answers with high reward: instruction/response/reward data.",
    ),
    (
        "grpo",
        "Online RL with a reward (GRPO)",
        "The model answers your prompts, a reward scores the answers, and it learns from that.",
    ),
)

REWARDS = (
    ("max_words", "Short answers (at most N words)", "max_words=20"),
    ("target_length", "Answers of about N words", "target_words=20"),
    ("keywords", "Mentions these keywords", "keywords=Paris,France"),
    ("ends_with", "Ends with a given word", "word=matey"),
    ("regex", "Matches a regular expression", "pattern=^Arr"),
    ("think_answer_format", "<think>…</think><answer>…</answer> format", ""),
)
OWN_FILE = "Your own Python file…"


def parse_kwargs(text: str) -> dict:
    """'a=1, b=x,y' -> {'a': 1, 'b': ['x', 'y']}: numbers as numbers, commas make lists."""
    out: dict = {}
    for part in text.split(";") if ";" in text else [text]:
        if "=" not in part:
            continue
        key, value = (s.strip() for s in part.split("=", 1))
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


class MethodPicker(QWidget):
    changed = Signal(dict)  # the config values to set: stage, reward_model, reward_kwargs

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method = QComboBox()
        for key, label, tip in METHODS:
            self.method.addItem(label, key)
            self.method.setItemData(self.method.count() - 1, tip, 3)  # Qt.ToolTipRole
        self.method.setToolTip("How the model learns. Hover an entry for what data it needs.")
        self.reward = QComboBox()
        for key, label, _example in REWARDS:
            self.reward.addItem(label, key)
        self.reward.addItem(OWN_FILE, "")
        self.reward.setToolTip(
            "Scores each sampled answer between 0 and 1 (higher is better). "
            "Your own file defines a RewardModel subclass with "
            "compute_reward(prompts, responses)."
        )
        self.kwargs = QLineEdit()
        self.kwargs.setPlaceholderText("settings, e.g. max_words=20")
        self.kwargs.setToolTip(
            "Settings passed to the reward, as name=value; separate "
            "several with ';' and list items with ','."
        )
        self.reward_label = QLabel("Reward")
        self.own_file = ""
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Method"))
        row.addWidget(self.method, 2)
        row.addWidget(self.reward_label)
        row.addWidget(self.reward, 2)
        row.addWidget(self.kwargs, 1)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.reward.activated.connect(self._reward_chosen)
        self.kwargs.editingFinished.connect(self._emit)
        self._method_changed()

    def stage(self) -> str:
        return self.method.currentData()

    def reward_spec(self) -> str | None:
        if self.stage() != "grpo":
            return None
        return self.reward.currentData() or self.own_file or None

    def _method_changed(self, *_args) -> None:
        online = self.stage() == "grpo"
        for w in (self.reward_label, self.reward, self.kwargs):
            w.setVisible(online)
        if online and not self.kwargs.text():
            self.kwargs.setText(
                REWARDS[self.reward.currentIndex()][2] if self.reward.currentData() else ""
            )
        self._emit()

    def _reward_chosen(self, index: int) -> None:
        if self.reward.itemData(index) == "":
            file, _ = QFileDialog.getOpenFileName(
                self, "Choose a reward file", str(Path.home()), "Python (*.py)"
            )
            self.own_file = file or ""
            self.kwargs.clear()
        else:
            self.kwargs.setText(REWARDS[index][2])
        self._emit()

    def choose(self, stage: str, reward: str | None = None, kwargs: str = "") -> None:
        """Select programmatically (tests, YAML import)."""
        self.method.setCurrentIndex(max(0, self.method.findData(stage)))
        if reward is not None:
            index = self.reward.findData(reward)
            if index < 0:
                self.own_file = reward
                index = self.reward.findData("")
            self.reward.setCurrentIndex(index)
            self.kwargs.setText(kwargs)
        self._emit()

    def _emit(self) -> None:
        self.changed.emit(
            {
                "stage": self.stage(),
                "reward_model": self.reward_spec(),
                "reward_kwargs": parse_kwargs(self.kwargs.text()) if self.stage() == "grpo" else {},
            }
        )
