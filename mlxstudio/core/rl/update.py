"""One optimiser update from a loss function, shared by the RL trainers."""

from __future__ import annotations

from collections.abc import Callable


def make_update(model, optimizer, loss_fn: Callable, grad_clip: float | None) -> Callable:
    """A function (*args) -> (loss, aux) that also applies one optimiser step."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    value_and_grad = nn.value_and_grad(model, loss_fn)

    def update(*args):
        (loss, aux), grads = value_and_grad(model, *args)
        if grad_clip:
            grads, _ = optim.clip_grad_norm(grads, grad_clip)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss, aux)
        return loss, aux

    return update
