"""Helpers for the serving tests: in-process servers and a LoRA adapter for the tiny model."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from mlxstudio.core.serve.server import ModelServer

FEW = 6  # max_tokens: the tiny model's words are noise; we only check the plumbing


def serve_in_thread(model: Path, **kwargs) -> tuple[ModelServer, threading.Thread]:
    srv = ModelServer(str(model), port=0, **kwargs)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    return srv, thread


def stop(srv: ModelServer, thread: threading.Thread) -> None:
    srv.shutdown()
    thread.join(10)
    srv.close()
    assert not thread.is_alive()


def make_adapter(tiny_model: Path, run_dir: Path) -> Path:
    """A LoRA adapter for the tiny model in a run directory's layout (RUN/adapters), with
    weights large enough to change what it says."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = load(str(tiny_model))
    model.freeze()
    lora = {"rank": 4, "scale": 20.0, "dropout": 0.0}
    linear_to_lora_layers(model, 2, lora)
    mx.random.seed(1)
    weights = {
        k: mx.random.normal(v.shape) if k.endswith("lora_b") else v
        for k, v in tree_flatten(model.trainable_parameters())
    }
    out = run_dir / "adapters"
    out.mkdir(parents=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), weights)
    config = {
        "fine_tune_type": "lora",
        "num_layers": 2,
        "lora_parameters": lora,
        "model": str(tiny_model),
    }
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out
