"""Goal page, the first choice: what the user wants. It sets the training stage, what the
Data page expects (a sample of that format is shown here) and so the memory estimate."""

from __future__ import annotations

from typing import ClassVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QMouseEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core import paths
from mlxstudio.core.config import RunConfig, load_config
from mlxstudio.gui.goals import GOALS, GOALS_BY_KEY, METHODS, Goal, Method
from mlxstudio.gui.icons import IconLabel, icon
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.widgets.reward_picker import RewardList

GOAL_ICONS = {"answer": "goal-answer", "prefer": "goal-prefer", "reward": "goal-reward"}
PROMPTS_SAMPLE = '{"prompt": "What is 7 + 5? Reply with the number.", "answer": "12"}'
# Online RL's sample is the bundled GRPO demo: its questions, its reward and checks, and the
# settings it learns with (a reward that cannot be gamed, which the default settings miss).
ONLINE_DEMO = "grpo_demo.yaml"
DEMO_KEYS = (
    "iters", "batch_size", "group_size", "max_new_tokens", "temperature", "learning_rate",
    "kl_coef", "ppo_epochs", "num_layers", "max_seq_length", "steps_per_eval", "seed",
    "sample_prompts", "sample_max_tokens",
)  # fmt: skip
WATCH = [{"name": "repetition"}]  # the gaming check of "Watch for reward gaming"
CARD_SHEET = """
#GoalCard { border: 1px solid palette(mid); border-radius: 10px; background: palette(base); }
#GoalCard:hover { border-color: palette(highlight); }
#GoalCard[selected="true"] { border: 2px solid palette(highlight); }
#CardTitle { font-weight: 600; font-size: 14px; }
#Welcome { background: palette(alternate-base); border: 1px solid palette(midlight);
    border-radius: 10px; }
"""


class _Card(QFrame):
    """One goal: an icon, a title and a sentence; click to choose it."""

    clicked = Signal(str)

    def __init__(self, goal: Goal) -> None:
        super().__init__()
        self.key = goal.key
        self.setObjectName("GoalCard")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setProperty("selected", False)
        picture = IconLabel(GOAL_ICONS.get(goal.key, "goal-text"), 28)
        self.title = QLabel(goal.title)
        self.title.setObjectName("CardTitle")
        summary = QLabel(goal.summary)
        summary.setWordWrap(True)
        summary.setObjectName("Hint")
        text = QVBoxLayout()
        text.setSpacing(4)
        text.addWidget(self.title)
        text.addWidget(summary)
        text.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 12, 14, 12)
        row.addWidget(picture, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        self.clicked.emit(self.key)
        event.accept()

    def set_selected(self, selected: bool) -> None:
        self.setProperty("selected", selected)
        self.style().unpolish(self)
        self.style().polish(self)


class GoalPage(Page):
    title = "Goal"
    subtitle = (
        "What do you want your model to do? This decides the data it needs and how it learns."
    )

    use_sample = Signal(list)  # the goal's sample data files, for the Data page

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.goal = GOALS[0]
        grid = self._build_cards()
        self._build_reward()
        data_row = self._build_sample()

        self.setStyleSheet(CARD_SHEET)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)
        layout.addWidget(self.reward_box)
        layout.addWidget(self.method_box)
        layout.addSpacing(6)
        layout.addLayout(data_row)
        layout.addWidget(self.sample)
        layout.addStretch(1)
        self.choose(self.goal.key)

    def _build_cards(self) -> QGridLayout:
        """One card per goal, two to a row."""
        self.cards = {g.key: _Card(g) for g in GOALS}
        grid = QGridLayout()
        grid.setSpacing(12)
        for i, card in enumerate(self.cards.values()):
            card.clicked.connect(self.choose)
            grid.addWidget(card, i // 2, i % 2)

        return grid

    def _build_reward(self) -> None:
        """For the reward goal: scores in the data (offline PPO), or a rule (online GRPO)."""
        self.scored = QRadioButton("My answers already have scores")
        self.scored.setToolTip("Each record: an instruction, a response and its reward.")
        self.online = QRadioButton("Score answers with a rule as it learns")
        self.online.setToolTip("Each record is just a prompt; the model answers, the rule scores.")
        self.scored.setChecked(True)
        self.reward_kind = QButtonGroup(self)
        self.reward_kind.addButton(self.scored)
        self.reward_kind.addButton(self.online)
        self.reward_kind.buttonToggled.connect(lambda *_: self._store())
        self.reward = RewardList()
        self.reward.changed.connect(self._store)
        self.reward_box = QWidget()
        reward_column = QVBoxLayout(self.reward_box)
        reward_column.setContentsMargins(0, 0, 0, 0)
        kind_row = QHBoxLayout()
        kind_row.addWidget(self.scored)
        kind_row.addWidget(self.online)
        kind_row.addStretch(1)
        reward_column.addLayout(kind_row)
        reward_column.addWidget(self.reward)

    def _build_sample(self) -> QHBoxLayout:
        """What the goal trains on, a sample record, and Use the sample data."""
        # How it learns: the methods of the stage (DPO, KTO, ...; GRPO, DAPO, ...).
        self.method = QComboBox()
        self.method.setToolTip("How it learns from your data; the sentence beside says when.")
        self.method.activated.connect(lambda *_: self._store())
        self.method_when = QLabel()
        self.method_when.setWordWrap(True)
        self.method_when.setObjectName("Hint")
        self.method_box = QWidget()
        method_column = QVBoxLayout(self.method_box)  # the sentence on its own, full width
        method_column.setContentsMargins(0, 0, 0, 0)
        method_column.setSpacing(2)
        method_row = QHBoxLayout()
        method_row.addWidget(QLabel("Method"))
        method_row.addWidget(self.method)
        method_row.addStretch(1)
        # Online RL: a quality the policy is not trained on, logged beside the reward
        self.watch = QCheckBox("Watch for reward gaming")
        self.watch.setToolTip(
            "Also score every answer for repetition (the sample: and a length window), "
            "without training on it: a curve that falls while the reward rises means the "
            "model is gaming the reward."
        )
        self.watch.setChecked(True)
        self.watch.toggled.connect(lambda *_: self._store())
        method_row.addWidget(self.watch)
        method_column.addLayout(method_row)
        method_column.addWidget(self.method_when)
        self._methods_of = ""
        self._checks = WATCH

        self.expects = QLabel()
        self.expects.setWordWrap(True)
        self.sample = QPlainTextEdit()
        self.sample.setReadOnly(True)
        self.sample.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        lines = self.sample.fontMetrics().lineSpacing()
        self.sample.setFixedHeight(lines * 3 + 14)  # the samples are two lines: no scrollbar
        self.sample_button = QPushButton(icon("sample"), "Use the sample data")
        self.sample_button.setToolTip(
            "Try it with a small dataset of this kind shipped with the app."
        )
        self.sample_button.clicked.connect(self.use_sample_data)
        data_row = QHBoxLayout()
        data_row.addWidget(self.expects, 1)
        data_row.addWidget(self.sample_button)

        return data_row

    # ---- public API
    def add_banner(self, banner: QWidget) -> None:
        """A line above the goals (the first run's welcome)."""
        self.layout().insertWidget(0, banner)

    def choose(self, key: str) -> None:
        self.goal = GOALS_BY_KEY[key]
        for card_key, card in self.cards.items():
            card.set_selected(card_key == key)
        self.reward_box.setVisible(key == "reward")
        self._store()

    def stage(self) -> str:
        if self.goal.key == "reward" and self.online.isChecked():
            return "grpo"
        return self.goal.stage

    def sample_paths(self) -> list:
        return self.goal.sample_paths(self.stage())

    def use_sample_data(self) -> None:
        """Open the goal's sample on the Data page; for online RL also take the demo's
        reward, checks and settings, which that sample learns with."""
        if self.stage() == "grpo":
            demo = load_config(paths.resources_dir() / "configs" / ONLINE_DEMO)
            first, *more = demo.reward_functions or [{"name": demo.reward_model}]
            self.reward.choose(first["name"], _settings_text(first.get("kwargs")))
            for part in more:
                self.reward.add(part["name"], _settings_text(part.get("kwargs")),
                                part.get("weight", 1.0))  # fmt: skip
            self._checks = demo.reward_checks or WATCH
            self.watch.setChecked(True)
            self._store()
            self.state.update_config(**{k: getattr(demo, k) for k in DEMO_KEYS})
        self.use_sample.emit(self.sample_paths())

    def chosen_method(self) -> Method | None:
        methods = METHODS.get(self.stage(), ())
        return methods[max(self.method.currentIndex(), 0)] if methods else None

    def choose_method(self, key: str) -> None:
        """Select a method of the current stage by its key (e.g. 'kto', 'dapo'); an online
        RL method switches the reward goal to scoring with a rule."""
        if self.goal.key == "reward" and any(m.key == key for m in METHODS["grpo"]):
            self.online.setChecked(True)
        self._fill_methods()
        index = self.method.findData(key)
        if index < 0:
            raise KeyError(key)
        self.method.setCurrentIndex(index)
        self._store()

    # ---- internals
    def _fill_methods(self) -> None:
        """The method list of the current stage (kept, with its choice, while it stays)."""
        stage = self.stage()
        if stage == self._methods_of:
            return
        self._methods_of = stage
        self.method.clear()
        for m in METHODS.get(stage, ()):
            self.method.addItem(m.title, m.key)
            self.method.setItemData(self.method.count() - 1, m.when, Qt.ItemDataRole.ToolTipRole)

    def _method_settings(self, method: Method | None) -> dict:
        """Every method's keys back at their defaults, then the chosen method's values: a
        key of another stage's method would be refused by this stage."""
        defaults = RunConfig.__dataclass_fields__
        out = {k: defaults[k].default for ms in METHODS.values() for m in ms for k in m.settings}
        return out | (method.settings if method else {})

    _no_reward: ClassVar[dict] = dict(reward_model=None, reward_kwargs={}, reward_functions=None)

    def _store(self) -> None:
        online = self.stage() == "grpo"
        self._fill_methods()
        method = self.chosen_method()
        self.method_box.setVisible(method is not None)
        self.method_when.setText(method.when if method else "")
        self.reward.setVisible(online)
        self.watch.setVisible(online)
        checks = self._checks if online and self.watch.isChecked() else None
        expects = self.goal.expects
        if online:
            expects = (
                "prompts (with the right answer, for the maths reward); the rule scores the answers"
            )
        elif method and method.data:
            expects = method.data
        self.expects.setText(
            f"<b>{self.goal.title}</b> trains on "
            + expects
            + ". Your data should look like this (any of the formats the Data page lists):"
        )
        sample = PROMPTS_SAMPLE if online else (method and method.sample) or self.goal.sample
        self.sample.setPlainText(sample)
        self.state.update_config(
            stage=self.stage(),
            **(self.reward.config_values() if online else self._no_reward),
            reward_checks=checks,
            **self._method_settings(method),
        )
        self.state.set_goal(self.goal.key)


def _settings_text(kwargs: dict | None) -> str:
    """A reward's settings as its row writes them: 'a=1; b=x,y'."""

    def text(v) -> str:
        return ",".join(map(str, v)) if isinstance(v, list) else str(v)

    return "; ".join(f"{k}={text(v)}" for k, v in (kwargs or {}).items())
