"""The RL training loop: the SFT Loop's checkpoints, stop / pause and divergence checks,
with the step and the reports supplied by a trainer (DPO, PPO or GRPO)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mlxstudio.core import events as ev
from mlxstudio.core.distributed import World
from mlxstudio.core.errors import UserError
from mlxstudio.core.runs import Status
from mlxstudio.core.train.batches import Position
from mlxstudio.core.train.loop import Loop, rng_seed


class Trainer(Protocol):
    """A stage's step and reports. One whose single update per step is an `update`
    attribute (core/rl/update.py Update) gets gradient accumulation from the loop."""

    train_event: type[ev.Train]

    def step(self, indices: list[int]) -> dict[str, float]:
        """One optimisation step on these examples: 'loss', 'tokens' and event fields."""

    def validate(self, step: int, total_steps: int) -> ev.Val | None: ...


class RecordPlan:
    """Batches of example indices in an order fixed by (seed, epoch), as BatchPlan does;
    on several ranks, each yields its own equal slice of every global batch."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: World | None = None) -> None:
        rank = rank or World()
        if n < batch_size:
            raise UserError(
                f"the training set has {n} examples, fewer than batch_size={batch_size}; "
                f"lower batch_size or add data"
            )
        if batch_size % rank.size:
            raise UserError(
                f"batch_size={batch_size} is the global batch and must divide by the "
                f"{rank.size} ranks; use a multiple of {rank.size}"
            )
        self.n, self.batch_size, self.seed, self.rank = n, batch_size, seed, rank

    def iterate(self, start: Position) -> Iterator[tuple[Position, list[int]]]:
        epoch, index = start.epoch, start.index
        per_epoch = self.n // self.batch_size
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            while index < per_epoch:
                batch = order[index * self.batch_size : (index + 1) * self.batch_size]
                index += 1
                mine = batch[self.rank.rank :: self.rank.size]
                yield Position(epoch, index), [int(i) for i in mine]
            epoch, index = epoch + 1, 0


SUMMED = ("tokens", "padded_tokens")  # over ranks; every other figure is averaged


def over_ranks(stats: dict[str, float], ranks: int) -> dict[str, float]:
    """One step's figures for the whole global batch: token counts summed over the ranks,
    losses, rewards and the rest averaged (each rank had an equal share)."""
    if ranks == 1:
        return stats
    import mlx.core as mx

    keys = sorted(stats)  # the same order on every rank
    total = mx.distributed.all_sum(mx.array([float(stats[k]) for k in keys], mx.float32))
    return {
        k: float(v) if k in SUMMED else float(v) / ranks
        for k, v in zip(keys, total.tolist(), strict=True)
    }


@dataclass
class RLLoop(Loop):
    trainer: Trainer | None = None

    def validate(self) -> float | None:
        self.model.eval()
        try:
            event = self.trainer.validate(self.state.step, self.cfg.iters)
        finally:
            self.model.train()
        if event is None:
            return None
        self.state.val_losses.append(event.val_loss)
        self.emit(event)
        return event.val_loss

    def _run(self) -> str:
        import mlx.core as mx

        cfg, s = self.cfg, self.state
        self.model.train()
        if s.step == 0 and cfg.steps_per_eval > 0:
            self.validate()
            if self.sampler:
                self.sampler(0)
        window: dict[str, float] = {}
        steps, window_time = 0, 0.0
        batches = self.plan.iterate(s.position)
        ranks = self.plan.rank.size
        while s.step < cfg.iters:
            self.check_pause()
            if self.stop_requested(ranks):
                break
            position, indices = next(batches)
            mx.random.seed(rng_seed(cfg.seed, s.step))  # sampling and dropout replay on resume
            update = getattr(self.trainer, "update", None)
            if update is not None:  # gradient accumulation: the loop's step count decides
                update.grads = self.grad_accum
                update.apply = (s.step + 1) % cfg.grad_accumulation_steps == 0
            tic = time.perf_counter()
            stats = over_ranks(self.trainer.step(indices), ranks)
            if update is not None:
                self.grad_accum = update.grads  # saved with a checkpoint mid-accumulation
            window_time += time.perf_counter() - tic
            s.step, s.position = s.step + 1, position
            if not math.isfinite(stats["loss"]):
                raise self._diverged(stats["loss"], f"the loss became {stats['loss']}")
            for key, value in stats.items():
                window[key] = window.get(key, 0.0) + value
            steps += 1
            if s.step % cfg.steps_per_report == 0 or s.step == cfg.iters:
                self._report(window, steps, window_time)
                window, steps, window_time = {}, 0, 0.0
            val_loss = None
            evaluated = s.step % cfg.steps_per_eval == 0 or s.step == cfg.iters
            if evaluated:
                val_loss = self.validate()
            if self.sampler and (s.step % cfg.sample_every == 0 if cfg.sample_every else evaluated):
                self.sampler(s.step)
            if s.step % cfg.save_every == 0 or s.step == cfg.iters:
                self.save(val_loss)
        if s.step < cfg.iters:
            if s.last_saved != s.step:
                self.save(None)
            return Status.STOPPED
        return Status.COMPLETED

    def _report(self, window: dict[str, float], steps: int, seconds: float) -> None:
        import mlx.core as mx

        s = self.state
        tokens = int(window.pop("tokens", 0))
        padded = int(window.pop("padded_tokens", tokens))
        loss = window.pop("loss") / steps
        s.trained_tokens += tokens
        s.train_losses.append(loss)
        seconds = max(seconds, 1e-9)
        # each reward's and check's mean ('reward.NAME'): one mapping of the event
        parts = {k: window.pop(k) / steps for k in [k for k in window if "." in k]}
        extra = {"rewards": parts} if parts else {}
        self.emit(
            self.trainer.train_event(
                step=s.step,
                total_steps=self.cfg.iters,
                train_loss=loss,
                learning_rate=float(self.optimizer.learning_rate.item()),
                tokens_per_second=tokens / seconds,
                trained_tokens=s.trained_tokens,
                peak_memory_gb=mx.get_peak_memory() / 1e9,
                iterations_per_second=steps / seconds,
                padded_tokens_per_second=padded / seconds,
                **{k: v / steps for k, v in window.items()},
                **extra,
            )
        )
