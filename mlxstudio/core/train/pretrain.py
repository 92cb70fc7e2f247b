"""Pretraining from scratch (stage `pretrain`): a llama built from `dimensions`, a tokenizer
trained on the corpus (or an existing one), trained on text with the fine-tuning loop, so
events, checkpoints, stop/pause and resume are the same. The run folder is the model:

runs/<name>/
  config.json model.safetensors tokenizer.json tokenizer_config.json   what mlx_lm.load reads;
                         `model: runs/<name>` (or --pretrained_model) fine-tunes it
  tokenizer/             the tokenizer again, where MLX-Pretrain keeps it
  dataset/               the corpus as rows of max_seq_length tokens (see corpus.py)
  config.yaml run.json metrics.jsonl checkpoints/   as in every run (see core/runs.py)

Keys (besides mlx-lm's): stage: pretrain, data (text files), valid_data, dimensions,
tokenizer or vocab_size. MLX-Pretrain's model-config.yaml maps onto them (core/mlx_pretrain/).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlxstudio.core import events as ev
from mlxstudio.core import runs
from mlxstudio.core.config import RunConfig, dump_config
from mlxstudio.core.distributed import World
from mlxstudio.core.errors import UserError
from mlxstudio.core.train.batches import BatchPlan
from mlxstudio.core.train.corpus import Corpus, Windows, corpus_files, prepare_corpus
from mlxstudio.core.train.job import RunResult, new_run_dir
from mlxstudio.core.train.loop import Loop
from mlxstudio.core.train.stage import Built, run_stage
from mlxstudio.core.train.trainable import build_optimizer

WEIGHTS = "model.safetensors"
REQUIRED_DIMENSIONS = ("hidden_size", "intermediate_size", "num_layers", "num_attention_heads")


# -- the model ----------------------------------------------------------------------------
def model_config(cfg: RunConfig, corpus: Corpus) -> dict:
    """config.json of the llama described by cfg.dimensions (mlx-lm's and transformers' keys)."""
    dims = dict(cfg.dimensions or {})
    for key in REQUIRED_DIMENSIONS:
        if not dims.get(key) or dims[key] < 1:
            raise UserError(
                f"config: stage pretrain needs dimensions.{key} (a positive integer): the size "
                "of the model to build, e.g. resources/configs/mlx_pretrain/model-config.yaml"
            )
    heads = dims["num_attention_heads"]
    kv_heads = dims.get("num_kv_heads") or heads
    if heads % kv_heads:
        raise UserError(
            f"config: dimensions.num_attention_heads ({heads}) must be a multiple of "
            f"num_kv_heads ({kv_heads})"
        )
    if not dims.get("head_dim") and dims["hidden_size"] % heads:
        raise UserError(
            f"config: dimensions.hidden_size ({dims['hidden_size']}) must be a multiple of "
            f"num_attention_heads ({heads}), or set dimensions.head_dim"
        )
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": dims["hidden_size"],
        "num_hidden_layers": dims["num_layers"],
        "intermediate_size": dims["intermediate_size"],
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": dims.get("head_dim") or dims["hidden_size"] // heads,
        "max_position_embeddings": dims.get("max_position_embeddings") or cfg.max_seq_length,
        "rms_norm_eps": dims.get("rms_norm_eps") or 1e-5,
        "rope_theta": dims.get("rope_theta") or 10000.0,
        "rope_traditional": bool(dims.get("rope_traditional", False)),
        "rope_scaling": dims.get("rope_scaling"),
        "tie_word_embeddings": bool(dims.get("tie_word_embeddings", True)),
        "attention_bias": bool(dims.get("attention_bias", False)),
        "mlp_bias": bool(dims.get("mlp_bias", False)),
        "vocab_size": corpus.vocab_size,
        "eos_token_id": corpus.eos_token_ids,
        "torch_dtype": "float32",
    }


class PretrainLoop(Loop):
    """The fine-tuning loop, saving the whole model: the run folder stays a model folder
    (model.safetensors), not an adapter."""

    def save(self, val_loss: float | None) -> None:
        super().save(val_loss)
        os.replace(self.run_dir / "adapters.safetensors", self.run_dir / WEIGHTS)
        (self.run_dir / f"{self.state.step:07d}_adapters.safetensors").unlink(missing_ok=True)


def _text_sampler(model, run_dir: Path, cfg: RunConfig, emit) -> Callable[[int], None] | None:
    """Continuations of cfg.sample_prompts: a base model continues text, it does not chat."""
    if not cfg.sample_prompts:
        return None
    from mlx_lm import generate
    from mlx_lm.utils import load_tokenizer

    tokenizer = load_tokenizer(run_dir)

    def sample(step: int) -> None:
        model.eval()
        for prompt in cfg.sample_prompts:
            text = generate(model, tokenizer, str(prompt), max_tokens=cfg.sample_max_tokens)
            emit(ev.Sample(step=step, prompt=str(prompt), response=text))
        model.train()

    return sample


# -- the job ------------------------------------------------------------------------------
class Pretrain:
    """Stage pretrain: a llama from `dimensions`, trained whole on text windows."""

    def new_run(self, cfg: RunConfig, writes: bool = True) -> tuple[RunConfig, Path]:
        corpus_files(cfg.data)  # a missing corpus fails before a run folder exists
        if cfg.valid_data:
            corpus_files(cfg.valid_data)
        if not cfg.train:
            raise UserError("config: stage pretrain trains; set 'train: true'")
        run_dir = new_run_dir(cfg, "pretrain")

        def absolute(p: str | None) -> str | None:
            return str(Path(p).expanduser().resolve()) if p and Path(p).expanduser().exists() else p

        cfg = replace(
            cfg,
            model=str(run_dir),
            data=absolute(cfg.data),
            valid_data=absolute(cfg.valid_data),
            tokenizer=absolute(cfg.tokenizer),
            adapter_path=str(run_dir),
            fine_tune_type="full",  # every weight, embeddings included
            num_layers=-1,
        )
        dump_config(cfg, run_dir / runs.CONFIG)
        return cfg, run_dir

    def build(
        self, cfg: RunConfig, run_dir: Path, log: Callable[[str], None], resuming: bool, rank: World
    ) -> Built:
        import mlx.core as mx
        from mlx.utils import tree_flatten
        from mlx_lm.models import llama

        corpus = prepare_corpus(cfg, run_dir, log)
        config_file = run_dir / "config.json"
        if resuming and config_file.is_file():
            config = json.loads(config_file.read_text(encoding="utf-8"))
        else:
            config = model_config(cfg, corpus)
            config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
        model = llama.Model(llama.ModelArgs.from_dict(config))
        if cfg.compute_dtype in ("float16", "bfloat16"):
            model.set_dtype(getattr(mx, cfg.compute_dtype))
        size = sum(v.size for _, v in tree_flatten(model.parameters()))
        log(f"Model: llama, {size / 1e6:.2f}M parameters, vocabulary {config['vocab_size']}")
        plan = BatchPlan(Windows(corpus.train), cfg.batch_size, cfg.max_seq_length, cfg.seed)
        return Built(
            model=model,
            optimizer=build_optimizer(cfg),
            trainable=size,
            loop_class=PretrainLoop,
            loop_args=dict(plan=plan, valid_set=Windows(corpus.valid)),
            make_sampler=lambda emit: _text_sampler(model, run_dir, cfg, emit),
            model_name=str(run_dir),
            oom_hint=(
                "lower batch_size, max_seq_length or the dimensions, or set grad_checkpoint: true"
            ),
        )


def run_pretrain(cfg: RunConfig | None, *args, **kwargs) -> RunResult:
    """Pretrain a llama from scratch on cfg.data (or continue the run in `resume_dir`);
    the same contract as run_sft (see stage.run_stage)."""
    return run_stage(Pretrain(), cfg, *args, **kwargs)
