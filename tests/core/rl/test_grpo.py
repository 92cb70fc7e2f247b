"""GRPO on the tiny model: sampling, group advantages, events, config and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from mlxstudio.cli import main
from mlxstudio.core import paths, runs
from mlxstudio.core.config import ConfigError, config_from_dict
from mlxstudio.core.rl.grpo import group_advantages, sample_group, sample_groups


def quiet(message: str) -> None:
    pass


def test_group_advantages_are_relative_to_the_group():
    adv = group_advantages(np.array([1.0, 0.0, 5.0, 5.0], np.float32), k=2)
    assert adv[0] > 0 > adv[1] and adv[2] == adv[3] == 0


def test_sample_group_stops_at_eos(tiny_model):
    import mlx.core as mx
    from mlx_lm import load

    model, tokenizer = load(str(tiny_model))
    mx.random.seed(0)
    out = sample_group(model, [1, 5, 9], k=3, max_new_tokens=5, temperature=1.0, eos={7})
    assert len(out) == 3 and all(1 <= len(r) <= 5 for r in out)
    assert all(7 not in r[:-1] for r in out)
    greedy = sample_group(model, [1, 5, 9], k=2, max_new_tokens=4, temperature=0, eos=set())
    assert greedy[0] == greedy[1]


def test_prompts_of_different_lengths_decode_in_one_batch_as_alone(tiny_model):
    """Left padding (BatchKVCache) changes nothing: greedy answers equal each prompt's own."""
    from mlx_lm import load

    model, _ = load(str(tiny_model))
    prompts = [[1, 5, 9, 11, 14, 3], [2, 7], [4, 4, 8, 1]]
    batched = sample_groups(model, prompts, k=2, max_new_tokens=6, temperature=0, eos=set())
    alone = [r for p in prompts for r in sample_group(model, p, 2, 6, 0, set())]
    assert batched == alone and len({tuple(r) for r in batched}) > 1


def test_grpo_run_events(prompt_data, make_rl_config, tmp_path):
    from mlxstudio.core.rl.job import run_rl

    cfg = make_rl_config(
        prompt_data,
        "grpo",
        reward_model="max_words",
        reward_kwargs={"max_words": 3},
        iters=4,
        group_size=3,
        max_new_tokens=8,
        steps_per_eval=100,
    )
    result = run_rl(cfg, log=quiet)
    assert result.status == "completed"
    train = [e for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    assert [e["step"] for e in train] == [2, 4]
    for e in train:
        assert 0 < e["reward_mean"] <= 1 and e["reward_std"] >= 0
        assert np.isfinite(e["kl"]) and e["response_tokens"] <= 8


def test_config_keys_are_checked():
    cfg = config_from_dict({"stage": "grpo", "group_size": 8, "kl_coef": 0, "beta": 0.5})
    assert cfg.group_size == 8 and cfg.kl_coef == 0.0
    with pytest.raises(ConfigError, match="'stage' must be one of"):
        config_from_dict({"stage": "ppo"})
    with pytest.raises(ConfigError, match="'clip_range' must be a number"):
        config_from_dict({"clip_range": "wide"})
    with pytest.raises(ConfigError, match="'preference_loss' must be one of"):
        config_from_dict({"preference_loss": "kto-pairs"})
    with pytest.raises(ConfigError, match="'group_size' must be at least 1"):
        config_from_dict({"group_size": 0})


def test_cli_train_grpo_with_reward_file(prompt_data, tiny_model, tmp_path, capsys):
    reward = tmp_path / "short.py"
    reward.write_text(
        "from mlxstudio.core.rl.rewards import RewardModel\n"
        "class Short(RewardModel):\n"
        "    def compute_reward(self, prompts, responses):\n"
        "        return [-len(r) for r in responses]\n"
    )
    config = tmp_path / "grpo.yaml"
    settings = dict(
        model=str(tiny_model),
        data=str(prompt_data),
        stage="grpo",
        name="cli-grpo",
        iters=2,
        batch_size=2,
        group_size=2,
        max_new_tokens=4,
        num_layers=1,
        steps_per_report=1,
    )
    config.write_text(yaml.safe_dump(settings))
    code = main(["train", str(config), "--events", "--reward_model", f"{reward}:Short"])
    assert code == 0
    lines = [json.loads(x[7:]) for x in capsys.readouterr().out.splitlines() if x[:7] == "@event "]
    assert lines[0]["event"] == "start" and lines[-1]["status"] == "completed"
    saved = yaml.safe_load((paths.runs_dir() / "cli-grpo" / "config.yaml").read_text())
    assert saved["reward_model"] == f"{reward}:Short"


def test_cli_bad_reward_exits_2(scored_data, tiny_model, tmp_path, capsys):
    reward = tmp_path / "bad.py"
    reward.write_text("def compute_reward(prompts, responses):\n    return [0.0]\n")
    (scored_data / "train.jsonl").write_text(
        '{"instruction": "a", "response": "b"}\n{"instruction": "c", "response": "d"}\n'
    )
    config = tmp_path / "rl.yaml"
    config.write_text(
        yaml.safe_dump(dict(model=str(tiny_model), data=str(scored_data), stage="rl"))
    )
    assert main(["train", str(config), "--reward_model", str(reward)]) == 2
    assert "returned 1 rewards for 2 responses" in capsys.readouterr().err
