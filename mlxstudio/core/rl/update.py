"""One optimiser update from a loss function, shared by the RL trainers; with
grad_accumulation_steps > 1 each call adds its share and every n-th applies the update."""

from __future__ import annotations

from collections.abc import Callable

from mlxstudio.core.distributed import world


class Update:
    """Call with the loss function's arguments: (loss, aux). `grads` holds the gradients
    accumulated so far (the loop saves and restores them with a checkpoint, so a run stopped
    mid-accumulation resumes exactly); `apply` says whether this call ends an accumulation."""

    def __init__(
        self, model, optimizer, loss_fn: Callable, grad_clip: float | None, accumulation: int = 1
    ) -> None:
        import mlx.nn as nn

        self.model, self.optimizer, self.grad_clip = model, optimizer, grad_clip
        self.accumulation = max(1, accumulation)
        self.value_and_grad = nn.value_and_grad(model, loss_fn)
        self.ranks = world().size  # launched by mlx.launch: each rank has a slice of a batch
        self.grads = None
        self.apply = True

    def __call__(self, *args):
        import mlx.core as mx
        import mlx.optimizers as optim
        from mlx.utils import tree_map

        (loss, aux), grads = self.value_and_grad(self.model, *args)
        if self.ranks > 1:
            from mlx.nn.utils import average_gradients

            grads = average_gradients(grads)
        if self.accumulation > 1:  # the mean over the n batches: each adds 1/n of its own
            grads = tree_map(lambda g: g / self.accumulation, grads)
            if self.grads is not None:
                grads = tree_map(lambda a, b: a + b, self.grads, grads)
            if not self.apply:
                self.grads = grads
                mx.eval(self.grads, loss, aux)
                return loss, aux
            self.grads = None
        if self.grad_clip:
            grads, _ = optim.clip_grad_norm(grads, self.grad_clip)
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state, loss, aux)
        return loss, aux


def make_update(
    model, optimizer, loss_fn: Callable, grad_clip: float | None, accumulation: int = 1
) -> Update:
    """A function (*args) -> (loss, aux) that also applies one optimiser step (or, with
    accumulation, its share of one)."""
    return Update(model, optimizer, loss_fn, grad_clip, accumulation)
