"""A tiny trained run whose data has a test split, for the evaluation tests (core and GUI)."""

from __future__ import annotations

import json
from pathlib import Path

from tiny_model import build_tiny_llama


def write_sums(folder: Path) -> Path:
    """train/valid/test splits of the same learnable pattern (mlx-lm's layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, numbers in (("train", range(24)), ("valid", range(24, 30)), ("test", range(30, 34))):
        with (folder / f"{name}.jsonl").open("w") as fh:
            for i in numbers:
                msgs = [
                    {"role": "user", "content": f"What is {i} plus {i}?"},
                    {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
                ]
                fh.write(json.dumps({"messages": msgs}) + "\n")
    return folder


def make_tiny_run(root: Path) -> Path:
    """Train the tiny llama briefly on the sums; the run is evaluated as it ends."""
    from mlxstudio.core.config import RunConfig
    from mlxstudio.core.train.sft import run_sft

    model = build_tiny_llama(root / "tiny-llama")
    data = write_sums(root / "data")
    cfg = RunConfig(
        model=str(model),
        data=str(data),
        adapter_path=str(root / "run"),
        iters=16,
        batch_size=4,
        num_layers=2,
        learning_rate=5e-3,
        steps_per_report=4,
        steps_per_eval=8,
        save_every=8,
        val_batches=-1,
        max_seq_length=128,
        mask_prompt=True,
    )
    result = run_sft(cfg, log=lambda _m: None)
    assert result.status == "completed"
    return result.run_dir
