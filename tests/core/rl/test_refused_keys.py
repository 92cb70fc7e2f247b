"""Keys of fine-tuning that the RL and reward stages do not honour are refused, with the
reason, before a run directory exists (never accepted and ignored)."""

from __future__ import annotations

import pytest

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.job import run_rl
from mlxstudio.core.rl.reward_train import run_reward


def test_rl_stages_refuse_what_they_cannot_honour(
    make_rl_config, pref_data, scored_data, prompt_data
):
    for run, stage in ((run_rl, "dpo"), (run_reward, "reward")):
        cfg = make_rl_config(pref_data, stage, name=f"refused-{stage}", packing=True)
        with pytest.raises(UserError, match="packing"):
            run(cfg, log=lambda m: None)
    # PPO and GRPO update per mini-batch: accumulation is dpo's and reward's only
    for data, stage in ((scored_data, "rl"), (prompt_data, "grpo")):
        cfg = make_rl_config(
            data, stage, reward_model="max_words", grad_accumulation_steps=2, name="refused"
        )
        with pytest.raises(UserError, match="updates per ppo_mini_batch_size"):
            run_rl(cfg, log=lambda m: None)
    runs_dir = paths.runs_dir()  # refused before any run directory exists
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
