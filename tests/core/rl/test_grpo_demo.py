"""The bundled GRPO demo (resources/configs/grpo_demo.yaml) learns without gaming, with each
GRPO loss: on the real demo model (SmolLM2-135M-Instruct), trained only on the verifiable
math_answer reward, the sampled answers to the training questions and the greedy answers to
held-out arithmetic questions get right more often, while the watched checks (length window,
no repeated word pairs; never trained on) do not fall.

Measured at the config's seed 0 (held-out answers right of 16; train reward first third ->
last third; checks stay at 1.0): grpo 7 -> 9 (0.29 -> 0.67; seed 1 too: 7 -> 9, 0.60 ->
0.81); dapo 7 -> 9 (0.31 -> 0.69, updating on 4 of 12 steps); dr_grpo 7 -> 8 (0.31 ->
0.56); gspo (two updates a step) 7 -> 9 (0.29 -> 0.69). Seed 1: dapo 7 -> 9 (0.60 ->
0.75). Dr. GRPO is the fragile one: at 1e-4 seed 0 stays at 7 while seed 1 gets 10; at
1.5e-4 seed 1 unlearns its arithmetic (7 -> 0, checks still 1.0: only the held-out reward
shows it); at 2e-4 seed 0 drifts to 6. The margins are one or two questions
(benchmarks/grpo_demo_check.py --set seed=1 ... tries).
Slow (each 4 to 8 min on 2 CPU cores shared with other jobs): marked e2e."""

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

# Each variant's settings over the demo config's (measured at seed 0, see the docstring).
# DAPO's dynamic sampling skips the steps whose groups all tie (8 of 12 here), so it takes
# twice the demo's learning rate; its clip-higher is its paper's. Dr. GRPO's advantages are
# not divided by the group's spread and moved less: 1.5x the rate. With one update per batch
# the ratio is 1 where the gradient is taken and a clip never acts, so GSPO updates twice a
# step (mini-batches of 6 answers) with its paper's sequence-level clip (3e-4 / 4e-4): it
# clips up to half the second update's answers, and gets 7 -> 9 held-out, 0.29 -> 0.69.
VARIANTS: dict[str, dict] = {
    "grpo": {},
    "dapo": {"learning_rate": 1e-4, "clip_range_high": 0.28},
    "dr_grpo": {"learning_rate": 1.5e-4},
    "gspo": {"ppo_mini_batch_size": 6, "clip_range": 3e-4, "clip_range_high": 4e-4},
}


@pytest.mark.parametrize("loss", list(VARIANTS))
def test_grpo_demo_gets_more_answers_right_without_gaming(loss):
    cfg = load_config(paths.resources_dir() / "configs" / "grpo_demo.yaml")
    data = paths.resources_dir() / "sample_data" / "rl" / "math"
    # validate only before and after training; the samples are the benchmark's to show
    cfg = replace(
        cfg,
        model=str(install_demo()),
        data=str(data),
        steps_per_eval=cfg.iters,
        sample_prompts=None,
        grpo_loss=loss,
        **VARIANTS[loss],
    )
    result = run_rl(cfg, log=lambda m: None)
    assert result.status == "completed"
    events = list(runs.read_events(result.run_dir))
    train = [e for e in events if e["event"] == "train"]
    before, after = [e for e in events if e["event"] == "val"]
    rewards = [e["reward_mean"] for e in train]
    n = len(rewards) // 3
    first, last = float(np.mean(rewards[:n])), float(np.mean(rewards[-n:]))
    print(f"{loss} train reward {[round(r, 3) for r in rewards]}: {first:.3f} -> {last:.3f}")
    print(f"held-out before {before['rewards']}\nheld-out after {after['rewards']}")
    assert all(math.isfinite(e["kl"]) for e in train)
    if loss == "dapo":  # dynamic sampling left groups to learn from on some steps
        assert any(e["kept_groups"] > 0 for e in train)
    if loss == "gspo":  # the sequence-level clip acted on the second update of a step
        assert any(e["clip_fraction"] > 0 for e in train)
    assert last > first + 0.2  # more sampled answers right on the training questions
    # and more greedy answers right on questions it never trained on
    assert after["rewards"]["reward.math_answer"] > before["rewards"]["reward.math_answer"]
    for check in ("check.length_window", "check.repetition"):  # no rambling, no loops
        assert after["rewards"][check] >= before["rewards"][check] - 0.02, check
