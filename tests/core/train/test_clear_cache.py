"""clear_cache_threshold (mlx-lm's key) is honoured: the training loop frees MLX's buffer
cache after a step once it holds more than that many bytes; 0 never does."""

from __future__ import annotations

import mlx.core as mx

from mlxstudio.core.train.sft import run_sft


def test_clear_cache_threshold_clears_after_each_step(make_config, studio_home, monkeypatch):
    calls = []
    real = mx.clear_cache

    def counting() -> None:
        calls.append(mx.get_cache_memory())
        real()

    monkeypatch.setattr(mx, "clear_cache", counting)  # the real call, counted
    runs = {}
    for threshold in (0, 1):
        calls.clear()
        cfg = make_config(name=f"cache{threshold}", iters=4, steps_per_eval=100, save_every=100)
        cfg.clear_cache_threshold = threshold
        assert run_sft(cfg, log=lambda m: None).status == "completed"
        runs[threshold] = list(calls)
    # mlx-lm's validation clears on its own; the threshold adds one clear per training step,
    # each of a cache above the threshold
    extra = len(runs[1]) - len(runs[0])
    assert extra == 4, (runs[0], runs[1])
    assert all(held > 1 for held in runs[1])
