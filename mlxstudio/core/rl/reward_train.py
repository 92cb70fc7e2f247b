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
import os
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig, dump_config
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.rl import data as rl_data
from mlxstudio.core.rl.data import Pair
from mlxstudio.core.rl.dpo import encode_pair
from mlxstudio.core.rl.job import _from_sft_run
from mlxstudio.core.rl.logprobs import collate, encode_prompt, encode_response
from mlxstudio.core.rl.loop import RecordPlan, RLLoop
from mlxstudio.core.rl.update import make_update
from mlxstudio.core.train import checkpoint as ckpt
from mlxstudio.core.train import events as ev
from mlxstudio.core.train.control import Control
from mlxstudio.core.train.job import Failed, RunResult, open_run, restore, supervise
from mlxstudio.core.train.loop import Diverged, is_out_of_memory
from mlxstudio.core.train.sft import _oom_message, _prepare_model, resolve_run_dir
from mlxstudio.core.train.trainable import (
    adapter_file,
    apply_fine_tune_type,
    build_optimizer,
    load_trainable,
    write_adapter_config,
)

STAGE = "reward"
HEAD_FILE = "reward_head.safetensors"
REWARD_CONFIG = "reward_config.json"
FORMAT = "mlxstudio-reward/1"
HEAD = "reward_head"  # the head's attribute on the model (its keys: reward_head.weight, .bias)


@dataclass
class RewardVal(ev.PreferenceVal):
    """A `val` event of stage reward: held-out loss, accuracy, margin and mean rewards."""

    chosen_reward: float = 0.0
    rejected_reward: float = 0.0


# -- the model: base + head ------------------------------------------------------------------
def hidden_size(model) -> int:
    args = getattr(model, "args", None)
    size = getattr(args, "hidden_size", None)
    if size is None:
        raise UserError(
            f"{type(model).__module__}: the model does not name its hidden_size; a reward "
            f"head cannot be sized for it"
        )
    return int(size)


def attach_head(model, seed: int = 0):
    """Add Linear(hidden, 1) as model.reward_head (float32, trainable); returns it."""
    import mlx.core as mx
    import mlx.nn as nn

    mx.random.seed(seed)
    head = nn.Linear(hidden_size(model), 1)
    head.set_dtype(mx.float32)
    setattr(model, HEAD, head)
    return head


def last_indices(mask):
    """Index of each row's last real token, from collate's response mask [B, T-1]."""
    import mlx.core as mx
    import numpy as np

    m = np.array(mask)
    width = m.shape[1]
    return mx.array(width - np.argmax(m[:, ::-1] > 0, axis=1), dtype=mx.int32)


def rewards(model, tokens, last):
    """The scalar reward of each row: the head on the final hidden state at `last`: [B]."""
    import mlx.core as mx

    inner = getattr(model, "model", None)
    if inner is None or not callable(inner):
        raise UserError(
            f"{type(model).__module__}: no inner .model giving hidden states; reward models "
            f"need an mlx-lm decoder (llama, qwen, mistral, ...)"
        )
    hidden = inner(tokens)  # [B, T, H], after the final norm
    picked = mx.take_along_axis(hidden, last[:, None, None], axis=1).squeeze(1)
    return getattr(model, HEAD)(picked.astype(mx.float32)).squeeze(-1)


def encode(tokenizer, prompt: str, response: str) -> tuple[list[int], list[int]]:
    return encode_prompt(tokenizer, prompt), encode_response(tokenizer, response)


def batch(rows: list[tuple[list[int], list[int]]], max_seq_length: int):
    """(tokens [B, T], last-token indices [B]) of (prompt, response) token rows."""
    tokens, mask = collate(rows, max_seq_length)
    return tokens, last_indices(mask)


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
        self._update = make_update(model, optimizer, self._loss, cfg.grad_clip)

    def _batch(self, examples):
        rows = [(p, c) for p, c, _ in examples] + [(p, r) for p, _, r in examples]
        return batch(rows, self.cfg.max_seq_length)

    def _loss(self, model, tokens, last):
        r = rewards(model, tokens, last)
        half = r.shape[0] // 2
        chosen, rejected = r[:half], r[half:]
        return bradley_terry(chosen, rejected).mean(), (chosen, rejected)

    def step(self, indices: list[int]) -> dict[str, float]:
        import mlx.core as mx

        tokens, last = self._batch([self.train[i] for i in indices])
        loss, (chosen, rejected) = self._update(tokens, last)
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
            r = mx.stop_gradient(rewards(self.model, tokens, last))
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


def reward_config(cfg: RunConfig, hidden: int, step: int) -> dict:
    """What LearnedReward needs to rebuild the scorer: base, trainable parts, the head."""
    lora = None if cfg.fine_tune_type == "full" else {"dropout": 0.0, **cfg.lora_parameters}
    return {
        "format": FORMAT,
        "model": cfg.model,
        "fine_tune_type": cfg.fine_tune_type,
        "num_layers": cfg.num_layers,
        "lora_parameters": lora,
        "compute_dtype": cfg.compute_dtype,
        "hidden_size": hidden,
        "pooling": "last_token",
        "max_seq_length": cfg.max_seq_length,
        "step": step,
    }


def write_reward_files(run_dir: Path, model, cfg: RunConfig, step: int) -> None:
    """reward_head.safetensors and reward_config.json, each replaced atomically."""
    from mlx.utils import tree_flatten

    head = dict(tree_flatten(getattr(model, HEAD).parameters()))
    tmp = run_dir / f".{HEAD_FILE}.tmp.safetensors"
    ckpt._save_tensors(tmp, head)
    os.replace(tmp, run_dir / HEAD_FILE)
    runs.write_json_atomic(run_dir / REWARD_CONFIG, reward_config(cfg, hidden_size(model), step))


@dataclass
class RewardLoop(RLLoop):
    """The RL loop; each save also writes the head and reward_config.json."""

    def save(self, val_loss: float | None) -> None:
        super().save(val_loss)
        if self.writes:
            write_reward_files(self.run_dir, self.model, self.cfg, self.state.step)


# -- the job ------------------------------------------------------------------------------
def read_data(cfg: RunConfig) -> tuple[list[Pair], list[Pair]]:
    train_file, valid_file = rl_data.data_files(cfg.data)
    train = rl_data.read_pairs(train_file, cfg)
    valid = rl_data.read_pairs(valid_file, cfg) if valid_file else []
    return train, valid


def _new_run(cfg: RunConfig) -> tuple[RunConfig, Path]:
    if cfg.stage != STAGE:
        raise UserError(f"config: stage '{cfg.stage}' is not '{STAGE}'")
    cfg = _from_sft_run(cfg)
    model_path = resolve_model(cfg.model)
    cfg = replace(cfg, data=str(Path(cfg.data).expanduser().resolve()))
    read_data(cfg)  # every file:line problem before a run directory exists
    if cfg.resume_adapter_file:
        cfg = replace(cfg, resume_adapter_file=str(adapter_file(cfg.resume_adapter_file)))
    run_dir = resolve_run_dir(cfg, model_path)
    cfg = replace(cfg, model=str(model_path), adapter_path=str(run_dir))
    dump_config(cfg, run_dir / runs.CONFIG)
    return cfg, run_dir


def run_reward(
    cfg: RunConfig | None,
    on_event: ev.EventSink | None = None,
    log: Callable[[str], None] = print,
    *,
    events_stream: TextIO | None = None,
    control: Control | None = None,
    resume_dir: Path | None = None,
) -> RunResult:
    """Train a reward model on cfg.data's preference pairs, or continue `resume_dir`."""
    cfg, run_dir = open_run(cfg, resume_dir, events_stream, _new_run)
    resuming = resume_dir is not None
    return supervise(
        run_dir,
        cfg,
        lambda emitter, control, box: _train(cfg, run_dir, emitter, control, log, box, resuming),
        model=cfg.model,
        on_event=on_event,
        events_stream=events_stream,
        control=control,
        log=log,
    )


def _train(
    cfg: RunConfig,
    run_dir: Path,
    emitter: ev.Emitter,
    control: Control,
    log: Callable[[str], None],
    box: types.SimpleNamespace,
    resuming: bool,
) -> str:
    import mlx.core as mx
    import numpy as np
    from mlx_lm.utils import load

    np.random.seed(cfg.seed)
    mx.random.seed(cfg.seed)
    log(f"Loading model {Path(cfg.model).name}")
    model, tokenizer = load(cfg.model)
    model = _prepare_model(model, cfg.compute_dtype)
    apply_fine_tune_type(model, cfg)
    if cfg.resume_adapter_file:
        log(f"Starting from the adapter {cfg.resume_adapter_file}")
        load_trainable(model, Path(cfg.resume_adapter_file))
    attach_head(model, cfg.seed)
    from mlx.utils import tree_flatten

    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    write_adapter_config(run_dir, cfg)
    optimizer = build_optimizer(cfg)
    train, valid = read_data(cfg)
    trainer = RewardTrainer(model, tokenizer, optimizer, cfg, train, valid)
    loaded, _grads = restore(run_dir, model, optimizer, box, emitter, log, resuming)
    state = box.state
    emitter.emit(
        ev.Start(
            run_dir=str(run_dir),
            model=cfg.model,
            total_steps=cfg.iters,
            fine_tune_type=cfg.fine_tune_type,
            trainable_parameters=int(trainable),
            resumed_from_step=state.step if loaded is not None else None,
        )
    )
    loop = RewardLoop(
        cfg=cfg,
        model=model,
        optimizer=optimizer,
        plan=RecordPlan(len(trainer.train), cfg.batch_size, cfg.seed),
        valid_set=None,
        run_dir=run_dir,
        emitter=emitter,
        control=control,
        state=state,
        log=log,
        trainer=trainer,
    )
    try:
        status = loop.run()
    except Diverged as err:
        raise Failed(str(err), "diverged", "diverged") from None
    except (RuntimeError, MemoryError) as err:
        if not is_out_of_memory(err):
            raise
        raise Failed(_oom_message(cfg, state.step, err), "out_of_memory", "failed") from None
    if status == "stopped":
        emitter.emit(ev.Stopped(step=state.step, message="stopped; checkpoint saved"))
    return status
