"""MLX-Pretrain's rl-config.yaml: checked like its other configs (file:line, did you mean)
and mapped onto an offline PPO run (stage rl) with its data converted as rl.py joins it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_mlx_pretrain_config import edited, line_of, quiet

from mlxstudio.core.config import ConfigError
from mlxstudio.core.mlx_pretrain.configs import load_run_config, resolve_policy
from mlxstudio.core.mlx_pretrain.rl import reward_spec


@pytest.fixture
def rl_config(mlx_pretrain_dir) -> Path:
    return mlx_pretrain_dir / "rl-config.yaml"


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rl_config_maps_onto_an_offline_ppo_run(rl_config, tiny_model, studio_home):
    cfg = load_run_config(rl_config, pretrained_model=str(tiny_model), log=quiet)
    run_dir = studio_home / "runs" / "Llama-Tiny-RL"
    assert (cfg.stage, cfg.model, cfg.adapter_path) == (
        "rl",
        str(tiny_model.resolve()),
        str(run_dir),
    )
    assert (cfg.fine_tune_type, cfg.num_layers) == ("full", -1)  # rl.py trains every weight
    assert (cfg.ppo_epochs, cfg.ppo_mini_batch_size) == (2, 4)
    assert (cfg.kl_coef, cfg.clip_range) == (pytest.approx(0.1), pytest.approx(0.2))
    assert cfg.reward_model is None and cfg.max_seq_length == 256
    assert cfg.iters == 27  # 3 epochs x (36 records // batch 4)
    # the schedule counts optimizer updates: 2 PPO epochs x 1 mini-batch per step
    warmup = round(0.1 * 27 * 2)
    assert cfg.lr_schedule["warmup"] == warmup
    assert cfg.lr_schedule["arguments"][:2] == [pytest.approx(5e-4), 27 * 2 - warmup]
    train = records(run_dir / "dataset" / "train.jsonl")
    assert len(train) == 36 and len(records(run_dir / "dataset" / "valid.jsonl")) == 12
    assert train[0] == {  # joined as rl.py joins them: system prompt, a blank line, the prompt
        "prompt": "You are a helpful, harmless, and honest AI assistant.\n\n### Instruction:\n"
        "What is the capital of France?\n\n### Response:",
        "completion": "The capital of France is Paris.",
        "reward": 1.0,
    }
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert meta["rl_specific"]["kl_coef"] == pytest.approx(0.1)
    assert meta["pretrained_model"] == str(tiny_model)


def test_rl_py_defaults_fill_missing_ppo_keys(rl_config, tiny_model, tmp_path):
    path = edited(rl_config, tmp_path, "  ppo_epochs: 2\n  ppo_mini_batch_size: 4\n", "")
    cfg = load_run_config(path, pretrained_model=str(tiny_model), log=quiet)
    assert (cfg.ppo_epochs, cfg.ppo_mini_batch_size) == (4, 8)  # rl.py's RLDataConfig


def test_a_reward_model_scores_every_response(rl_config, tiny_model, studio_home):
    said = []
    cfg = load_run_config(
        rl_config, pretrained_model=str(tiny_model), log=said.append, reward_model="max_words"
    )
    assert cfg.reward_model == "max_words"
    train = records(Path(cfg.data) / "train.jsonl")
    assert train and not any("reward" in r for r in train)  # the data's rewards left out
    assert any("scored by the reward model max_words" in m for m in said)


@pytest.mark.parametrize(
    "old, new, needle, message",
    [
        ("kl_coef: 0.1", "kl_coeff: 0.1", "kl_coeff", "did you mean 'kl_coef'"),
        ("ppo_epochs: 2", 'ppo_epochs: "two"', "ppo_epochs", "must be an integer"),
        ("clip_range: 0.2", "clip_range: -0.2", "clip_range", "clip_range"),
        ('reward_field: "reward"', 'reward_fild: "reward"', "reward_fild", "'reward_field'"),
    ],
)
def test_rl_mistakes_are_named_with_their_line(
    rl_config, tiny_model, tmp_path, old, new, needle, message
):
    path = edited(rl_config, tmp_path, old, new)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_run_config(path, pretrained_model=str(tiny_model), log=quiet)
    assert str(err.value).startswith(f"{path}:{line_of(path, needle)}:")


def test_rl_needs_a_pretrained_model_and_only_rl_takes_a_reward(
    rl_config, mlx_pretrain_dir, tiny_model
):
    with pytest.raises(ConfigError, match="an RL config needs .*--pretrained_model.*an SFT run"):
        load_run_config(rl_config, log=quiet)
    with pytest.raises(ConfigError, match="--reward_model scores responses for RL"):
        load_run_config(
            mlx_pretrain_dir / "sft-config.yaml",
            pretrained_model=str(tiny_model),
            reward_model="max_words",
            log=quiet,
        )


def test_pretrained_model_and_reward_model_forms(tiny_model, studio_home, tmp_path):
    runs_dir = studio_home / "runs"
    sft = runs_dir / "my-sft"
    sft.mkdir(parents=True)
    (sft / "adapters.safetensors").write_bytes(b"")
    (sft / "adapter_config.json").write_text("{}")
    assert resolve_policy("my-sft") == sft.resolve()  # RL goes on from an SFT run
    assert resolve_policy("runs/my-sft") == sft.resolve()
    assert resolve_policy(str(tiny_model)) == tiny_model.resolve()
    reward = runs_dir / "judge"
    reward.mkdir()
    (reward / "reward_config.json").write_text("{}")
    assert reward_spec("judge") == f"learned:{reward.resolve()}"
    assert reward_spec("runs/judge") == f"learned:{reward.resolve()}"
    assert reward_spec("max_words") == "max_words"
    assert reward_spec("my_reward.py:Mine") == "my_reward.py:Mine"
    assert reward_spec("learned:judge") == "learned:judge"
