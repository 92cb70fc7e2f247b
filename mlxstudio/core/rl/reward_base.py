"""What every reward model is: the base class users subclass (imported by them from
core/rl/rewards.py) and the error a failing one raises. Apart from rewards.py so that the
learned reward model can subclass it without importing the loaders that load it."""

from __future__ import annotations

from mlxstudio.core.errors import UserError


class RewardError(UserError):
    """The reward model failed or returned something unusable; the message has its traceback."""


class RewardModel:
    """Scores responses: one float per (prompt, response), higher is better.

    `columns` names fields of the prompt records the reward also reads (e.g. "answer"):
    compute_reward then gets each as a keyword argument, a list with one value per response."""

    columns: tuple[str, ...] = ()

    def compute_reward(self, prompts: list[str], responses: list[str]) -> list[float]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__
