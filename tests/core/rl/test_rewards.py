"""Reward models: built-ins, a user's file, and bad rewards stopping the job cleanly."""

from __future__ import annotations

import pytest

from mlxstudio.core import paths, runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.job import run_rl
from mlxstudio.core.rl.rewards import RewardError, RewardModel, load_reward_model, score


def quiet(message: str) -> None:
    pass


def test_builtins():
    prompts = ["q"] * 3
    responses = ["one two", "one two three four", "<think>hm</think><answer>4</answer>"]
    max_words = load_reward_model("max_words", {"max_words": 2})
    # tags count as words; "a...b" is two words; symbols alone earn nothing
    assert score(max_words, prompts, responses) == [1.0, 0.5, pytest.approx(1 / 3)]
    assert score(max_words, ["q"] * 2, ["yes...yes...yes...yes", "🌟🌟🌟"]) == [0.5, 0.0]
    assert score(load_reward_model("ends_with", {"word": "two"}), prompts, responses)[:2] == [
        1.0,
        0.0,
    ]
    assert score(
        load_reward_model("keywords", {"keywords": ["three", "four"]}), prompts, responses
    )[1] == pytest.approx(1.0)
    assert score(load_reward_model("think_answer_format"), prompts, responses) == [0, 0, 1]
    assert (
        score(load_reward_model("regex", {"pattern": "^ONE", "flags": "i"}), prompts, responses)[0]
        == 1
    )
    assert (
        score(load_reward_model("target_length", {"target_words": 2}), prompts, responses)[0] == 1
    )


def test_user_file_class_and_function(tmp_path):
    file = tmp_path / "mine.py"
    file.write_text(
        "from mlxstudio.core.rl.rewards import RewardModel\n"
        "class A(RewardModel):\n"
        "    def __init__(self, bonus=0.0):\n"
        "        self.bonus = bonus\n"
        "    def compute_reward(self, prompts, responses):\n"
        "        return [len(r) + self.bonus for r in responses]\n"
        "class B(A):\n"
        "    pass\n"
    )
    with pytest.raises(UserError, match="several reward classes"):
        load_reward_model(str(file))
    model = load_reward_model(f"{file}:A", {"bonus": 1})
    assert isinstance(model, RewardModel) and score(model, ["p"], ["abc"]) == [4.0]
    fn = tmp_path / "fn.py"
    fn.write_text("def compute_reward(prompts, responses):\n    return [1] * len(responses)\n")
    assert score(load_reward_model(str(fn)), ["a", "b"], ["c", "d"]) == [1.0, 1.0]


def test_shipped_examples_load():
    path = paths.resources_dir() / "rewards" / "examples.py"
    model = load_reward_model(f"{path}:ShortAndPolite", {"max_words": 2})
    assert score(model, ["q"], ["thank you"]) == [1.5]


def test_user_file_errors_show_their_traceback(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1\nraise ValueError('typo in my reward file')\n")
    with pytest.raises(RewardError, match=r"(?s)broken.py\", line 2.*typo in my reward file"):
        load_reward_model(str(broken))
    with pytest.raises(UserError, match="neither a file nor a built-in"):
        load_reward_model("nope.py")


class Raises(RewardModel):
    def compute_reward(self, prompts, responses):
        return [1 / 0 for _ in responses]


class WrongLength(RewardModel):
    def compute_reward(self, prompts, responses):
        return [1.0]


class NotNumbers(RewardModel):
    def compute_reward(self, prompts, responses):
        return ["good"] * len(responses)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (Raises, r"(?s)Raises raised an error:.*in compute_reward.*ZeroDivisionError"),
        (WrongLength, r"returned 1 rewards for 8 responses"),
        (NotNumbers, r"must return a list of numbers"),
    ],
)
def test_score_checks(cls, message):
    with pytest.raises(RewardError, match=message):
        score(cls(), ["p"] * 8, ["r"] * 8)


FAILS_LATER = """
from mlxstudio.core.rl.rewards import RewardModel

class FailsAtStep3(RewardModel):
    calls = 0

    def compute_reward(self, prompts, responses):
        FailsAtStep3.calls += 1
        if FailsAtStep3.calls == 3:
            raise KeyError("no such judge: " + prompts[0][:10])
        return [float(len(r.split()) < 4) for r in responses]
"""


def test_failing_reward_stops_grpo_with_traceback_and_checkpoint(
    tmp_path, prompt_data, make_rl_config
):
    file = tmp_path / "judge.py"
    file.write_text(FAILS_LATER)
    cfg = make_rl_config(
        prompt_data,
        "grpo",
        reward_model=str(file),
        iters=6,
        save_every=100,
        steps_per_eval=100,
        group_size=2,
        batch_size=2,
        max_new_tokens=6,
    )
    seen = []
    with pytest.raises(UserError, match=r"(?s)step 3: .*judge.py\", line 10.*KeyError"):
        run_rl(cfg, on_event=seen.append, log=quiet)
    error = [e for e in seen if e["event"] == "error"][0]
    assert error["code"] == "user_error" and "FailsAtStep3" in error["message"]
    run_dir = paths.runs_dir() / "tiny-grpo"
    assert (run_dir / "checkpoints" / "0000002").is_dir()  # what was trained is kept
    assert runs.read_meta(run_dir)["status"] == "failed"
    assert seen[-1]["event"] == "finished" and seen[-1]["status"] == "failed"
