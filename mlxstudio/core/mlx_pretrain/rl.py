"""MLX-Pretrain's rl-config.yaml: `rl.py --config C --pretrained_model RUN [--reward_model R]`
becomes `mlxstudio train C --pretrained_model RUN [--reward_model R]`, stage rl (offline
PPO on the scored data; see core/rl/ppo.py). Beyond what sft-config.yaml maps:

  data.reward_field                   the reward of each record (converted as `reward`)
  data.ppo_epochs, ppo_mini_batch_size, kl_coef, clip_range
                                      the same keys (rl.py's defaults when left out)
  --pretrained_model                  an SFT run (its weights), a pretraining run, or a
                                      model folder
  --reward_model                      path/to/file.py[:Class] (a RewardModel subclass),
                                      learned:RUN or a reward run's folder or name, or a
                                      built-in: it scores every response, and the data's
                                      rewards are not used

rl.py samples new responses and compares their reward with the data's; MLX Studio learns
from the data's own responses (their rewards, or the reward model's scores of them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from mlxstudio.core.config import RunConfig, Stage
from mlxstudio.core.mlx_pretrain.schema import Source, run_candidates
from mlxstudio.core.rl.rewards import BUILTINS, split_spec

# rl.py's RLDataConfig defaults, used when the config leaves a key out
RL_DEFAULTS = {"ppo_epochs": 4, "ppo_mini_batch_size": 8, "kl_coef": 0.1, "clip_range": 0.2}
REWARD_CONFIG = "reward_config.json"  # what marks a run of stage reward


def is_rl(src: Source) -> bool:
    data = src.get("data") or {}
    return any(k in data for k in ("reward_field", *RL_DEFAULTS))


def rl_settings(src: Source) -> tuple[dict, dict[str, int]]:
    """RunConfig values (and their source lines) of the PPO keys in `data:`."""
    values = {k: src.get(f"data.{k}", default) for k, default in RL_DEFAULTS.items()}
    lines = {k: src.lines[f"data.{k}"] for k in RL_DEFAULTS if f"data.{k}" in src.lines}
    return values, lines


def updates_per_step(cfg: RunConfig) -> int:
    """Optimizer updates in one training step: 1, or PPO's ppo_epochs x mini-batches (the
    learning-rate schedule counts updates, so its length is iters x this)."""
    if cfg.stage != Stage.RL:
        return 1
    mini = min(cfg.ppo_mini_batch_size or cfg.batch_size, cfg.batch_size)
    return cfg.ppo_epochs * math.ceil(cfg.batch_size / mini)


def reward_spec(spec: str) -> str:
    """--reward_model as the RL job reads it: a reward run named as MLX-Pretrain names runs
    (a folder, `runs/NAME` or NAME) becomes learned:ABSOLUTE_PATH; anything else (a
    built-in, file.py[:Class], learned:RUN) is passed on as written."""
    if spec in BUILTINS or spec.startswith("learned:") or split_spec(spec)[1]:
        return spec
    run = next((p for p in run_candidates(spec) if (p / REWARD_CONFIG).is_file()), None)
    return f"learned:{run.resolve()}" if run is not None else spec


def drop_rewards(dataset: Path, reward_model: str, log: Callable[[str], None]) -> None:
    """Leave the converted records' rewards out, so that the reward model scores them all."""
    for split in sorted(dataset.glob("*.jsonl")):
        records = [json.loads(line) for line in split.read_text(encoding="utf-8").splitlines()]
        for record in records:
            record.pop("reward", None)
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        split.write_text(text, encoding="utf-8")
    log(f"Every response is scored by the reward model {reward_model} (not the data's rewards)")
