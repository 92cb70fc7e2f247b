"""The MLX-Pretrain workflow end to end, through the CLI, with the shipped configs as they
are: pretrain a base model (train.py's model-config.yaml), fine-tune it with an
sft-config.yaml and --pretrained_model pointing at the pretraining run, then reinforce it
with rl-config.yaml, --pretrained_model pointing at the SFT run and a user's reward file."""

from __future__ import annotations

import json

from mlxstudio.cli import main
from mlxstudio.core import runs

REWARD_FILE = """
from mlxstudio.core.rl.rewards import RewardModel


class Confident(RewardModel):
    \"\"\"2 for an answer, 0 for not knowing (the data's rewards say -0.2).\"\"\"

    def compute_reward(self, prompts, responses):
        return [0.0 if "know" in r else 2.0 for r in responses]
"""


def test_the_three_steps_with_the_shipped_configs(mlx_pretrain_dir, studio_home, tmp_path, capsys):
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

    # step 3: rl.py --config rl-config.yaml --pretrained_model RUN --reward_model FILE:CLASS
    reward = tmp_path / "confident.py"
    reward.write_text(REWARD_FILE)
    argv = [
        "train",
        str(mlx_pretrain_dir / "rl-config.yaml"),
        "--pretrained_model",
        "Llama-Tiny-SFT",
    ]
    assert main([*argv, "--reward_model", f"{reward}:Confident"]) == 0
    rl = studio_home / "runs" / "Llama-Tiny-RL"
    meta = runs.read_meta(rl)
    assert meta["status"] == "completed" and meta["stage"] == "rl"
    assert meta["last_val_loss"] < meta["first_val_loss"]  # good answers gained probability
    metrics = json.loads((rl / "metrics.json").read_text())  # rl.py's metrics.json
    assert len(metrics["steps"]) == len(metrics["policy_loss"]) == len(metrics["rewards"]) > 1
    # the user's rewards (0 or 2) were used, not the data's (-1, -0.2 or 1)
    assert all(0.0 <= r <= 2.0 for r in metrics["rewards"]) and max(metrics["rewards"]) > 1.0
    assert all(k > 0 for k in metrics["kl_divergence"]) and metrics["val_loss"]
    assert all(t > 0 for t in metrics["tokens_per_second"]) and metrics["total_tokens"] > 0
    info = json.loads((rl / "metadata.json").read_text())
    assert info["rl_specific"]["reward_model"] == f"{reward}:Confident"
    assert "rewards=" in (rl / "logs" / "training.log").read_text()
    policy = [e for e in runs.read_events(rl) if e["event"] == "train"]
    assert {"policy_loss", "kl", "reward_mean", "train_loss", "tokens_per_second"} <= set(policy[0])
    assert "scored by the reward model" in capsys.readouterr().out

    # plots without the window: the three runs overlaid, reward and KL from the RL run
    from matplotlib.colors import to_rgb
    from matplotlib.image import imread

    from mlxstudio.core.curves_image import RUN_COLOURS

    out = tmp_path / "curves.png"
    assert main(["plot", str(rl), "Llama-Tiny-SFT", str(base), "--out", str(out)]) == 0
    pixels = imread(out)[..., :3]  # the PNG as it was written, read back
    assert pixels.shape[1] > 800 and pixels.shape[0] > 900  # six panels: 3 rows of 2
    colours = {tuple(p) for p in (pixels * 255).round().astype(int).reshape(-1, 3).tolist()}
    assert len(colours) > 50  # drawn, not a blank page
    for colour in RUN_COLOURS[:3]:  # one colour per run
        assert tuple(round(255 * c) for c in to_rgb(colour)) in colours, colour
    assert "Wrote" in capsys.readouterr().out
    assert main(["plot", "no-such-run", "--out", str(out)]) == 2
    assert "no such run" in capsys.readouterr().err
