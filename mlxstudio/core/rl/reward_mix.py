"""Several rewards added with weights (`reward_functions`), and rewards only watched
(`reward_checks`): each part is scored on its own so that its mean can be logged and
plotted, and the trained reward is the weighted sum.

    reward_functions:
      - {name: length_window, weight: 1.0, kwargs: {min_words: 5, max_words: 25}}
      - {name: relevance, weight: 1.0}
      - {name: my_rewards.py:Polite, weight: 0.5}

The single-reward form (`reward_model` + `reward_kwargs`) is the one part with weight 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mlxstudio.core.config import RunConfig
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.reward_base import RewardModel
from mlxstudio.core.rl.rewards import BUILTINS, load_reward_model, score, split_spec

PART_KEYS = ("name", "weight", "kwargs")


@dataclass(frozen=True)
class PartSpec:
    name: str  # a built-in, file.py[:Class] or learned:RUN_DIR
    weight: float = 1.0
    kwargs: dict | None = None


def part_specs(items: list | None, key: str) -> list[PartSpec]:
    """The config's list of rewards, checked: what is wrong, where, and how to write it."""
    out = []
    for i, item in enumerate(items or []):
        where = f"config: {key}[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise UserError(
                f"{where}: give a mapping like {{name: length_window, weight: 1.0, kwargs: "
                f"{{max_words: 20}}}} (name: a built-in or path/to/file.py[:Class])"
            )
        unknown = sorted(set(item) - set(PART_KEYS))
        if unknown:
            raise UserError(f"{where}: unknown key '{unknown[0]}'; use {', '.join(PART_KEYS)}")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise UserError(f"{where}: weight must be a number, got {weight!r}")
        kwargs = item.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise UserError(f"{where}: kwargs must be a mapping of the reward's settings")
        out.append(PartSpec(item["name"], float(weight), kwargs))
    return out


def absolute(name: str) -> str:
    """A reward file's spec with an absolute path (runs resume from anywhere)."""
    if name in BUILTINS or name.startswith("learned:"):
        return name
    file, cls = split_spec(name)
    return str(Path(file).expanduser().resolve()) + (f":{cls}" if cls else "")


def resolved(cfg: RunConfig) -> RunConfig:
    """cfg with every reward file of reward_functions / reward_checks made absolute."""
    changes = {}
    for key in ("reward_functions", "reward_checks"):
        specs = part_specs(getattr(cfg, key), key)
        if specs:
            changes[key] = [
                {"name": absolute(s.name), "weight": s.weight, "kwargs": s.kwargs} for s in specs
            ]
    return replace(cfg, **changes) if changes else cfg


def label_of(name: str) -> str:
    """A short curve name: the built-in's, the class's or the file's."""
    if name in BUILTINS:
        return name
    if name.startswith("learned:"):
        return "learned"
    file, cls = split_spec(name)
    return cls or Path(file).stem


class WeightedRewards(RewardModel):
    """The weighted sum of its parts; `parts_scores` gives each part's own scores."""

    def __init__(self, parts: list[tuple[str, RewardModel, float]]) -> None:
        self.parts = parts
        self.columns = tuple(dict.fromkeys(c for _, m, _ in parts for c in m.columns))

    def parts_scores(self, prompts, responses, columns=None) -> dict[str, np.ndarray]:
        return {
            label: np.asarray(score(model, prompts, responses, columns), np.float32)
            for label, model, _ in self.parts
        }

    def total(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        return sum(w * scores[label] for label, _, w in self.parts)

    def compute_reward(self, prompts, responses, **columns):
        return self.total(self.parts_scores(prompts, responses, columns)).tolist()

    @property
    def name(self) -> str:
        return " + ".join(f"{w:g} x {label}" for label, _, w in self.parts)


def load_parts(specs: list[PartSpec]) -> WeightedRewards | None:
    if not specs:
        return None
    parts, seen = [], {}
    for spec in specs:
        label = label_of(spec.name)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:  # two regex rules: regex, regex_2
            label = f"{label}_{seen[label]}"
        parts.append((label, load_reward_model(spec.name, spec.kwargs), spec.weight))
    return WeightedRewards(parts)


def load_rewards(cfg: RunConfig) -> WeightedRewards | None:
    """The trained reward: reward_functions, or reward_model alone (weight 1)."""
    if cfg.reward_functions and cfg.reward_model:
        raise UserError(
            "config: both reward_model and reward_functions are set; keep one (list the "
            "single reward under reward_functions with its weight)"
        )
    if cfg.reward_functions:
        return load_parts(part_specs(cfg.reward_functions, "reward_functions"))
    if cfg.reward_model:
        return load_parts([PartSpec(cfg.reward_model, 1.0, cfg.reward_kwargs)])
    return None


def load_checks(cfg: RunConfig) -> WeightedRewards | None:
    """The rewards only logged (reward_checks), never trained on."""
    return load_parts(part_specs(cfg.reward_checks, "reward_checks"))
