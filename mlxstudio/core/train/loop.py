"""The training loop: mlx-lm's loss, batching and compiled step, with checkpoints to resume
from, stop / pause at step boundaries, divergence checks and live events."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig
from mlxstudio.core.runs import Status
from mlxstudio.core.train import checkpoint as ckpt
from mlxstudio.core.train.batches import BatchPlan, Position, packed_loss
from mlxstudio.core.train.control import Control
from mlxstudio.core.train.memory_guard import (
    MemoryGuard,
    cuda_memory_limit,
    memory_limit,
    wired_limit,
)


class Diverged(Exception):
    """The loss became NaN/inf or exploded; the message names the setting to lower."""


def rng_seed(seed: int, step: int) -> int:
    """The dropout RNG is reseeded before every step, so a resumed run draws the same."""
    return (seed * 1_000_003 + step) % (2**32)


@dataclass
class LoopState:
    step: int = 0
    position: Position = field(default_factory=Position)
    trained_tokens: int = 0
    best_step: int | None = None
    best_val: float | None = None
    window_min: float = math.inf  # lowest report-window loss, for explosion checks
    last_saved: int = -1
    val_losses: list[float] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)

    def to_json(self, elapsed_s: float) -> dict:
        return {
            "position": {"epoch": self.position.epoch, "index": self.position.index},
            "trained_tokens": self.trained_tokens,
            "best_step": self.best_step,
            "best_val": self.best_val,
            "window_min": None if math.isinf(self.window_min) else self.window_min,
            "elapsed_s": elapsed_s,
            # the run's history so far: a resumed run reports from its first validation
            "val_losses": self.val_losses,
            "train_losses": self.train_losses,
        }

    @classmethod
    def from_checkpoint(cls, loaded: ckpt.Loaded) -> LoopState:
        s = loaded.state
        wmin = s.get("window_min")
        return cls(
            step=loaded.step,
            position=Position(**s["position"]),
            trained_tokens=int(s.get("trained_tokens", 0)),
            best_step=s.get("best_step"),
            best_val=s.get("best_val"),
            window_min=math.inf if wmin is None else float(wmin),
            last_saved=loaded.step,
            val_losses=[float(v) for v in s.get("val_losses", [])],
            train_losses=[float(v) for v in s.get("train_losses", [])],
        )


@dataclass
class Loop:
    cfg: RunConfig
    model: object
    optimizer: object
    plan: BatchPlan
    valid_set: object  # a CacheDataset, possibly empty
    run_dir: Path
    emitter: ev.Emitter
    control: Control
    state: LoopState
    log: Callable[[str], None] = print
    sampler: Callable[[int], None] | None = None
    grad_accum: object = None
    writes: bool = True  # False on ranks other than 0: they train but write nothing
    guard: MemoryGuard | None = None  # made at the first step boundary

    def emit(self, event: ev.Event) -> dict:
        return self.emitter.emit(event)

    # -- pieces --------------------------------------------------------------------------
    def validate(self) -> float | None:
        import numpy as np
        from mlx_lm.tuner.trainer import evaluate

        if len(self.valid_set) < self.cfg.batch_size:
            return None
        tic = time.perf_counter()
        np.random.seed(self.cfg.seed)  # the same validation batches every time
        loss = evaluate(
            model=self.model,
            dataset=self.valid_set,
            batch_size=self.cfg.batch_size,
            num_batches=self.cfg.val_batches,
            max_seq_length=self.cfg.max_seq_length,
        )
        self.model.train()
        self.state.val_losses.append(loss)
        self.emit(
            ev.Val(
                step=self.state.step,
                total_steps=self.cfg.iters,
                val_loss=loss,
                val_ppl=math.exp(min(loss, 50.0)),
                val_time_s=time.perf_counter() - tic,
            )
        )
        return loss

    def save(self, val_loss: float | None) -> None:
        from mlx.utils import tree_flatten

        s = self.state
        best = val_loss is not None and (s.best_val is None or val_loss < s.best_val)
        if best:
            s.best_step, s.best_val = s.step, val_loss
        grads = self._shared_gradients()  # every rank takes part, rank 0 writes
        if not self.writes:
            s.last_saved = s.step
            return
        weights = dict(tree_flatten(self.model.trainable_parameters()))
        path = ckpt.save_checkpoint(
            self.run_dir,
            s.step,
            adapters=weights,
            optimizer=dict(tree_flatten(self.optimizer.state)),
            state=s.to_json(self.emitter.elapsed()) | {"val_loss": val_loss},
            gradients=grads,
        )
        ckpt.write_adapters(self.run_dir, weights)
        keep = {s.best_step} if s.best_step is not None else set()
        ckpt.prune_checkpoints(self.run_dir, self.cfg.keep_last_checkpoints, keep)
        s.last_saved = s.step
        self.emit(ev.Checkpoint(step=s.step, path=str(path), val_loss=val_loss, best=best))

    def _shared_gradients(self) -> dict | None:
        """The gradients accumulated so far, flat, as every rank should resume them: their
        mean over the ranks (each rank holds only its own share until the update, and the
        update averages them, so resuming from the mean gives the same update)."""
        import mlx.core as mx
        from mlx.nn.utils import average_gradients
        from mlx.utils import tree_flatten

        if self.grad_accum is None:
            return None
        grads = self.grad_accum
        if mx.distributed.init().size() > 1:
            grads = average_gradients(grads)
            mx.eval(grads)
        return dict(tree_flatten(grads))

    def check_pause(self) -> None:
        why = self.check_memory() or ""  # the memory guard's reason to pause, if any
        if self.control.pause_requested and not self.control.stop_requested:
            reason = "memory" if why else ""
            self.emit(ev.Paused(step=self.state.step, reason=reason, message=why))
            self.log(f"Paused at step {self.state.step}" + (" (memory nearly full)" if why else ""))
            self.control.wait_while_paused()
            self.emit(ev.Resumed(step=self.state.step))
            if why:
                self.guard.accept()

    def check_memory(self) -> str | None:
        """Before a step that would make the machine swap: a checkpoint, then a pause with
        what to change. One process only: ranks save together (the gradients are reduced
        across them), so one rank's guard cannot save alone."""
        if self.guard is None:
            import mlx.core as mx

            alone = mx.distributed.init().size() == 1
            self.guard = MemoryGuard(self.cfg.memory_guard if alone else 0.0)
        reason = self.guard.check(self.state.step, self.cfg)
        if reason and not self.control.stop_requested:
            if self.state.last_saved != self.state.step:
                self.save(None)
            self.control.pause()
        return reason

    def _diverged(self, loss: float, where: str) -> Diverged:
        cfg = self.cfg
        lr = cfg.lr_schedule or cfg.learning_rate
        fixes = f"Lower learning_rate (now {lr})"
        # MLX's Adam without bias correction takes early steps 3-6x the learning rate
        if cfg.optimizer in ("adam", "adamw"):
            own = cfg.optimizer_config.get(cfg.optimizer) or {}
            if not own.get("bias_correction"):
                fixes += f", set bias_correction: true in optimizer_config.{cfg.optimizer}"
        return Diverged(
            f"{where} at step {self.state.step}; training stopped. {fixes}, or set grad_clip "
            f"(e.g. 1.0); the last checkpoint (step {max(self.state.last_saved, 0)}) is kept"
        )

    def stop_requested(self, world_size: int) -> bool:
        """A stop asked of any rank stops them all at the same step (ranks stay in step)."""
        if world_size == 1:
            return self.control.stop_requested
        import mlx.core as mx

        flag = mx.distributed.all_sum(mx.array(int(self.control.stop_requested)))
        return flag.item() > 0

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> str:
        """Train until iters, a stop request, or divergence; returns the status."""
        from mlx_lm.tuner.trainer import grad_checkpoint

        cfg, model = self.cfg, self.model
        limit = cuda_memory_limit(cfg)
        if limit:
            self.log(f"Holding MLX to {limit / 1e9:.1f} GB (the estimate with headroom)")
        # wired: as mlx-lm's generate does (large models, macOS 15+)
        with wired_limit(), memory_limit(limit):
            if not cfg.grad_checkpoint:
                return self._run()
            block = type(model.layers[0])  # mlx-lm patches the block's class: undone after
            original_call = block.__call__
            grad_checkpoint(model.layers[0])
            try:
                return self._run()
            finally:
                block.__call__ = original_call

    def _run(self) -> str:
        import mlx.core as mx
        import mlx.nn as nn
        import mlx.optimizers as optim
        from mlx.nn.utils import average_gradients
        from mlx.utils import tree_map
        from mlx_lm.tuner.trainer import default_loss

        cfg, s, model, optimizer = self.cfg, self.state, self.model, self.optimizer
        loss_fn = packed_loss if self.plan.packing else default_loss
        loss_value_and_grad = nn.value_and_grad(model, loss_fn)
        accum = cfg.grad_accumulation_steps
        compiled_state = [model.state, optimizer.state, mx.random.state]
        world_size = mx.distributed.init().size()

        def across_ranks(lvalue, toks, grad):
            # Each rank's loss is a mean over its own tokens; weighting by token counts makes
            # the averaged gradient and the reported loss those of one process on the
            # global batch.
            total = mx.distributed.all_sum(toks)
            share = toks.astype(mx.float32) * world_size / total
            grad = tree_map(lambda g: g * share.astype(g.dtype), grad)
            return mx.distributed.all_sum(lvalue * toks) / total, total, grad

        @partial(mx.compile, inputs=compiled_state, outputs=compiled_state)
        def step(batch, prev_grad, do_update):
            (lvalue, toks), grad = loss_value_and_grad(model, *batch)
            if world_size > 1:
                lvalue, toks, grad = across_ranks(lvalue, toks, grad)
            if prev_grad is not None:
                grad = tree_map(lambda x, y: x + y, grad, prev_grad)
            if do_update:
                grad = average_gradients(grad)
                if accum > 1:
                    grad = tree_map(lambda x: x / accum, grad)
                if cfg.grad_clip:
                    grad, _ = optim.clip_grad_norm(grad, cfg.grad_clip)
                optimizer.update(model, grad)
                grad = None
            return lvalue, toks, grad

        model.train()
        if s.step == 0 and cfg.steps_per_eval > 0:
            self.validate()
            if self.sampler:
                self.sampler(0)
        window_loss, window_toks, window_padded, window_steps, window_time = 0.0, 0, 0, 0, 0.0
        batches = self.plan.iterate(s.position)
        while s.step < cfg.iters:
            self.check_pause()
            if self.stop_requested(world_size):
                break
            position, batch = next(batches)
            mx.random.seed(rng_seed(cfg.seed, s.step))
            tic = time.perf_counter()
            lvalue, toks, self.grad_accum = step(batch, self.grad_accum, (s.step + 1) % accum == 0)
            mx.eval(compiled_state, lvalue, toks, self.grad_accum)
            if cfg.clear_cache_threshold and mx.get_cache_memory() > cfg.clear_cache_threshold:
                mx.clear_cache()  # mlx-lm's key, in bytes; 0: never
            window_time += time.perf_counter() - tic
            s.step, s.position = s.step + 1, position
            loss, ntoks = lvalue.item(), int(toks.item())
            if not math.isfinite(loss):
                raise self._diverged(loss, f"the loss became {loss}")
            window_loss += loss
            window_toks += ntoks
            # this rank's padded positions; the other ranks' are alike
            window_padded += int(batch[0].shape[0] * (batch[0].shape[1] - 1)) * world_size
            window_steps += 1
            if s.step % cfg.steps_per_report == 0 or s.step == cfg.iters:
                mean = window_loss / window_steps
                s.trained_tokens += window_toks
                s.train_losses.append(mean)
                self.emit(
                    ev.Train(
                        step=s.step,
                        total_steps=cfg.iters,
                        train_loss=mean,
                        learning_rate=float(optimizer.learning_rate.item()),
                        tokens_per_second=window_toks / window_time,
                        trained_tokens=s.trained_tokens,
                        peak_memory_gb=mx.get_peak_memory() / 1e9,
                        iterations_per_second=window_steps / window_time,
                        padded_tokens_per_second=window_padded / window_time,
                    )
                )
                if cfg.max_loss_ratio and mean > cfg.max_loss_ratio * s.window_min:
                    raise self._diverged(
                        mean, f"the loss exploded to {mean:.3g} (lowest {s.window_min:.3g})"
                    )
                s.window_min = min(s.window_min, mean)
                window_loss, window_toks, window_padded, window_steps = 0.0, 0, 0, 0
                window_time = 0.0
            val_loss = None
            if s.step % cfg.steps_per_eval == 0 or s.step == cfg.iters:
                val_loss = self.validate()
            if self.sampler and cfg.sample_every and s.step % cfg.sample_every == 0:
                self.sampler(s.step)
            if s.step % cfg.save_every == 0 or s.step == cfg.iters:
                self.save(val_loss)
        if s.step < cfg.iters:
            if s.last_saved != s.step:
                self.save(None)
            return Status.STOPPED
        return Status.COMPLETED
