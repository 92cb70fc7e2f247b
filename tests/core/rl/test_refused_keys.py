"""Keys of fine-tuning that the RL and reward stages do not honour are refused, with the
reason, before a run directory exists (never accepted and ignored)."""

from __future__ import annotations

import pytest

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.job import run_rl
from mlxstudio.core.rl.reward_train import run_reward


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [("grad_accumulation_steps", 2, "updates once per batch"), ("packing", True, "packing")],
)
def test_rl_stages_refuse_what_they_cannot_honour(make_rl_config, pref_data, key, value, words):
    for run, stage in ((run_rl, "dpo"), (run_reward, "reward")):
        cfg = make_rl_config(pref_data, stage, name=f"refused-{stage}", **{key: value})
        with pytest.raises(UserError, match=words):
            run(cfg, log=lambda m: None)
    runs_dir = paths.runs_dir()  # refused before any run directory exists
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
