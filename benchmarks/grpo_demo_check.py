"""Does the bundled GRPO demo (resources/configs/grpo_demo.yaml) learn without gaming its
reward? Trains it on the demo model (arithmetic questions, rewarded only for the right
number) and prints the trained reward first to last, the held-out exact-answer rate and the
watched checks (rewards never trained on) at each validation, and the samples. Exits 0 only
when the reward rose on both the training and the held-out questions and no check fell.

    .venv/bin/python benchmarks/grpo_demo_check.py [--set seed=1 --set grpo_loss=dapo]

On 2 CPU cores (4 to 5 min; more when other jobs share them) seeds 0 and 1 both pass:
held-out 0.438 -> 0.562 (7 -> 9 of 16), checks held at 1.0, the KL to the start under 0.7.
tests/core/rl/test_grpo_demo.py has each loss variant's settings and figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np
import yaml

from mlxstudio.core import paths, runs
from mlxstudio.core.config import load_config
from mlxstudio.core.models.demo import install_demo
from mlxstudio.core.rl.job import run_rl

TOLERANCE = 0.02  # a check may wobble this much and still count as held


def value(text: str):
    """A --set value as YAML reads it, and 1e-4 as a number (YAML 1.1 reads a string)."""
    try:
        return float(text) if "e" in text.lower() else yaml.safe_load(text)
    except ValueError:
        return yaml.safe_load(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE (YAML value)")
    args = parser.parse_args()
    cfg = load_config(paths.resources_dir() / "configs" / "grpo_demo.yaml")
    data = paths.resources_dir() / "sample_data" / "rl" / "math"
    overrides = {k: value(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = replace(cfg, model=str(install_demo()), data=str(data), **overrides)
    tic = time.perf_counter()
    result = run_rl(cfg, log=lambda m: None)
    wall = time.perf_counter() - tic
    events = list(runs.read_events(result.run_dir))
    train = [e for e in events if e["event"] == "train"]
    val = [e for e in events if e["event"] == "val"]
    rewards = [e["reward_mean"] for e in train]
    n = max(1, len(rewards) // 3)
    first, last = float(np.mean(rewards[:n])), float(np.mean(rewards[-n:]))
    print(f"train reward per step: {[round(r, 3) for r in rewards]}")
    print(f"train reward: first {n} steps {first:.3f}, last {n} {last:.3f}")
    print(f"KL to the start per step: {[round(e['kl'], 3) for e in train]}")
    if cfg.grpo_loss == "dapo":  # dynamic sampling: the share of responses trained on
        print(f"kept groups per step: {[e['kept_groups'] for e in train]}")
    for e in val:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in e["rewards"].items())
        print(f"held-out at step {e['step']}: exact-answer rate {e['reward_mean']:.3f} ({parts})")
    for e in events:
        if e["event"] == "sample":
            print(f"sample at step {e['step']}: {e['prompt']!r} -> {e['response']!r}")
    checks = [k for k in val[0]["rewards"] if k.startswith("check.")]
    rose = last > first and val[-1]["reward_mean"] > val[0]["reward_mean"]
    kept = all(val[-1]["rewards"][k] >= val[0]["rewards"][k] - TOLERANCE for k in checks)
    print(f"reward rose: {rose}; watched checks held (no gaming): {kept}")
    print(f"{cfg.grpo_loss}, seed {cfg.seed}, {cfg.iters} steps: {wall:.0f} s")
    return 0 if rose and kept else 1


if __name__ == "__main__":
    sys.exit(main())
