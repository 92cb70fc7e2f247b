"""Example reward models for MLX Studio's RL stages (rl, grpo).

Select one with `reward_model: resources/rewards/examples.py:ShortAndPolite` in a config,
or `mlxstudio train CONFIG --reward_model resources/rewards/examples.py:ShortAndPolite`.
`reward_kwargs` in the config are passed to the class.
"""

from mlxstudio.core.rl.rewards import RewardModel


class ShortAndPolite(RewardModel):
    """Up to 1 for answers of at most `max_words` words, plus 0.5 for a 'please' or 'thank'."""

    def __init__(self, max_words: int = 30) -> None:
        self.max_words = max_words

    def compute_reward(self, prompts, responses):
        rewards = []
        for response in responses:
            words = len(response.split())
            reward = min(1.0, self.max_words / max(words, 1))
            if any(w in response.lower() for w in ("please", "thank")):
                reward += 0.5
            rewards.append(reward)
        return rewards


class EchoesTheQuestion(RewardModel):
    """The share of the prompt's words (longer than 3 letters) the answer repeats."""

    def compute_reward(self, prompts, responses):
        rewards = []
        for prompt, response in zip(prompts, responses, strict=True):
            words = {w.strip("?.,!").lower() for w in prompt.split() if len(w) > 3}
            said = response.lower()
            rewards.append(sum(w in said for w in words) / max(len(words), 1))
        return rewards
