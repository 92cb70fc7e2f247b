"""Memory estimate for fine-tuning: pure arithmetic from config.json and the run's settings.

peak = weights + trainable state (parameters, gradients, optimizer moments)
     + activations kept for the backward pass (trained layers only: frozen layers below
       them need no gradient, so MLX frees their intermediates as it goes)
     + the logits and their gradient (batch x tokens x vocabulary, the loss works in fp32)
     + a fixed runtime overhead.
GRPO's backward pass takes batch_size answers at a time (core/rl/update.py), so its group
size does not multiply the activations; its sampling does hold every answer's KV cache,
freed before the update: the peak takes the larger of the two.

The per-token coefficients were fitted to peaks measured with `mlxstudio train` on this
CPU (float32) and checked against mlx-lm's published QLoRA figure for Llama-2-7B
(benchmarks/bench_memory.py prints both). On CUDA (benchmarks/bench_gpu.py, one H200) they
came within +7..+15% for a bf16 1B and -20..+6% for a 7B-shape 4-bit base (whose embedding
and head were bf16, 0.58 GB the estimate did not count), once attention's fused backward
there (no scores kept) is counted and MLX's CUDA buffers are bounded (core/platform.py and
train/memory_guard.cuda_memory_limit; before, finished buffers waiting to be freed nearly
doubled the 7B peak). Its quantized matmuls keep no dequantized copies.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mlxstudio.core.errors import UserError

GB = 1e9
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
METHODS = ("lora", "dora", "full")
# Adam keeps two moments per trained parameter; SGD none; Adafactor factored (about none).
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "muon": 1, "sgd": 0, "adafactor": 0}

# Activations stored per token of a trained layer, in compute-dtype elements: a multiple of
# the hidden size, of the MLP width, and attention scores (heads x tokens) for the unfused
# attention the backward pass keeps. Fitted on measured peaks (see the module docstring):
# LoRA at three sequence lengths separates the per-token from the per-token-squared part.
ACT_HIDDEN = 9.0
ACT_MLP = 3.0
ACT_SCORES = 2.0
LOGIT_COPIES = 3.0  # logits, their softmax and their gradient, all float32
DORA_WEIGHT_COPIES = 1.0  # DoRA builds each adapted weight (W + BA) in float32 to norm it
OVERHEAD_GB = 0.01
KV_STEP = 256  # mlx-lm's KV caches grow this many positions at a time
# Verdict thresholds, as a share of the memory training may use.
TIGHT_SHARE = 0.8


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a decoder-only transformer's config.json."""

    model_type: str
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    dtype: str = "float16"
    bits: int | None = None  # quantized weights (None: full precision)
    group_size: int = 64
    embed_bits: int | None = None
    context: int | None = None

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        cfg = dict(config.get("text_config") or {}, **config)  # multimodal: text tower
        try:
            hidden = int(cfg["hidden_size"])
            heads = int(cfg["num_attention_heads"])
            layers = int(cfg["num_hidden_layers"])
            vocab = int(cfg["vocab_size"])
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"config.json lacks {err} needed for a memory estimate") from None
        quant = cfg.get("quantization") or cfg.get("quantization_config") or {}
        bits = quant.get("bits") if isinstance(quant, dict) else None
        embed = quant.get("model.embed_tokens") if isinstance(quant, dict) else None
        dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "float16")
        return cls(
            model_type=str(cfg.get("model_type", "?")),
            hidden=hidden,
            layers=layers,
            intermediate=int(cfg.get("intermediate_size") or 4 * hidden),
            heads=heads,
            kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(cfg.get("head_dim") or hidden // heads),
            vocab=vocab,
            tied=bool(cfg.get("tie_word_embeddings", False)),
            dtype=dtype if dtype in DTYPE_BYTES else "float16",
            bits=int(bits) if bits else None,
            group_size=int(quant.get("group_size", 64)) if isinstance(quant, dict) else 64,
            embed_bits=int(embed["bits"]) if isinstance(embed, dict) and "bits" in embed else None,
            context=cfg.get("max_position_embeddings"),
        )

    @classmethod
    def from_folder(cls, folder: Path) -> ModelShape:
        path = Path(folder) / "config.json"
        try:
            return cls.from_config(json.loads(path.read_text(encoding="utf-8")))
        except OSError:
            raise UserError(f"{folder}: no config.json, so not a model folder") from None
        except ValueError as err:
            raise UserError(f"{path}: not valid JSON ({err})") from None

    # -- parameter counts ----------------------------------------------------------------
    def linear_dims(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one block: q, k, v, o, gate, up, down."""
        q, kv, h, i = (
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
            self.hidden,
            (self.intermediate),
        )
        return [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)]

    def block_params(self) -> int:
        return sum(a * b for a, b in self.linear_dims()) + 2 * self.hidden

    def embed_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    def params(self) -> int:
        return self.layers * self.block_params() + self.embed_params() + self.hidden


@dataclass(frozen=True)
class TrainSettings:
    """The settings the estimate depends on (names as in RunConfig)."""

    fine_tune_type: str = "lora"
    rank: int = 8
    num_layers: int = 16  # -1: all
    batch_size: int = 4
    max_seq_length: int = 2048
    grad_checkpoint: bool = False
    optimizer: str = "adam"
    grad_accumulation_steps: int = 1
    quantize_bits: int | None = None  # train on a base quantized to this (None: as stored)
    compute_dtype: str | None = None  # 'float32' casts everything; None keeps the weights
    packing: bool = False  # packed rows are max_seq_length long whatever the examples
    longest_example: int | None = None  # tokens of the data's longest example, when known
    # Where it trains ('cpu', 'metal', 'cuda'): on CUDA attention's backward pass is fused
    # (no scores kept).
    backend: str = "cpu"
    # Rows a batch example becomes in the backward pass (DPO's chosen and rejected); the
    # tokens GRPO writes after its prompt, and the answers it samples per prompt.
    rows_per_example: int = 1
    new_tokens: int = 0
    answers: int = 1

    @classmethod
    def from_run_config(
        cls, cfg, compute_dtype: str | None = None, longest_example: int | None = None
    ) -> TrainSettings:
        """From a RunConfig; compute_dtype resolves 'auto' to this machine's choice."""
        from mlxstudio.core.platform import backend

        here = backend()
        dtype = cfg.compute_dtype
        if dtype == "auto":
            dtype = compute_dtype if compute_dtype is not None else here.dtype
        return cls(
            packing=bool(getattr(cfg, "packing", False)),
            longest_example=longest_example,
            backend=here.name,
            fine_tune_type=cfg.fine_tune_type,
            rank=int(cfg.lora_parameters.get("rank", 8)),
            num_layers=cfg.num_layers,
            batch_size=cfg.batch_size,
            max_seq_length=cfg.max_seq_length,
            grad_checkpoint=cfg.grad_checkpoint,
            optimizer=cfg.optimizer,
            grad_accumulation_steps=cfg.grad_accumulation_steps,
            compute_dtype=None if dtype in (None, "model") else dtype,
            rows_per_example=2 if cfg.stage == "dpo" else 1,
            new_tokens=cfg.max_new_tokens if cfg.stage == "grpo" else 0,
            answers=cfg.group_size if cfg.stage == "grpo" else 1,
        )


@dataclass
class MemoryEstimate:
    weights_gb: float
    trainable_gb: float
    activations_gb: float
    logits_gb: float
    overhead_gb: float
    trainable_params: int
    total_params: int
    available_gb: float | None = None
    advice: list[str] = field(default_factory=list)
    sampling_gb: float = 0.0  # GRPO: the answers' KV cache, freed before the backward pass

    @property
    def peak_gb(self) -> float:
        backward = self.activations_gb + self.logits_gb
        return (
            self.weights_gb + self.trainable_gb + max(backward, self.sampling_gb) + self.overhead_gb
        )

    @property
    def verdict(self) -> str:
        """'fits', 'tight' or 'will not fit' against available_gb ('unknown' without it)."""
        if not self.available_gb:
            return "unknown"
        if self.peak_gb <= TIGHT_SHARE * self.available_gb:
            return "fits"
        return "tight" if self.peak_gb <= self.available_gb else "will not fit"

    def summary(self) -> str:
        text = f"{self.peak_gb:.2f} GB predicted peak"
        if self.available_gb:
            text += f" of {self.available_gb:.1f} GB usable: {self.verdict}"
        return text


def _weight_bytes(shape: ModelShape, bits: int | None, dtype_bytes: float) -> float:
    """Bytes of all weights: quantized linears/embeddings carry an fp16 scale and bias per
    group; norms stay in dtype."""
    norms = (2 * shape.layers + 1) * shape.hidden * dtype_bytes
    if bits is None:
        return (shape.params() - (2 * shape.layers + 1) * shape.hidden) * dtype_bytes + norms
    per_group = 4 / shape.group_size
    blocks = shape.layers * (shape.block_params() - 2 * shape.hidden)
    embed_bits = shape.embed_bits or bits
    emb = shape.vocab * shape.hidden
    head = 0 if shape.tied else emb * (bits / 8 + per_group)
    return blocks * (bits / 8 + per_group) + emb * (embed_bits / 8 + per_group) + head + norms


def trainable_params(shape: ModelShape, s: TrainSettings) -> int:
    layers = shape.layers if s.num_layers < 0 else min(s.num_layers, shape.layers)
    if s.fine_tune_type == "full":
        return layers * shape.block_params()
    dims = shape.linear_dims()
    per_layer = s.rank * sum(a + b for a, b in dims)
    if s.fine_tune_type == "dora":
        per_layer += sum(b for _, b in dims)  # one magnitude per output
    return layers * per_layer


def row_tokens(s: TrainSettings) -> int:
    """Positions per row of the largest batch: max_seq_length, or, for unpacked rows of
    known data, the longest example padded as the batches are (1 + a multiple of 32; of
    128 where attention's backward pass is fused)."""
    if s.packing or not s.longest_example:
        return s.max_seq_length
    multiple = 128 if s.backend == "cuda" else 32
    longest = s.longest_example + s.new_tokens
    return min(multiple * -(-longest // multiple), s.max_seq_length)


def estimate(
    shape: ModelShape, s: TrainSettings, available_gb: float | None = None
) -> MemoryEstimate:
    """The predicted peak memory of training `shape` with settings `s`."""
    if s.fine_tune_type not in METHODS:
        raise UserError(f"unknown fine-tune method {s.fine_tune_type!r}; use {METHODS}")
    compute = s.compute_dtype
    bits = s.quantize_bits if s.quantize_bits else shape.bits
    if compute:  # the trainer dequantizes and casts everything to the compute dtype
        bits, wbytes = None, DTYPE_BYTES[compute]
    else:
        wbytes = DTYPE_BYTES[shape.dtype]
    weights = _weight_bytes(shape, bits, wbytes)

    layers = shape.layers if s.num_layers < 0 else min(s.num_layers, shape.layers)
    n_train = trainable_params(shape, s)
    states = OPTIMIZER_STATES.get(s.optimizer, 2) + (1 if s.grad_accumulation_steps > 1 else 0)
    # Gradients, optimizer moments, and the updated copy written while the old one is alive.
    if s.fine_tune_type == "full":  # parameters already counted in the weights
        pbytes = wbytes if bits is None else 2
        trainable = n_train * pbytes * (2 + states)
        if bits is not None:  # full training needs the trained layers unquantized
            trainable += n_train * pbytes
    else:  # LoRA/DoRA matrices are float32
        trainable = n_train * 4 * (3 + states)

    abytes = DTYPE_BYTES[compute or shape.dtype]
    row = row_tokens(s)
    tokens = s.batch_size * s.rows_per_example * row
    scores = 0.0 if s.backend == "cuda" else ACT_SCORES * shape.heads * row
    per_token = (ACT_HIDDEN * shape.hidden + ACT_MLP * shape.intermediate + scores) * abytes
    if s.fine_tune_type != "full" and abytes < 4:
        # x @ lora_a promotes a half-precision input to float32 (the LoRA matrices are fp32),
        # and that copy is kept for lora_a's gradient: one per adapted linear's input.
        per_token += sum(a for a, _ in shape.linear_dims()) * 4
    if s.grad_checkpoint:  # keep each layer's input; recompute one layer at a time
        act = tokens * (layers * shape.hidden * abytes + per_token)
    else:
        act = tokens * layers * per_token
    if s.fine_tune_type == "dora":
        act += DORA_WEIGHT_COPIES * layers * (shape.block_params() - 2 * shape.hidden) * 4
    # GRPO's log-probs read the answers' positions only (core/rl/logprobs.py)
    logit_tokens = s.batch_size * s.rows_per_example * s.new_tokens if s.new_tokens else tokens
    logits = LOGIT_COPIES * logit_tokens * shape.vocab * 4
    sampling = 0.0
    if s.new_tokens:  # every answer's keys and values, at every layer
        kv = 2 * shape.layers * shape.kv_heads * shape.head_dim * abytes
        positions = KV_STEP * -(-row // KV_STEP)
        sampling = s.batch_size * s.answers * positions * kv
    est = MemoryEstimate(
        weights_gb=weights / GB,
        trainable_gb=trainable / GB,
        activations_gb=act / GB,
        logits_gb=logits / GB,
        overhead_gb=OVERHEAD_GB,
        trainable_params=n_train,
        total_params=shape.params(),
        available_gb=available_gb,
        sampling_gb=sampling / GB,
    )
    if est.verdict in ("tight", "will not fit"):
        est.advice = advise(shape, s, available_gb)
    return est


def advise(shape: ModelShape, s: TrainSettings, available_gb: float | None) -> list[str]:
    """Settings that would bring the peak under the 'fits' line, first the gentlest."""
    if not available_gb:
        return []
    target = TIGHT_SHARE * available_gb
    tips: list[str] = []

    def fits(**changes) -> bool:
        from dataclasses import replace

        return estimate(shape, replace(s, **changes)).peak_gb <= target

    if not s.grad_checkpoint and fits(grad_checkpoint=True):
        tips.append("turn on gradient checkpointing")
    for b in (s.batch_size // 2, s.batch_size // 4, 1):
        if 1 <= b < s.batch_size and fits(batch_size=b):
            tips.append(f"lower batch size to {b}")
            break
    for n in (s.max_seq_length // 2, s.max_seq_length // 4):
        if n >= 64 and fits(max_seq_length=n):
            tips.append(f"lower max tokens to {n}")
            break
    if s.fine_tune_type == "full" and fits(fine_tune_type="lora"):
        tips.append("use LoRA instead of full fine-tuning")
    layers = shape.layers if s.num_layers < 0 else s.num_layers
    for n in (layers // 2, layers // 4, 1):
        if 1 <= n < layers and fits(num_layers=n):
            tips.append(f"train {n} layers instead of {layers}")
            break
    if s.compute_dtype is None and (shape.bits or 16) > 4 and fits(quantize_bits=4):
        tips.append("train on a 4-bit quantized base (QLoRA)")
    if not tips:
        tips = _combined(shape, s, target)
    return tips


def _combined(shape: ModelShape, s: TrainSettings, target: float) -> list[str]:
    """No single change is enough: apply the gentlest ones together until it fits."""
    from dataclasses import replace

    steps = ["gradient checkpointing on"] if not s.grad_checkpoint else []
    cur = replace(s, grad_checkpoint=True)
    while estimate(shape, cur).peak_gb > target:
        if cur.batch_size > 1:
            cur = replace(cur, batch_size=max(1, cur.batch_size // 2))
        elif cur.max_seq_length > 256:
            cur = replace(cur, max_seq_length=max(256, cur.max_seq_length // 2))
        elif cur.num_layers < 0 or cur.num_layers > 4:
            n = shape.layers if cur.num_layers < 0 else cur.num_layers
            cur = replace(cur, num_layers=max(4, n // 2))
        else:
            return ["this model is too large for this machine; pick a smaller one"]
    if cur.batch_size != s.batch_size:
        steps.append(f"batch size {cur.batch_size}")
    if cur.max_seq_length != s.max_seq_length:
        steps.append(f"max tokens {cur.max_seq_length}")
    if cur.num_layers != s.num_layers:
        steps.append(f"{cur.num_layers} layers")
    return ["together: " + ", ".join(steps)]


def machine_memory_gb() -> float | None:
    """The memory training may use here: the GPU's own on CUDA, else physical RAM
    (unified memory on a Mac)."""
    from mlxstudio.core.platform import backend

    if backend().name == "cuda":
        import mlx.core as mx

        total = mx.device_info().get("total_memory")
        if total:
            return int(total) / GB
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    except (ValueError, OSError, AttributeError):
        return None
