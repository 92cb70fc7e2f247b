"""RL data and configs for the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

from mlxstudio.core.config import RunConfig

COLOURS = ["red", "blue", "green", "brown", "black", "white", "grey", "pink"]
ANIMALS = ["fox", "dog", "cat", "bird", "cow", "pig", "horse", "sheep", "goat", "duck"]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def preference_records(animals: list[str]) -> list[dict]:
    """Chosen answers name the animal 'quick'; rejected ones 'lazy': one rule to learn."""
    return [
        {
            "prompt": f"Describe the {c} {a}.",
            "chosen": f"The quick {c} {a}.",
            "rejected": f"The lazy {c} {a}.",
        }
        for a in animals
        for c in COLOURS[:4]
    ]


def scored_records(animals: list[str]) -> list[dict]:
    """Responses about Paris score high, about the dog low, whatever the question."""
    out = []
    for a in animals:
        for c in COLOURS[:3]:
            q = f"Tell me about the {c} {a}."
            out.append(
                {"instruction": q, "response": "The capital of France is Paris.", "reward": 1.0}
            )
            out.append({"instruction": q, "response": "The lazy dog.", "reward": -0.5})
    return out


def rl_config(model, data, stage: str, **overrides) -> RunConfig:
    values = dict(
        model=str(model),
        data=str(data),
        stage=stage,
        name=f"tiny-{stage}",
        iters=10,
        batch_size=4,
        num_layers=2,
        learning_rate=3e-3,
        steps_per_report=2,
        steps_per_eval=5,
        save_every=5,
        val_batches=-1,
        max_seq_length=64,
    )
    values.update(overrides)
    return RunConfig(**values)
