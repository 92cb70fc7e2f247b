"""GRPO learns on the real demo model (SmolLM2-135M-Instruct) with a verifiable reward:
answers of at most 10 words. Slow (a few minutes on 2 CPU cores): marked e2e."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rl_helpers import write_jsonl

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig
from mlxstudio.core.models.demo import install_demo
from mlxstudio.core.rl.job import run_rl

pytestmark = pytest.mark.e2e

PROMPTS = [
    "Tell me about dogs.",
    "Why is the sky blue?",
    "What is machine learning?",
    "Describe the ocean.",
    "How do plants grow?",
    "What is a computer?",
    "Tell me about Paris.",
    "Why do we sleep?",
    "What is music?",
    "Describe a forest.",
    "How does rain form?",
    "What is the moon?",
]


def test_grpo_learns_short_answers(tmp_path):
    model = install_demo()
    data = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in PROMPTS])
    cfg = RunConfig(
        model=str(model),
        data=str(data),
        stage="grpo",
        name="grpo-demo",
        reward_model="max_words",
        reward_kwargs={"max_words": 10},
        iters=12,
        batch_size=2,
        group_size=4,
        max_new_tokens=24,
        learning_rate=3e-4,
        num_layers=8,
        ppo_epochs=1,
        kl_coef=0.05,
        steps_per_report=1,
        steps_per_eval=1000,
        save_every=1000,
        max_seq_length=128,
    )
    result = run_rl(cfg, log=lambda m: None)
    assert result.status == "completed"
    train = [e for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    rewards = [e["reward_mean"] for e in train]
    first, last = float(np.mean(rewards[:4])), float(np.mean(rewards[-4:]))
    print(f"reward first 4 steps {first:.3f}, last 4 steps {last:.3f}; per step {rewards}")
    print("kl per step", [round(e["kl"], 4) for e in train])
    assert last > first + 0.1
    assert all(math.isfinite(e["kl"]) for e in train)
    from mlxstudio.core.generate import answer, load_for_inference

    policy, tokenizer = load_for_inference(model, result.run_dir)
    said = [answer(policy, tokenizer, q, max_tokens=24) for q in PROMPTS[:3]]
    print("greedy answers after training", said)
    assert all(any(c.isalpha() for c in s) for s in said)  # real words, not symbol strings
