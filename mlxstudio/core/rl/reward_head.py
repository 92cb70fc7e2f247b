"""The reward model's parts that scoring needs as well as training: the scalar head on the
base model's last hidden state, batching prompt + response rows for it, and the files a
stage `reward` run leaves (reward_head.safetensors, reward_config.json)."""

from __future__ import annotations

import os
from pathlib import Path

from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.logprobs import collate, encode_prompt, encode_response
from mlxstudio.core.train import checkpoint as ckpt

HEAD_FILE = "reward_head.safetensors"
REWARD_CONFIG = "reward_config.json"
FORMAT = "mlxstudio-reward/1"
HEAD = "reward_head"  # the head's attribute on the model (its keys: reward_head.weight, .bias)


# -- the head ------------------------------------------------------------------
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
    ckpt.save_tensors(tmp, head)
    os.replace(tmp, run_dir / HEAD_FILE)
    runs.write_json_atomic(run_dir / REWARD_CONFIG, reward_config(cfg, hidden_size(model), step))
