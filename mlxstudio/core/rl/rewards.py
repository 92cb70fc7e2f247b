"""Reward models: the base class users subclass, built-in examples, and loading a user's file.

    from mlxstudio.core.rl.rewards import RewardModel

    class ShortAnswers(RewardModel):
        def compute_reward(self, prompts, responses):
            return [1.0 if len(r.split()) <= 20 else 0.0 for r in responses]

Select it with `reward_model: path/to/file.py[:ShortAnswers]` in the config (or
`--reward_model` on the command line); `reward_kwargs` go to the class's constructor.
`reward_model: learned:RUN_DIR` (or just the run directory) scores with a reward model
trained by stage `reward` (see core/rl/learned_reward.py).
A module-level function `compute_reward(prompts, responses)` works too.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.reward_base import RewardError, RewardModel
from mlxstudio.core.rl.text_rewards import (
    LengthWindow,
    MathAnswer,
    NonRepetition,
    Relevance,
    ValidJSON,
    words,
)

__all__ = ["RewardError", "RewardModel", "load_reward_model", "score"]


class MaxWords(RewardModel):
    """1 for at most `max_words` words, falling off as max_words / words beyond; 0 for a
    response with no letters at all (emoji or symbol strings would otherwise win)."""

    def __init__(self, max_words: int = 20) -> None:
        self.max_words = max_words

    def compute_reward(self, prompts, responses):
        return [
            min(1.0, self.max_words / max(len(words(r)), 1)) if re.search(r"[^\W\d_]", r) else 0.0
            for r in responses
        ]


class TargetLength(RewardModel):
    """1 at exactly `target_words` words, down to 0 at twice (or zero) that."""

    def __init__(self, target_words: int = 20) -> None:
        self.target = target_words

    def compute_reward(self, prompts, responses):
        return [max(0.0, 1.0 - abs(len(words(r)) - self.target) / self.target) for r in responses]


class Keywords(RewardModel):
    """The share of `keywords` the response contains (case-insensitive)."""

    def __init__(self, keywords: Sequence[str] = ()) -> None:
        if not keywords:
            raise ValueError("reward_kwargs: keywords must list at least one word")
        self.keywords = [k.lower() for k in keywords]

    def compute_reward(self, prompts, responses):
        return [sum(k in r.lower() for k in self.keywords) / len(self.keywords) for r in responses]


class Regex(RewardModel):
    """1 where `pattern` is found in the response (re.search), else 0."""

    def __init__(self, pattern: str = "", flags: str = "") -> None:
        bits = {"i": re.I, "s": re.S, "m": re.M}
        self.pattern = re.compile(pattern, sum(bits[f] for f in flags))

    def compute_reward(self, prompts, responses):
        return [1.0 if self.pattern.search(r) else 0.0 for r in responses]


class EndsWith(RewardModel):
    """1 when the response's last word is `word` (punctuation and case ignored)."""

    def __init__(self, word: str = "") -> None:
        self.word = word.lower().strip(".,!?;: ")

    def compute_reward(self, prompts, responses):
        last = [(r.split() or [""])[-1].lower().strip(".,!?;:\"' ") for r in responses]
        return [1.0 if w == self.word else 0.0 for w in last]


class ThinkAnswerFormat(Regex):
    """1 for the chain-of-thought format `<think>...</think><answer>...</answer>`."""

    def __init__(self) -> None:
        super().__init__(r"^\s*<think>.+?</think>\s*<answer>.+?</answer>\s*$", "s")


BUILTINS: dict[str, type[RewardModel]] = {
    "max_words": MaxWords,
    "target_length": TargetLength,
    "keywords": Keywords,
    "regex": Regex,
    "ends_with": EndsWith,
    "think_answer_format": ThinkAnswerFormat,
    "length_window": LengthWindow,
    "repetition": NonRepetition,
    "relevance": Relevance,
    "math_answer": MathAnswer,
    "valid_json": ValidJSON,
}


class _Function(RewardModel):
    def __init__(self, fn) -> None:
        self.fn = fn

    def compute_reward(self, prompts, responses):
        return self.fn(prompts, responses)

    @property
    def name(self) -> str:
        return self.fn.__name__


def _user_traceback(err: BaseException, skip: int = 1) -> str:
    """The traceback from the user's code on (our own calling frames left out)."""
    tb = err.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    return "".join(traceback.format_exception(type(err), err, tb)).rstrip()


def split_spec(spec: str) -> tuple[str, str | None]:
    """'file.py:Class' -> ('file.py', 'Class'); the class part is optional."""
    if ".py:" in spec:
        path, cls = spec.rsplit(":", 1)
        return path, cls or None
    return spec, None


def _load_module(path: Path):
    name = f"mlxstudio_reward_{abs(hash(str(path)))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up
    try:
        module_spec.loader.exec_module(module)
    except BaseException as err:  # noqa: BLE001 - anything the user's file does on import
        sys.modules.pop(name, None)
        raise RewardError(
            f"{path}: the reward file failed to load:\n{_user_traceback(err, skip=2)}"
        ) from None
    return module


def _is_reward_run(spec: str) -> bool:
    """A run directory of stage reward (it holds reward_config.json)."""
    return (Path(spec).expanduser() / "reward_config.json").is_file()


def load_reward_model(spec: str, kwargs: dict | None = None) -> RewardModel:
    """A built-in by name, or a class / compute_reward function from the user's Python file."""
    kwargs = dict(kwargs or {})
    if spec.startswith("learned:") or "/learned:" in spec or _is_reward_run(spec):
        from mlxstudio.core.rl.learned_reward import LearnedReward, learned_run_dir

        return LearnedReward(learned_run_dir(spec), **kwargs)  # a stage `reward` run
    if spec in BUILTINS:
        cls, where = BUILTINS[spec], f"reward_model '{spec}'"
    else:
        file, cls_name = split_spec(spec)
        path = Path(file).expanduser()
        if not path.is_file():
            names = ", ".join(BUILTINS)
            raise UserError(
                f"reward_model: {spec!r} is neither a file nor a built-in ({names}); "
                f"give path/to/file.py[:ClassName]"
            )
        module = _load_module(path.resolve())
        where = str(path)
        if cls_name:
            cls = getattr(module, cls_name, None)
            if cls is None:
                raise UserError(f"{path}: no '{cls_name}' defined; check the name after ':'")
        else:
            found = [
                obj
                for obj in vars(module).values()
                if inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and callable(getattr(obj, "compute_reward", None))
            ]
            if len(found) > 1:
                names = ", ".join(c.__name__ for c in found)
                raise UserError(f"{path}: several reward classes ({names}); add :ClassName")
            if found:
                cls = found[0]
            elif callable(getattr(module, "compute_reward", None)):
                return _Function(module.compute_reward)
            else:
                raise UserError(
                    f"{path}: no RewardModel subclass and no compute_reward function found"
                )
    try:
        return cls(**kwargs)
    except Exception as err:  # noqa: BLE001 - the user's constructor
        raise RewardError(
            f"{where}: creating the reward model failed:\n{_user_traceback(err)}"
        ) from None


def score(
    model: RewardModel,
    prompts: list[str],
    responses: list[str],
    columns: dict[str, list] | None = None,
) -> list[float]:
    """The model's rewards, checked: one finite number per response, else RewardError.
    `columns`: the prompt records' other fields, one value per response, for rewards that
    read them (RewardModel.columns)."""
    extra = {}
    for name in getattr(model, "columns", ()):
        values = (columns or {}).get(name)
        if values is None or any(v is None for v in values):
            raise RewardError(
                f"the reward {model.name} reads the field '{name}' of each prompt record; "
                f'add "{name}": ... to every record of the data'
            )
        extra[name] = list(values)
    try:
        rewards = model.compute_reward(list(prompts), list(responses), **extra)
    except Exception as err:  # noqa: BLE001 - the user's code: show their traceback
        raise RewardError(
            f"the reward model {model.name} raised an error:\n{_user_traceback(err)}"
        ) from None
    try:
        values = [float(r) for r in rewards]
    except (TypeError, ValueError) as err:
        raise RewardError(
            f"the reward model {model.name} must return a list of numbers, one per response; "
            f"got {type(rewards).__name__} ({err})"
        ) from None
    if len(values) != len(responses):
        raise RewardError(
            f"the reward model {model.name} returned {len(values)} rewards for "
            f"{len(responses)} responses; return one per response"
        )
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise RewardError(f"the reward model {model.name} returned {bad[0]} (must be finite)")
    return values
