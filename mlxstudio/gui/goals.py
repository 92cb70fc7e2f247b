"""What the user wants, as the Goal page offers it: each goal sets the training stage, the
data the Data page expects (with a sample of it) and, through the stage, the memory estimate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlxstudio.core import paths


@dataclass(frozen=True)
class Goal:
    key: str
    title: str
    summary: str
    stage: str
    formats: tuple[str, ...]  # data formats this goal trains on (core/data/detect.FORMATS)
    expects: str  # the data, in a few words
    sample: str  # one record of it, as the user would write it
    sample_data: tuple[str, ...]  # files or folders under resources/sample_data

    def sample_paths(self, stage: str = "") -> list[Path]:
        """The shipped sample of this goal's data (online RL learns from bare prompts)."""
        root = paths.resources_dir() / "sample_data"
        if stage == "grpo":  # the GRPO demo's questions (ONLINE_DEMO), with their answers
            return [root / "rl" / "math"]
        return [root / p for p in self.sample_data]


_CHAT = (
    '{"messages": [{"role": "user", "content": "Where do I keep my bike?"},\n'
    '              {"role": "assistant", "content": "In the shed, behind the blue door."}]}'
)

GOALS: tuple[Goal, ...] = (
    Goal(
        "answer",
        "Answer like my examples",
        "Teach it your voice, your facts or a task: it learns to answer the way your "
        "examples do. Chat logs, questions and answers, Second\u2011Me memories.",
        "sft",
        ("chat", "sharegpt", "completions", "alpaca", "mlx-pretrain-sft", "secondme", "text"),
        "conversations or question/answer pairs",
        _CHAT,
        ("",),
    ),
    Goal(
        "prefer",
        "Prefer better answers",
        "Show it a better and a worse answer to the same question; it learns to prefer the "
        "better kind (DPO).",
        "dpo",
        ("preference", "labeled"),
        "a prompt with a chosen and a rejected answer",
        '{"prompt": "Capital of France?", "chosen": "Paris.",\n'
        ' "rejected": "Well, that is a great question... Paris."}',
        ("rl/preference",),
    ),
    Goal(
        "reward",
        "Learn from a reward",
        "It answers, a reward scores the answers, and it moves towards the high scores: "
        "answers you already scored, or a scoring rule applied as it learns.",
        "rl",
        ("mlx-pretrain-rl", "completions", "chat", "prompts"),
        "answers with a score, or just prompts for a scoring rule",
        '{"instruction": "Capital of France?", "response": "Paris.", "reward": 1.0}',
        ("rl/scored",),
    ),
    Goal(
        "text",
        "Learn from raw text",
        "Continue pretraining on your documents (notes, books, code) so it knows their "
        "words and facts; no questions needed.",
        "sft",
        ("text",),
        "plain text or Markdown files",
        "# Kitchen notes\nThe sourdough starter lives in the left cupboard...",
        ("pretrain/kitchen.md", "pretrain/sky.txt", "pretrain/world.txt"),
    ),
)
GOALS_BY_KEY = {g.key: g for g in GOALS}


@dataclass(frozen=True)
class Method:
    """One way to train a goal: the config values it sets, when to use it and its data."""

    key: str
    title: str
    settings: dict  # config values set when it is chosen
    when: str  # one plain sentence: when to use it
    data: str = ""  # what data it needs, when it differs from its goal's
    sample: str = ""  # one record of that data


_KTO_SAMPLE = (
    '{"prompt": "Capital of France?", "completion": "Paris.", "label": true}\n'
    '{"prompt": "Capital of Spain?", "completion": "Paris, I think.", "label": false}'
)
_PAIR = dict(beta=0.1, simpo_gamma=0.5)
_GROUP = dict(clip_range=0.2, clip_range_high=None)

# Per stage, the methods offered; the first is the default.
METHODS: dict[str, tuple[Method, ...]] = {
    "dpo": (
        Method(
            "sigmoid",
            "DPO",
            _PAIR | dict(preference_loss="sigmoid"),
            "The usual choice: it learns from pairs of a better and a worse answer, against a "
            "frozen copy of the starting model.",
        ),
        Method(
            "ipo",
            "IPO",
            _PAIR | dict(preference_loss="ipo"),
            "Like DPO, but steadier when you have few pairs or some are noisy.",
        ),
        Method(
            "cpo",
            "CPO",
            _PAIR | dict(preference_loss="cpo"),
            "Like DPO without a reference model (faster, less memory), and it keeps the "
            "better answers likely.",
        ),
        Method(
            "simpo",
            "SimPO",
            _PAIR | dict(preference_loss="simpo", beta=2.0),
            "No reference model, and it scores answers per word, so longer answers get no "
            "edge: good when the better answers tend to be longer.",
        ),
        Method(
            "orpo",
            "ORPO",
            _PAIR | dict(preference_loss="orpo"),
            "Teaches the better answers and the preference in one pass, without a reference "
            "model: use it on a model that was not fine-tuned first.",
        ),
        Method(
            "kto",
            "KTO",
            _PAIR | dict(preference_loss="kto"),
            "When your answers are marked good or bad one at a time (thumbs up or down) "
            "instead of in pairs.",
            "answers each marked good (true) or bad (false); pairs work too",
            _KTO_SAMPLE,
        ),
    ),
    "grpo": (
        Method(
            "grpo",
            "GRPO",
            _GROUP | dict(grpo_loss="grpo"),
            "The usual choice: it answers each prompt several times and moves towards the "
            "better-scored answers.",
        ),
        Method(
            "dapo",
            "DAPO",
            _GROUP | dict(grpo_loss="dapo", clip_range_high=0.28),
            "For long answers and reasoning: every word counts the same, and prompts whose "
            "answers all scored alike are skipped.",
        ),
        Method(
            "dr_grpo",
            "Dr. GRPO",
            _GROUP | dict(grpo_loss="dr_grpo"),
            "When answers keep growing longer with GRPO: it removes its bias to length.",
        ),
        Method(
            "gspo",
            "GSPO",
            dict(grpo_loss="gspo", clip_range=3e-4, clip_range_high=4e-4),
            "Steadier for long answers: it judges each whole answer at once, not word by word.",
        ),
    ),
}


def method_for(stage: str, config) -> Method | None:
    """The method a config trains by, among those offered for its stage."""
    for method in METHODS.get(stage, ()):
        key = config.preference_loss if stage == "dpo" else config.grpo_loss
        if method.key == key:
            return method
    return None
