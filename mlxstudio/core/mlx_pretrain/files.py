"""MLX-Pretrain's own run files, beside ours, for scripts written against its layout:

  metadata.json        name, created_at, config (model/training/system), training_info,
                       tokenizer, sft_specific, pretrained_model, checkpoints, validation
  log.txt              the training log (logs/training.log for SFT and RL, as sft.py writes it)
  metrics.json         RL: rl.py's metrics (train_loss, val_loss, rewards, kl_divergence,
                       policy_loss, steps, tokens_per_second, learning_rate, total_tokens)
  mlx_pretrain_config.yaml   the config file as given

Both are rebuilt from metrics.jsonl when a job ends (a resumed run's too). config.yaml
stays our resolved RunConfig: `mlxstudio train --resume` reads it.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig, Stage

SOURCE = "mlx_pretrain_config.yaml"
METADATA = "metadata.json"
RL_METRICS = "metrics.json"


def _iso(timestamp: float | None = None) -> str:
    return (datetime.fromtimestamp(timestamp) if timestamp else datetime.now()).isoformat()


def write_metadata(
    run_dir: Path, raw: dict, cfg: RunConfig, steps_per_epoch: int, pretrained: str | None
) -> None:
    """metadata.json as train.py / sft.py write it before training."""
    epochs = (raw.get("training") or {}).get("epochs")
    meta: dict = {
        "name": cfg.name,
        "created_at": _iso(),
        "config": {k: raw.get(k) for k in ("model", "training", "system")},
        "training_info": {
            "steps_per_epoch": steps_per_epoch,
            "total_steps": cfg.iters,
            "epochs": epochs,
        },
    }
    if cfg.stage in (Stage.SFT, Stage.RL):
        data = raw.get("data") or {}
        keys = ("prompt_format", "response_format", "system_prompt")
        meta[f"{cfg.stage}_specific"] = {k: data.get(k) for k in keys}
        meta["tokenizer"] = {"type": "pretrained model's", "path": cfg.model}
        meta["pretrained_model"] = str(pretrained)
    if cfg.stage == Stage.RL:
        keys = ("ppo_epochs", "ppo_mini_batch_size", "kl_coef", "clip_range", "reward_model")
        meta["rl_specific"].update({k: getattr(cfg, k) for k in keys})
    elif cfg.tokenizer:
        meta["tokenizer"] = {"type": "external", "path": cfg.tokenizer}
    else:
        meta["tokenizer"] = {"type": "byte-level BPE", "path": str(run_dir / "tokenizer")}
    runs.write_json_atomic(run_dir / METADATA, meta)


def _last_per_step(events: list[dict], kind: str) -> dict[int, dict]:
    """For each step, the event written last (a resumed run trains some steps again)."""
    return {e["step"]: e for e in events if e["event"] == kind}


def _log_lines(events: list[dict], meta: dict, status: str) -> list[str]:
    info = meta.get("training_info", {})
    start = next((e for e in events if e["event"] == "start"), None)
    lines = [f"Training started at {_iso(start['time'] if start else None)}"]
    lines.append(f"Total steps: {info.get('total_steps')}")
    if info.get("epochs"):
        lines.append(
            f"Training for {info['epochs']} epochs with {info['steps_per_epoch']} steps per epoch"
        )
    lines += ["=" * 50, ""]
    rl = "rl_specific" in meta  # rl.py logs rewards, policy loss and KL; no perplexity

    def ppl(v: float, name: str = "ppl", sep: str = " (") -> str:
        return "" if rl else f"{sep}{name}={math.exp(min(v, 50)):.2f}" + ")" * (sep == " (")

    vals = _last_per_step(events, "val")
    if 0 in vals:
        v = vals[0]["val_loss"]
        lines += [f"Initial validation loss: {v:.4e}{ppl(v)}", ""]
    tokens = 0
    for step, e in sorted(_last_per_step(events, "train").items()):
        tokens, loss = e["trained_tokens"], e["train_loss"]
        middle = (
            f" | rewards={e['reward_mean']:.3f} | policy_loss={e['policy_loss']:.3e}"
            f" | kl_div={e['kl']:.3e}"
            if "reward_mean" in e
            else ppl(loss, sep=" | ")
        )
        lines.append(
            f"Step {step}: loss={loss:.3e}{middle}"
            f" | tok/s={e['tokens_per_second'] / 1000:.2f}K | toks={tokens}"
            f" | lr={e['learning_rate']:.3e}"
        )
        if step in vals and step:
            v = vals[step]["val_loss"]
            lines.append(f"Step {step} validation: val_loss={v:.3e}{ppl(v, 'val_ppl', ' | ')}")
    end = events[-1]["time"] if events else None
    lines += ["", "=" * 50, f"Training {status} at {_iso(end)}"]
    if vals and max(vals):
        v = vals[max(vals)]["val_loss"]
        lines.append(f"Final validation loss: {v:.4e}{ppl(v)}")
    lines.append(f"Total tokens processed: {tokens / 1000:.2f}K")
    return lines


def export_run_files(run_dir: Path | str | None) -> None:
    """Bring metadata.json and the log up to date; nothing for a run not started from an
    MLX-Pretrain config."""
    if run_dir is None or not (Path(run_dir) / SOURCE).is_file():
        return
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / METADATA).read_text(encoding="utf-8"))
    events = list(runs.read_events(run_dir))
    run = runs.read_meta(run_dir)
    meta["checkpoints"] = []
    for step, e in sorted(_last_per_step(events, "checkpoint").items()):
        folder = f"checkpoints/{Path(e['path']).name}"
        entry = {"step": step, "timestamp": _iso(e["time"]), "path": folder}
        entry["paths"] = {
            "model": f"{folder}/adapters.safetensors",
            "optimizer": f"{folder}/optimizer.safetensors",
            "state": f"{folder}/state.json",
        }
        if e.get("val_loss") is not None:
            entry["validation_loss"] = e["val_loss"]
        meta["checkpoints"].append(entry)
    vals = sorted(_last_per_step(events, "val").items())
    meta["validation"] = {"steps": [s for s, _ in vals], "losses": [e["val_loss"] for _, e in vals]}
    status = run.get("status", "unknown")
    meta["status"] = status
    runs.write_json_atomic(run_dir / METADATA, meta)
    log = run_dir / ("log.txt" if run.get("stage") == Stage.PRETRAIN else "logs/training.log")
    log.parent.mkdir(exist_ok=True)
    log.write_text("\n".join(_log_lines(events, meta, status)) + "\n", encoding="utf-8")
    if run.get("stage") == Stage.RL:
        runs.write_json_atomic(run_dir / RL_METRICS, rl_metrics(events))


def rl_metrics(events: list[dict]) -> dict:
    """rl.py's metrics.json: one entry per report in each list, as rl.py appends them."""
    trains = [e for _, e in sorted(_last_per_step(events, "train").items())]
    vals = [e for step, e in sorted(_last_per_step(events, "val").items()) if step]
    return {
        "train_loss": [e["train_loss"] for e in trains],
        "val_loss": [e["val_loss"] for e in vals],
        "rewards": [e.get("reward_mean", 0.0) for e in trains],
        "kl_divergence": [e.get("kl", 0.0) for e in trains],
        "policy_loss": [e.get("policy_loss", 0.0) for e in trains],
        "value_loss": [],  # rl.py lists it; PPO here has no value head
        "steps": [e["step"] for e in trains],
        "tokens_per_second": [e["tokens_per_second"] for e in trains],
        "learning_rate": [e["learning_rate"] for e in trains],
        "total_tokens": trains[-1]["trained_tokens"] if trains else 0,
    }
