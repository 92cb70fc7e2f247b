"""The MLX-Pretrain workflow end to end, through the CLI, with the shipped configs as they
are: pretrain a base model (train.py's model-config.yaml), then fine-tune it with an
sft-config.yaml and --pretrained_model pointing at the pretraining run."""

from __future__ import annotations

import json

from mlxstudio.cli import main
from mlxstudio.core import runs


def test_pretrain_then_sft_with_the_shipped_configs(mlx_pretrain_dir, studio_home, capsys):
    from mlx_lm import generate, load

    assert main(["train", str(mlx_pretrain_dir / "model-config.yaml")]) == 0
    base = studio_home / "runs" / "Llama-Tiny"
    meta = runs.read_meta(base)
    assert meta["status"] == "completed" and meta["stage"] == "pretrain"
    assert meta["last_val_loss"] < 0.6 * meta["first_val_loss"]  # it learned the text
    # MLX-Pretrain's run files: metadata.json with checkpoints and validation, log.txt
    info = json.loads((base / "metadata.json").read_text())
    total = info["training_info"]["total_steps"]
    assert [c["step"] for c in info["checkpoints"]] == [s for s in (16, 32) if s < total] + [total]
    assert info["validation"]["steps"][0] == 0 and info["status"] == "completed"
    log = (base / "log.txt").read_text()
    assert "Initial validation loss" in log and f"Step {total} validation: val_loss=" in log

    assert (
        main(["train", str(mlx_pretrain_dir / "sft-config.yaml"), "--pretrained_model", str(base)])
        == 0
    )
    sft = studio_home / "runs" / "Llama-Tiny-SFT"
    meta = runs.read_meta(sft)
    assert meta["status"] == "completed" and meta["model"] == str(base)
    assert meta["last_val_loss"] < meta["first_val_loss"]
    info = json.loads((sft / "metadata.json").read_text())
    assert info["pretrained_model"] == str(base)
    assert [c["step"] for c in info["checkpoints"]] == [6, 12, 18]  # checkpoint_interval: 6
    assert all((sft / c["paths"]["model"]).is_file() for c in info["checkpoints"])
    assert "Training completed" in (sft / "logs" / "training.log").read_text()
    out = capsys.readouterr().out
    assert "Read but not used by MLX Studio" in out  # informational keys are reported

    # the fine-tuned weights load on the base model as mlx-lm adapters (full fine-tune)
    model, tokenizer = load(str(base), adapter_path=str(sft))
    prompt = (
        "You are a helpful, harmless, and honest AI assistant.\n"
        "### Instruction:\nWhat is the capital of Spain?\n\n### Response:"
    )
    assert isinstance(generate(model, tokenizer, prompt, max_tokens=8), str)
