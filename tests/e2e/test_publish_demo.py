"""The demo model end to end through the ecosystem's tools: a run logged to TensorBoard and
W&B (offline), then published to a local hub that answers like the Hugging Face Hub, pulled
back and loaded by mlx-lm."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from tb_events import read_scalars

from mlxstudio.core import paths, runs
from mlxstudio.core.config import RunConfig
from mlxstudio.core.models.demo import install_demo
from mlxstudio.core.train.sft import run_sft

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "models"))
from hubserver import start_hub  # noqa: E402

pytestmark = pytest.mark.e2e


def test_demo_run_tracked_then_published(tmp_path, monkeypatch, studio_home):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("wandb")
    from huggingface_hub import constants
    from mlx_lm import generate, load

    from mlxstudio.core.models.download import download
    from mlxstudio.core.push import push

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no W&B login: offline
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    model = install_demo()
    cfg = RunConfig(
        model=str(model),
        data=str(paths.resources_dir() / "sample_data"),
        name="demo-published",
        num_layers=4,
        iters=8,
        batch_size=2,
        learning_rate=2e-4,
        steps_per_report=2,
        steps_per_eval=4,
        val_batches=2,
        save_every=8,
        max_seq_length=128,
        mask_prompt=True,
        report_to="tensorboard,wandb",
        eval_after_run=False,  # the evaluation's card section: tests/core/models/test_push.py
    )
    result = run_sft(cfg, log=lambda _m: None)
    assert result.status == "completed"
    scalars = read_scalars(result.run_dir / "tensorboard")
    trains = [e for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    assert [s for s, _ in scalars["train/train_loss"]] == [e["step"] for e in trains]
    assert [s for s, _ in scalars["val/val_loss"]] == [0, 4, 8]
    assert list((result.run_dir / "wandb").glob("offline-run-*/run-*.wandb"))

    state, stop = start_hub(tmp_path / "hub", monkeypatch)
    try:
        state.tokens = {"hf_demo": "demo-user"}
        monkeypatch.setenv("HF_TOKEN", "hf_demo")
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        url = push(result.run_dir, "demo-user/smollm2-sums", private=True)
        assert url.endswith("/demo-user/smollm2-sums")
        repo = state.root / "demo-user" / "smollm2-sums"
        card = (repo / "README.md").read_text()
        meta = yaml.safe_load(card.split("---\n")[1])
        assert meta["library_name"] == "mlx" and "license" in meta
        first, last = result.first_val_loss, result.last_val_loss
        assert f"| Validation loss | {first:.4g} | {last:.4g} |" in card
        assert "`SmolLM2-135M-Instruct`" in card
        back = download("demo-user/smollm2-sums", out=studio_home / "published")
    finally:
        stop()
    published, tokenizer = load(str(back))
    assert generate(published, tokenizer, "The capital of France is", max_tokens=4)
