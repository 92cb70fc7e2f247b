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
        if stage == "grpo":
            return [root / "rl" / "prompts"]
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
        ("preference",),
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
        ("mlx-pretrain-rl", "completions", "chat"),
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
