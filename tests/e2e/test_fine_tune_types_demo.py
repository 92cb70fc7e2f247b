"""DoRA and full fine-tuning on the real demo model: they train, and mlx-lm loads the result."""

from __future__ import annotations

import math

import pytest

from mlxstudio.core import paths, runs
from mlxstudio.core.config import RunConfig
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.convert import convert
from mlxstudio.core.models.demo import install_demo
from mlxstudio.core.train.sft import run_sft

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("method, lr", [("dora", 2e-4), ("full", 1e-5)])
def test_demo_model_trains(method, lr, tmp_path):
    from mlx_lm import generate, load

    model = install_demo()
    if method == "full":  # full fine-tuning needs an unquantized base: convert the 4-bit demo
        with pytest.raises(UserError, match="needs an unquantized base"):
            run_sft(RunConfig(model=str(model), data="unused", fine_tune_type="full"))
        model = convert(model, tmp_path / "demo-f16", dtype="float16")
    cfg = RunConfig(
        model=str(model),
        data=str(paths.resources_dir() / "sample_data"),
        name=f"demo-{method}",
        fine_tune_type=method,
        num_layers=2,
        iters=6,
        batch_size=2,
        learning_rate=lr,
        steps_per_report=2,
        steps_per_eval=6,
        val_batches=2,
        save_every=6,
        max_seq_length=128,
        mask_prompt=True,
        eval_after_run=False,  # the fine-tune type is on trial here, not the evaluation
    )
    result = run_sft(cfg, log=lambda _m: None)
    assert result.status == "completed"
    train = [e for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    assert len(train) == 3 and all(math.isfinite(e["train_loss"]) for e in train)
    assert result.last_val_loss < result.first_val_loss
    m, tokenizer = load(str(model), adapter_path=str(result.run_dir))
    assert generate(m, tokenizer, "The capital of France is", max_tokens=4)
