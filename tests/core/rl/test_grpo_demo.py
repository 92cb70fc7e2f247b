"""The bundled GRPO demo (resources/configs/grpo_demo.yaml) learns without gaming: on the
real demo model (SmolLM2-135M-Instruct), trained only on the verifiable math_answer reward,
the exact-answer rate on held-out arithmetic questions rises while the watched checks
(length window, no repeated word pairs; never trained on) do not fall. The margin is one
question of 16 (7 -> 8) at the config's seed 0; another seed may not learn in 12 steps.
Slow (5 min on 2 CPU cores shared with other jobs): marked e2e."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mlxstudio.core import paths, runs
from mlxstudio.core.config import load_config
from mlxstudio.core.models.demo import install_demo
from mlxstudio.core.rl.job import run_rl

pytestmark = pytest.mark.e2e


def test_grpo_demo_gets_more_answers_right_without_gaming(tmp_path):
    cfg = load_config(paths.resources_dir() / "configs" / "grpo_demo.yaml")
    data = paths.resources_dir() / "sample_data" / "rl" / "math"
    # validate only before and after training; the samples are the benchmark's to show
    cfg = replace(
        cfg,
        model=str(install_demo()),
        data=str(data),
        steps_per_eval=cfg.iters,
        sample_prompts=None,
    )
    result = run_rl(cfg, log=lambda m: None)
    assert result.status == "completed"
    events = list(runs.read_events(result.run_dir))
    train = [e for e in events if e["event"] == "train"]
    before, after = [e for e in events if e["event"] == "val"]
    rewards = [e["reward_mean"] for e in train]
    n = len(rewards) // 3
    first, last = float(np.mean(rewards[:n])), float(np.mean(rewards[-n:]))
    print(f"train reward per step {[round(r, 3) for r in rewards]}: {first:.3f} -> {last:.3f}")
    print(f"held-out before {before['rewards']}\nheld-out after {after['rewards']}")
    assert all(math.isfinite(e["kl"]) for e in train)
    assert last > first + 0.2  # more sampled answers right on the training questions
    # and more greedy answers right on questions it never trained on
    assert after["rewards"]["reward.math_answer"] > before["rewards"]["reward.math_answer"]
    for check in ("check.length_window", "check.repetition"):  # no rambling, no loops
        assert after["rewards"][check] >= before["rewards"][check] - 0.02, check
