"""One optimiser update from a loss function, shared by the RL trainers; with
grad_accumulation_steps > 1 each call adds its share and every n-th applies the update.
A call may also take its batch in chunks of rows (GRPO: the group's answers), adding their
gradients: then only one chunk's activations are alive at a time."""

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

    def __call__(self, *args, chunk: int | None = None):
        """`chunk`: rows per backward pass. The loss function must then normalise by the
        whole batch (its sum over chunks is the batch's loss); arguments whose first axis
        is the batch's rows are split, the others passed to every chunk as they are."""
        import mlx.core as mx
        import mlx.optimizers as optim
        from mlx.utils import tree_map

        (loss, aux), grads = self._gradients(args, chunk)
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

    def _gradients(self, args: tuple, chunk: int | None):
        import mlx.core as mx
        from mlx.utils import tree_map

        rows = args[0].shape[0]
        if not chunk or chunk >= rows:
            return self.value_and_grad(self.model, *args)
        total = None
        for start in range(0, rows, chunk):
            part = [_rows(a, rows, start, chunk) for a in args]
            result = self.value_and_grad(self.model, *part)
            total = result if total is None else tree_map(lambda a, b: a + b, total, result)
            mx.eval(total)  # this chunk's activations are freed before the next is built
        return total


def _rows(value, rows: int, start: int, chunk: int):
    """value's rows start..start+chunk when its first axis is the batch's rows."""
    shape = getattr(value, "shape", ())
    return value[start : start + chunk] if shape and shape[0] == rows else value


def make_update(
    model, optimizer, loss_fn: Callable, grad_clip: float | None, accumulation: int = 1
) -> Update:
    """A function (*args) -> (loss, aux) that also applies one optimiser step (or, with
    accumulation, its share of one)."""
    return Update(model, optimizer, loss_fn, grad_clip, accumulation)
