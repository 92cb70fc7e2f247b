"""Does the bundled GRPO demo (resources/configs/grpo_demo.yaml) learn without gaming its
reward? Trains it on the demo model and prints the trained reward, the watched check (a
reward never trained on) on held-out prompts, and the samples; exits 1 when the reward
rose by gaming (the check fell) or did not rise.

    .venv/bin/python benchmarks/grpo_demo_check.py

Not a test: on 2 CPU cores no setting tried so far (see issue 19's note) both raises the
reward and keeps the check; it is here to be run on a faster machine or with more steps.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from mlxstudio.core import paths, runs
from mlxstudio.core.config import load_config
from mlxstudio.core.models.demo import install_demo
from mlxstudio.core.rl.job import run_rl


def main() -> int:
    cfg = load_config(paths.resources_dir() / "configs" / "grpo_demo.yaml")
    data = paths.resources_dir() / "sample_data" / "rl" / "prompts"
    cfg = replace(cfg, model=str(install_demo()), data=str(data))
    result = run_rl(cfg, log=lambda m: None)
    events = list(runs.read_events(result.run_dir))
    train = [e for e in events if e["event"] == "train"]
    val = [e for e in events if e["event"] == "val"]
    rewards = [e["reward_mean"] for e in train]
    first, last = float(np.mean(rewards[:4])), float(np.mean(rewards[-4:]))
    print(f"train reward: first 4 steps {first:.3f}, last 4 {last:.3f}")
    for e in val:
        print(f"held-out at step {e['step']}: reward {e['reward_mean']:.3f} {e['rewards']}")
    for e in events:
        if e["event"] == "sample":
            print(f"sample at step {e['step']}: {e['prompt']!r} -> {e['response']!r}")
    check = [e["rewards"]["check.repetition"] for e in val]
    rose = last > first + 0.05 and val[-1]["reward_mean"] > val[0]["reward_mean"]
    kept = check[-1] >= check[0] - 0.02
    print(f"reward rose: {rose}; watched check kept (no gaming): {kept}")
    return 0 if rose and kept else 1


if __name__ == "__main__":
    sys.exit(main())
