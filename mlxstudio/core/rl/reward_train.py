"""Stage `reward`: a learned reward model trained from preference pairs.

A scalar head, Linear(hidden, 1), reads the base model's final hidden state at the last
token of prompt + response (the end-of-sequence token the response ends with). The base
stays frozen except for the usual fine_tune_type parts (LoRA / DoRA on num_layers, or
unfrozen blocks). The loss is Bradley-Terry: -log sigmoid(r_chosen - r_rejected).

The run directory is an RL run's: events, checkpoints, stop / pause / resume, plus
`reward_head.safetensors` and `reward_config.json` (written atomically at every save), which
`LearnedReward` (core/rl/learned_reward.py) loads to score responses in GRPO / offline PPO.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig
from mlxstudio.core.distributed import World
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.rl import data as rl_data
from mlxstudio.core.rl import reward_head as rh
from mlxstudio.core.rl.data import Pair
from mlxstudio.core.rl.dpo import encode_pair
from mlxstudio.core.rl.loop import RecordPlan, RLLoop
from mlxstudio.core.rl.update import make_update
from mlxstudio.core.train.job import RunResult, create_run
from mlxstudio.core.train.stage import Built, refuse_in_rl, run_stage
from mlxstudio.core.train.trainable import (
    build_optimizer,
    load_base,
    make_trainable,
    start_from_run,
    write_adapter_config,
)

STAGE = "reward"


@dataclass
class RewardVal(ev.PreferenceVal):
    """A `val` event of stage reward: held-out loss, accuracy, margin and mean rewards."""

    chosen_reward: float = 0.0
    rejected_reward: float = 0.0


# -- training -----------------------------------------------------------------------------
def bradley_terry(chosen, rejected):
    import mlx.nn as nn

    return -nn.log_sigmoid(chosen - rejected)


class RewardTrainer:
    train_event = ev.PreferenceTrain

    def __init__(self, model, tokenizer, optimizer, cfg: RunConfig, train, valid):
        self.model, self.cfg = model, cfg
        self.train = [encode_pair(tokenizer, p) for p in train]
        self.valid = [encode_pair(tokenizer, p) for p in valid]
        self.update = make_update(
            model, optimizer, self._loss, cfg.grad_clip, cfg.grad_accumulation_steps
        )

    def _batch(self, examples):
        rows = [(p, c) for p, c, _ in examples] + [(p, r) for p, _, r in examples]
        return rh.batch(rows, self.cfg.max_seq_length)

    def _loss(self, model, tokens, last):
        r = rh.rewards(model, tokens, last)
        half = r.shape[0] // 2
        chosen, rejected = r[:half], r[half:]
        return bradley_terry(chosen, rejected).mean(), (chosen, rejected)

    def step(self, indices: list[int]) -> dict[str, float]:
        import mlx.core as mx

        tokens, last = self._batch([self.train[i] for i in indices])
        loss, (chosen, rejected) = self.update(tokens, last)
        n_tokens = float((last + 1).sum().item())
        return {
            "loss": loss.item(),
            "tokens": n_tokens,
            "padded_tokens": float(tokens.size),
            "chosen_reward": chosen.mean().item(),
            "rejected_reward": rejected.mean().item(),
            "margin": (chosen - rejected).mean().item(),
            "accuracy": (chosen > rejected).astype(mx.float32).mean().item(),
        }

    def validate(self, step: int, total_steps: int) -> RewardVal | None:
        """Loss, margin and accuracy over the held-out pairs (all, or val_batches)."""
        import mlx.core as mx

        if not self.valid:
            return None
        tic = time.perf_counter()
        size = self.cfg.batch_size
        chunks = [self.valid[i : i + size] for i in range(0, len(self.valid), size)]
        if self.cfg.val_batches > 0:
            chunks = chunks[: self.cfg.val_batches]
        totals = dict(loss=0.0, margin=0.0, accuracy=0.0, chosen=0.0, rejected=0.0)
        n = 0
        for chunk in chunks:
            tokens, last = self._batch(chunk)
            r = mx.stop_gradient(rh.rewards(self.model, tokens, last))
            chosen, rejected = r[: len(chunk)], r[len(chunk) :]
            totals["loss"] += bradley_terry(chosen, rejected).sum().item()
            totals["margin"] += (chosen - rejected).sum().item()
            totals["accuracy"] += (chosen > rejected).sum().item()
            totals["chosen"] += chosen.sum().item()
            totals["rejected"] += rejected.sum().item()
            n += len(chunk)
        mean = {k: v / n for k, v in totals.items()}
        return RewardVal(
            step=step,
            total_steps=total_steps,
            val_loss=mean["loss"],
            val_ppl=math.exp(min(mean["loss"], 50.0)),
            val_time_s=time.perf_counter() - tic,
            margin=mean["margin"],
            accuracy=mean["accuracy"],
            chosen_reward=mean["chosen"],
            rejected_reward=mean["rejected"],
        )


@dataclass
class RewardLoop(RLLoop):
    """The RL loop; each save also writes the head and reward_config.json."""

    def save(self, val_loss: float | None) -> None:
        super().save(val_loss)
        if self.writes:
            rh.write_reward_files(self.run_dir, self.model, self.cfg, self.state.step)


# -- the job ------------------------------------------------------------------------------
def read_data(cfg: RunConfig) -> tuple[list[Pair], list[Pair]]:
    train_file, valid_file = rl_data.data_files(cfg.data)
    train = rl_data.read_pairs(train_file, cfg)
    valid = rl_data.read_pairs(valid_file, cfg) if valid_file else []
    return train, valid


class Reward:
    """Stage reward: a scalar head on the base, trained on preference pairs."""

    def new_run(self, cfg: RunConfig, writes: bool = True) -> tuple[RunConfig, Path]:
        if cfg.stage != STAGE:
            raise UserError(f"config: stage '{cfg.stage}' is not '{STAGE}'")
        refuse_in_rl(cfg)
        cfg = start_from_run(cfg)
        model_path = resolve_model(cfg.model)
        cfg = replace(cfg, data=str(Path(cfg.data).expanduser().resolve()))
        read_data(cfg)  # every file:line problem before a run directory exists
        return create_run(cfg, model_path)

    def build(
        self, cfg: RunConfig, run_dir: Path, log: Callable[[str], None], resuming: bool, rank: World
    ) -> Built:
        from mlx.utils import tree_flatten

        model, tokenizer = load_base(cfg, log)
        make_trainable(model, cfg, log)
        rh.attach_head(model, cfg.seed)
        trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        write_adapter_config(run_dir, cfg)
        optimizer = build_optimizer(cfg)
        train, valid = read_data(cfg)
        trainer = RewardTrainer(model, tokenizer, optimizer, cfg, train, valid)
        return Built(
            model=model,
            optimizer=optimizer,
            trainable=trainable,
            loop_class=RewardLoop,
            loop_args=dict(
                plan=RecordPlan(len(trainer.train), cfg.batch_size, cfg.seed),
                valid_set=None,
                trainer=trainer,
            ),
        )


def run_reward(cfg: RunConfig | None, *args, **kwargs) -> RunResult:
    """Train a reward model on cfg.data's preference pairs, or continue `resume_dir` (see
    stage.run_stage for the arguments)."""
    return run_stage(Reward(), cfg, *args, **kwargs)
