"""The bundled GRPO demo (resources/configs/grpo_demo.yaml) learns on the real demo model
(SmolLM2-135M-Instruct) without gaming its reward: the trained reward (length window +
non-repetition) rises while the watched check (relevance, never trained on) does not fall on
the held-out prompts, and the samples stay real sentences. Slow on 2 CPU cores: marked e2e."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mlxstudio.core import paths, runs
from mlxstudio.core.config import load_config
from mlxstudio.core.models.demo import install_demo
from mlxstudio.core.rl.job import run_rl
from mlxstudio.core.rl.rewards import load_reward_model, score

pytestmark = pytest.mark.e2e


def test_grpo_demo_raises_its_reward_without_gaming_it():
    cfg = load_config(paths.resources_dir() / "configs" / "grpo_demo.yaml")
    data = paths.resources_dir() / "sample_data" / "rl" / "prompts"
    cfg = replace(cfg, model=str(install_demo()), data=str(data))
    result = run_rl(cfg, log=lambda m: None)
    assert result.status == "completed"
    events = list(runs.read_events(result.run_dir))
    train = [e for e in events if e["event"] == "train"]
    val = [e for e in events if e["event"] == "val"]
    samples = [e for e in events if e["event"] == "sample"]
    rewards = [e["reward_mean"] for e in train]
    first, last = float(np.mean(rewards[:4])), float(np.mean(rewards[-4:]))
    print(f"train reward: first 4 steps {first:.3f}, last 4 {last:.3f}; per step {rewards}")
    for e in val:
        print("held-out at step", e["step"], e["reward_mean"], e["rewards"])
    for e in samples:
        print("sample at step", e["step"], repr(e["prompt"]), "->", repr(e["response"]))
    assert last > first + 0.05  # the trained reward rises
    assert val[-1]["reward_mean"] > val[0]["reward_mean"]  # on held-out prompts too
    check = [e["rewards"]["check.relevance"] for e in val]
    assert check[-1] >= check[0] - 0.02  # the watched check does not fall: no gaming
    assert all("check.relevance" in e["rewards"] for e in train)
    final = [e["response"] for e in samples if e["step"] == cfg.iters]
    assert len(final) == len(cfg.sample_prompts)
    repetition = load_reward_model("repetition")
    assert min(score(repetition, cfg.sample_prompts, final)) >= 0.6
    assert all(len(s.split()) >= 4 for s in final)  # sentences, not "Dogs. Dogs."
