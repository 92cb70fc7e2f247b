"""Built-in rewards that read the answer's text: a length window, no repetition, relevance
to the question, the right number for maths, valid JSON. Each scores between 0 and 1."""

from __future__ import annotations

import json
import re

from mlxstudio.core.rl.reward_base import RewardModel

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+")
# Words a question is made of whatever it asks about: not evidence of relevance.
STOP_WORDS = (
    "what which when where who whom whose why how does did do is are was were the a an of to "
    "in on for and or me tell about name describe explain give many much your you this that "
    "with from into some any can could would should"
)
STOP = frozenset(STOP_WORDS.split(" "))


def words(text: str) -> list[str]:
    """Runs of letters (or digits), lower-cased: "there...there" is two words."""
    return [w.lower() for w in WORD.findall(text)]


class LengthWindow(RewardModel):
    """1 for min_words to max_words words; min / words short of it falls to words / min_words,
    above it to max_words / words."""

    def __init__(self, min_words: int = 5, max_words: int = 30) -> None:
        if not 0 < min_words <= max_words:
            raise ValueError("reward_kwargs: need 0 < min_words <= max_words")
        self.low, self.high = min_words, max_words

    def compute_reward(self, prompts, responses):
        out = []
        for r in responses:
            n = len(words(r))
            out.append(n / self.low if n < self.low else min(1.0, self.high / max(n, 1)))
        return out


class NonRepetition(RewardModel):
    """The share of the answer's word n-grams that are distinct: 1 when nothing repeats,
    0.5 for "Dogs. Dogs." (n = 1); an empty answer scores 0."""

    def __init__(self, n: int = 1) -> None:
        self.n = max(1, int(n))

    def compute_reward(self, prompts, responses):
        out = []
        for r in responses:
            w = words(r)
            grams = [tuple(w[i : i + self.n]) for i in range(len(w) - self.n + 1)] or [tuple(w)]
            out.append(len(set(grams)) / len(grams) if w else 0.0)
        return out


class Relevance(RewardModel):
    """The share of the question's content words (not question words like 'what', 'tell')
    that the answer uses, a word's first five letters standing for it (dog / dogs)."""

    @staticmethod
    def _stems(text: str) -> set[str]:
        return {w[:5] for w in words(text) if w not in STOP and len(w) > 2}

    def compute_reward(self, prompts, responses):
        out = []
        for p, r in zip(prompts, responses, strict=True):
            asked = self._stems(p)
            out.append(len(asked & self._stems(r)) / len(asked) if asked else 1.0)
        return out


NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S)


def final_answer(text: str) -> str:
    """What a maths answer claims: \\boxed{...}, else <answer>...</answer>, else its last
    number."""
    for pattern in (BOXED, ANSWER_TAG):
        found = pattern.findall(text)
        if found:
            return found[-1].strip()
    numbers = NUMBER.findall(text)
    return numbers[-1] if numbers else text.strip()


def same_answer(said: str, expected: str) -> bool:
    """Equal as numbers when both are numbers (1,000 = 1000.0), else as trimmed text."""
    try:
        return abs(float(said.replace(",", "")) - float(str(expected).replace(",", ""))) < 1e-6
    except ValueError:
        return said.strip().rstrip(".").lower() == str(expected).strip().rstrip(".").lower()


class MathAnswer(RewardModel):
    """1 when the answer's final number (or \\boxed{} / <answer> content) equals the prompt
    record's `answer` field, else 0."""

    columns = ("answer",)

    def compute_reward(self, prompts, responses, answer=()):
        return [
            1.0 if same_answer(final_answer(r), a) else 0.0
            for r, a in zip(responses, answer, strict=True)
        ]


FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


class ValidJSON(RewardModel):
    """1 when the answer (or the one ```json block it is) parses as JSON, and, given
    `keys`, is an object with all of them; else 0."""

    def __init__(self, keys: list[str] | tuple[str, ...] = ()) -> None:
        self.keys = list(keys)

    def compute_reward(self, prompts, responses):
        out = []
        for r in responses:
            fenced = FENCE.match(r)
            try:
                value = json.loads(fenced.group(1) if fenced else r)
            except ValueError:
                out.append(0.0)
                continue
            ok = not self.keys or (isinstance(value, dict) and all(k in value for k in self.keys))
            out.append(1.0 if ok else 0.0)
        return out
