"""The keys of RunConfig's mappings (lora_parameters, lr_schedule, dimensions), described
like its fields: these classes are read for their field metadata, not built."""

from __future__ import annotations

from dataclasses import dataclass

from mlxstudio.core.settings import setting


@dataclass
class LoraParameters:
    """The keys of `lora_parameters` (mlx-lm's)."""

    rank: int = setting(
        8,
        help="Size of the LoRA matrices. Higher learns more detail; 8-16 is usually enough.",
        min=1,
    )
    scale: float = setting(
        20.0, help="How strongly the LoRA update is applied to the model.", min=0
    )
    dropout: float = setting(
        0.0,
        help="Randomly drops parts of the update while training, to avoid memorising.",
        min=0,
        below=1,
    )
    keys: list | None = setting(
        None,
        help="The layers adapted, by name (such as self_attn.q_proj); "
        "null: mlx-lm's choice for the model.",
    )
    alpha: float | None = setting(
        None,
        help="Read for other tools' files and not used: the strength is 'scale' "
        "(what PEFT writes as alpha / rank).",
    )


@dataclass
class LrSchedule:
    """The keys of `lr_schedule` (mlx-lm's `build_schedule`)."""

    name: str = setting(
        None, help="An mlx.optimizers schedule, such as cosine_decay or linear_schedule."
    )
    arguments: list = setting(
        None, help="The schedule's arguments; the first is the starting rate."
    )
    warmup: int = setting(0, help="Steps of linear warmup before the schedule.", min=0)
    warmup_init: float = setting(0.0, help="The learning rate warmup starts from.", min=0)


@dataclass
class Dimensions:
    """The keys of `dimensions`: the llama that stage pretrain builds (core/train/pretrain.py)."""

    hidden_size: int = setting(None, help="Width of the model.", min=1)
    intermediate_size: int = setting(None, help="Width of each MLP.", min=1)
    num_layers: int = setting(None, help="Transformer blocks.", min=1)
    num_attention_heads: int = setting(None, help="Attention heads.", min=1)
    num_kv_heads: int | None = setting(
        None, help="Key/value heads; null: one per attention head.", min=1
    )
    head_dim: int | None = setting(
        None, help="Width of a head; null: hidden_size / num_attention_heads.", min=1
    )
    max_position_embeddings: int | None = setting(
        None, help="Longest sequence the model is built for.", min=1
    )
    rms_norm_eps: float | None = setting(None, help="RMS norm epsilon.", above=0)
    rope_theta: float | None = setting(None, help="RoPE base frequency.", above=0)
    rope_traditional: bool | None = setting(None, help="Use the traditional RoPE layout.")
    rope_scaling: dict | None = setting(None, help="RoPE scaling, as in a config.json.")
    tie_word_embeddings: bool | None = setting(
        None, help="Share the input embeddings with the output layer."
    )
    attention_bias: bool | None = setting(None, help="Biases in the attention projections.")
    mlp_bias: bool | None = setting(None, help="Biases in the MLP.")
