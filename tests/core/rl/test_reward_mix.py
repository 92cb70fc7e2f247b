"""Rewards that combine: built-ins, weights, user files, record fields, and each part's and
each check's mean in the run's events (the tiny model)."""

from __future__ import annotations

import numpy as np
import pytest
from rl_helpers import write_jsonl

from mlxstudio.core import runs
from mlxstudio.core.curves import image_panels, read_curves
from mlxstudio.core.curves_image import save_curves
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.reward_mix import load_checks, load_rewards
from mlxstudio.core.rl.rewards import RewardError, load_reward_model, score


def quiet(message: str) -> None:
    pass


def test_text_rewards():
    prompts = ["Tell me about dogs.", "What is 6 times 7?", "Give JSON."]
    window = load_reward_model("length_window", {"min_words": 2, "max_words": 4})
    assert score(window, ["q"] * 4, ["one", "one two", "a b c d", "a b c d e f g h"]) == [
        0.5,
        1.0,
        1.0,
        0.5,
    ]
    rep = load_reward_model("repetition")
    assert score(rep, ["q"] * 3, ["Dogs. Dogs.", "Dogs bark at cats.", ""]) == [0.5, 1.0, 0.0]
    bigram = load_reward_model("repetition", {"n": 2})
    assert score(bigram, ["q"], ["a b a b a b"]) == [pytest.approx(2 / 5)]
    rel = load_reward_model("relevance")
    assert score(rel, prompts[:1] * 2, ["Dogs are loyal.", "Cats purr."]) == [1.0, 0.0]
    js = load_reward_model("valid_json", {"keys": ["name"]})
    said = ['{"name": "x"}', '```json\n{"name": 1}\n```', "[1, 2]", "{name: x}"]
    assert score(js, ["q"] * 4, said) == [1.0, 1.0, 0.0, 0.0]


def test_math_answer_reads_the_records_answer_field():
    maths = load_reward_model("math_answer")
    said = ["6 x 7 = 42.", "\\boxed{41}", "<answer>1,000</answer>", "It is 42 or 43"]
    got = score(maths, ["q"] * 4, said, {"answer": ["42", 41, "1000", 42]})
    assert got == [1.0, 1.0, 1.0, 0.0]
    with pytest.raises(RewardError, match="reads the field 'answer'"):
        score(maths, ["q"], ["42"], {})


def test_weighted_sum_and_each_parts_scores(make_rl_config, prompt_data, tmp_path):
    own = tmp_path / "own.py"
    own.write_text(
        "from mlxstudio.core.rl.rewards import RewardModel\n"
        "class Polite(RewardModel):\n"
        "    def compute_reward(self, prompts, responses):\n"
        "        return [1.0 if 'please' in r else 0.0 for r in responses]\n"
    )
    cfg = make_rl_config(
        prompt_data,
        "grpo",
        reward_functions=[
            {"name": "length_window", "weight": 2.0, "kwargs": {"min_words": 1, "max_words": 2}},
            {"name": f"{own}:Polite", "weight": 0.5},
            "repetition",
            {"name": "repetition", "kwargs": {"n": 2}},
        ],
        reward_checks=[{"name": "relevance"}],
    )
    mix = load_rewards(cfg)
    parts = mix.parts_scores(["q", "q"], ["yes please", "no no no no"])
    assert list(parts) == ["length_window", "Polite", "repetition", "repetition_2"]
    want = 2 * np.array([1.0, 0.5]) + 0.5 * np.array([1.0, 0.0]) + [1.0, 0.25] + [1.0, 1 / 3]
    np.testing.assert_allclose(mix.total(parts), want)
    assert score(mix, ["q", "q"], ["yes please", "no no no no"]) == pytest.approx(want.tolist())
    assert list(load_checks(cfg).parts_scores(["dogs?"], ["dogs"])) == ["relevance"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"weight": 1}], r"reward_functions\[0\]: give a mapping"),
        ([{"name": "repetition", "weigth": 1}], "unknown key 'weigth'"),
        ([{"name": "repetition", "weight": "high"}], "weight must be a number"),
        ([{"name": "nope"}], "neither a file nor a built-in"),
    ],
)
def test_bad_reward_lists_say_what_and_where(make_rl_config, prompt_data, items, message):
    cfg = make_rl_config(prompt_data, "grpo", reward_functions=items)
    with pytest.raises(UserError, match=message):
        load_rewards(cfg)


def test_reward_model_and_functions_together_are_refused(make_rl_config, prompt_data):
    cfg = make_rl_config(
        prompt_data, "grpo", reward_model="max_words", reward_functions=["repetition"]
    )
    with pytest.raises(UserError, match="keep one"):
        load_rewards(cfg)


@pytest.mark.parametrize("variant", ["dapo", "dr_grpo", "gspo"])
def test_grpo_variants_log_each_reward_and_check(make_rl_config, tmp_path, variant):
    from mlxstudio.core.rl.job import run_rl

    data = write_jsonl(
        tmp_path / "maths" / "train.jsonl",
        [{"prompt": f"What is {a} plus {a}?", "answer": 2 * a} for a in range(6)],
    )
    write_jsonl(data.parent / "valid.jsonl", [{"prompt": "What is 9 plus 9?", "answer": 18}])
    cfg = make_rl_config(
        data.parent,
        "grpo",
        grpo_loss=variant,
        clip_range_high=0.28 if variant == "dapo" else None,
        reward_functions=[
            {"name": "max_words", "kwargs": {"max_words": 3}},
            {"name": "math_answer", "weight": 0.5},
        ],
        reward_checks=["repetition"],
        iters=4,
        batch_size=2,
        group_size=3,
        max_new_tokens=8,
        steps_per_eval=4,
    )
    result = run_rl(cfg, log=quiet)
    assert result.status == "completed"
    events = list(runs.read_events(result.run_dir))
    train = [e for e in events if e["event"] == "train"]
    for e in train:
        parts = e["rewards"]
        assert set(parts) == {"reward.max_words", "reward.math_answer", "check.repetition"}
        total = parts["reward.max_words"] + 0.5 * parts["reward.math_answer"]
        assert e["reward_mean"] == pytest.approx(total, abs=1e-5)
        assert np.isfinite(e["train_loss"])
        assert (e["kept_groups"] is not None) == (variant == "dapo")
    val = [e for e in events if e["event"] == "val"]
    assert val and set(val[-1]["rewards"]) == set(train[-1]["rewards"])
    if variant == "dapo":  # each reward on its own curve, in `mlxstudio plot`'s image too
        curves = read_curves(result.run_dir)
        panel = image_panels([curves.stage], [curves])[-1]
        assert panel[0] == "Each reward"
        assert [c[2] for c in panel[2]] == ["math_answer", "max_words", "repetition (check)"]
        steps, values = curves.series("train", "reward.max_words")
        assert steps == [2, 4] and values == [e["rewards"]["reward.max_words"] for e in train]
        assert save_curves([result.run_dir], tmp_path / "curves.png").stat().st_size > 1000


def test_the_bundled_grpo_demo_config_reads_and_its_rewards_load():
    import json

    from mlxstudio.core import paths
    from mlxstudio.core.config import load_config

    cfg = load_config(paths.resources_dir() / "configs" / "grpo_demo.yaml")
    assert cfg.stage == "grpo" and cfg.sample_prompts
    rewards = load_rewards(cfg)
    assert [label for label, _, _ in rewards.parts] == ["math_answer"]
    assert cfg.data.endswith("sample_data/rl/math")
    valid = paths.resources_dir() / "sample_data" / "rl" / "math" / "valid.jsonl"
    record = json.loads(valid.read_text(encoding="utf-8").splitlines()[0])
    asked, right = record["prompt"], record["answer"]
    # only the right final number pays: no wording, length or second guess games it
    said = [f"{right}", f"The answer is {right}.", f"{right} or {int(right) + 1}", "I think so."]
    assert score(rewards, [asked] * 4, said, {"answer": [right] * 4}) == [1.0, 1.0, 0.0, 0.0]
    checks = load_checks(cfg).parts_scores(
        ["q", "q"], ["Dear HG, Dear HG, Dear HG", "To find it we need to think of it " * 3]
    )
    assert list(checks) == ["length_window", "repetition"]
    assert checks["repetition"][0] < 0.5 and checks["length_window"][1] < 0.5  # loop, ramble
