"""RL throughput: our DPO and GRPO against mlx-lm-lora's, same model, data and settings.

    python benchmarks/bench_rl.py [--model SmolLM2-135M-Instruct] [--iters 6]
    python benchmarks/bench_rl.py --shape 360m --tokenizer DIR --package WHEEL_OR_DIR

mlx-lm-lora (PyPI `mlx-lm-lora`) is installed for this run only, with `pip install --target`
into a temporary folder (never into our environment; its own dependencies are mlx and
mlx-lm, which we have, and tqdm); --package names a copy already here instead (its wheel, a
folder holding the wheel, or an unpacked one), for a machine without a registry. --shape
trains a random model of SmolLM2's 135M or 360M shape in bfloat16 with the tokenizer in
--tokenizer (for a machine without the demo model). Each trainer runs in a fresh process,
one after another:

- DPO (sigmoid loss, beta 0.1) on resources/sample_data/rl/preference;
- GRPO (group 4, 32 new tokens, temperature 1, clip 0.2, KL weight 0.05, one update per
  step) on resources/sample_data/rl/prompts, rewarded min(1, 20 / words) by both.

Both: LoRA rank 8, scale 20 on the last 8 layers, Adam at 1e-5, batch 2, the prompts through
the chat template. mlx-lm-lora loads a second copy of the model as its reference, as its
own `mlx_lm_lora.train` does; ours swaps the adapter out instead (core/rl/reference.py).
Their `train_dpo` / `train_grpo` run as they are, reporting through a callback.

Reported: steps/s over the steps after the first (which compiles), the tokens/s each counts
(DPO: response tokens of both answers for us, every chosen + rejected token for them;
GRPO: response tokens for us, their own count), and peak memory (MLX's peak).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mlx-lm-lora"
SHAPES = {  # SmolLM2's configurations (tied embeddings), for random models of their shape
    "135m": dict(hidden_size=576, num_hidden_layers=30, intermediate_size=1536,
                 num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True),
    "360m": dict(hidden_size=960, num_hidden_layers=32, intermediate_size=2560,
                 num_attention_heads=15, num_key_value_heads=5, tie_word_embeddings=True),
}  # fmt: skip
LORA = {"rank": 8, "scale": 20.0, "dropout": 0.0}
MAX_WORDS = 20


def settings(opts) -> dict:
    return dict(
        iters=opts.iters,
        batch_size=2,
        num_layers=8,
        learning_rate=1e-5,
        max_seq_length=256,
        beta=0.1,
        group_size=4,
        max_new_tokens=32,
        temperature=1.0,
        clip_range=0.2,
        kl_coef=0.05,
    )


def reward(completions: list[str]) -> list[float]:
    """The same reward on both sides: short answers (at most MAX_WORDS words) score 1."""
    return [min(1.0, MAX_WORDS / max(len(c.split()), 1)) for c in completions]


# -- ours ---------------------------------------------------------------------------------
def run_ours(kind: str, model: Path, s: dict, work: Path) -> dict:
    import yaml

    data = (
        ROOT / "resources" / "sample_data" / "rl" / ("preference" if kind == "dpo" else "prompts")
    )
    reward_file = work / "short.py"
    reward_file.write_text(
        "from mlxstudio.core.rl.rewards import RewardModel\n"
        "class Short(RewardModel):\n"
        "    def compute_reward(self, prompts, responses):\n"
        f"        return [min(1.0, {MAX_WORDS} / max(len(r.split()), 1)) for r in responses]\n"
    )
    cfg = {
        "model": str(model),
        "data": str(data),
        "name": f"ours-{kind}",
        "stage": kind,
        "iters": s["iters"],
        "batch_size": s["batch_size"],
        "num_layers": s["num_layers"],
        "learning_rate": s["learning_rate"],
        "lora_parameters": LORA,
        "max_seq_length": s["max_seq_length"],
        "steps_per_report": 1,
        "steps_per_eval": 10**6,
        "save_every": 10**6,
        "compute_dtype": "model",
    }
    if kind == "dpo":
        cfg |= {"beta": s["beta"], "preference_loss": "sigmoid"}
    else:
        cfg |= {
            "reward_model": f"{reward_file}:Short",
            "group_size": s["group_size"],
            "max_new_tokens": s["max_new_tokens"],
            "temperature": s["temperature"],
            "clip_range": s["clip_range"],
            "kl_coef": s["kl_coef"],
            "ppo_epochs": 1,
        }
    path = work / f"ours-{kind}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {"MLXSTUDIO_HOME": str(work / "home")}
    out = child([sys.executable, "-m", "mlxstudio", "train", str(path), "--events"], env)
    events = [json.loads(x[7:]) for x in out.splitlines() if x.startswith("@event ")]
    reports = [
        dict(
            seconds=1 / e["iterations_per_second"],
            tokens=e["tokens_per_second"] / e["iterations_per_second"],
            peak=e["peak_memory_gb"],
            reward=e.get("reward_mean", e.get("margin")),
        )
        for e in events
        if e["event"] == "train"
    ]
    return summary(reports)


# -- theirs (inside a child process with the package on sys.path) -------------------------
def lora_child(kind: str, model_path: str, s: dict, work: str) -> None:
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx_lm import load
    from mlx_lm.tuner.callbacks import TrainingCallback
    from mlx_lm.tuner.utils import linear_to_lora_layers

    sys.path.insert(0, str(ROOT))
    from mlxstudio.core.config import RunConfig
    from mlxstudio.core.rl.data import data_files, read_pairs, read_prompts
    from mlxstudio.core.rl.logprobs import encode_prompt, encode_response

    info = mx.device_info()
    if "max_recommended_working_set_size" not in info:  # CPU: their set_wired_limit reads it
        size = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        mx.device_info = lambda: dict(info, max_recommended_working_set_size=size)

    class Report(TrainingCallback):
        def on_train_loss_report(self, i: dict) -> None:
            line = dict(
                seconds=1 / i["iterations_per_second"],
                tokens=i["tokens_per_second"] / i["iterations_per_second"],
                peak=i["peak_memory"],
                reward=i.get("train_total_rewards_mean", i.get("train_margins")),
            )
            print("@lora " + json.dumps({k: float(v) for k, v in line.items()}), flush=True)

    model, tokenizer = load(model_path)
    model.freeze()
    linear_to_lora_layers(model, s["num_layers"], LORA)
    reference, _ = load(model_path)  # as mlx_lm_lora.train's load_reference_model
    reference.freeze()
    optimizer = optim.Adam(learning_rate=s["learning_rate"])
    cfg = RunConfig()  # the data readers' field names, at their defaults
    adapter = str(Path(work) / f"lora-{kind}.safetensors")
    common = dict(
        batch_size=s["batch_size"],
        iters=s["iters"],
        steps_per_report=1,
        steps_per_eval=10**6,
        steps_per_save=10**6,
        max_seq_length=s["max_seq_length"],
        adapter_file=adapter,
    )
    if kind == "dpo":
        from mlx_lm_lora.trainer.dpo_trainer import DPOTrainingArgs, train_dpo

        train, _ = data_files(str(ROOT / "resources" / "sample_data" / "rl" / "preference"))
        items = []
        for pair in read_pairs(train, cfg):
            prompt = encode_prompt(tokenizer, pair.prompt)
            items.append(
                {
                    "chosen": prompt + encode_response(tokenizer, pair.chosen),
                    "rejected": prompt + encode_response(tokenizer, pair.rejected),
                    "chosen_prompt_length": len(prompt),
                    "rejected_prompt_length": len(prompt),
                }
            )
        args = DPOTrainingArgs(**common, beta=s["beta"], loss_type="sigmoid")
        train_dpo(model, reference, optimizer, items, None, args, training_callback=Report())
    else:
        from mlx_lm_lora.trainer.grpo_trainer import GRPOTrainingArgs, train_grpo

        def short(prompts, completions, answer, types=None):
            return reward(completions)

        train, _ = data_files(str(ROOT / "resources" / "sample_data" / "rl" / "prompts"))
        items = [
            (encode_prompt(tokenizer, p.text), [], p.text, "", None)
            for p in read_prompts(train, cfg)
        ]
        args = GRPOTrainingArgs(
            **common,
            group_size=s["group_size"],
            beta=s["kl_coef"],
            epsilon=s["clip_range"],
            max_completion_length=s["max_new_tokens"],
            temperature=s["temperature"],
            top_p=1.0,
            top_k=0,
        )
        train_grpo(
            model,
            reference,
            tokenizer,
            optimizer,
            items,
            None,
            reward_funcs=[short],
            args=args,
            training_callback=Report(),
        )


def run_theirs(kind: str, model: Path, s: dict, work: Path, package: Path) -> dict:
    # ahead of what is on the path already (where MLX itself may come from a PYTHONPATH)
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(package), os.environ.get("PYTHONPATH")]))
    }
    cmd = [sys.executable, __file__, "--child-lora", kind, str(model), json.dumps(s), str(work)]
    out = child(cmd, env)
    return summary([json.loads(x[6:]) for x in out.splitlines() if x.startswith("@lora ")])


# -- running ------------------------------------------------------------------------------
def summary(reports: list[dict]) -> dict:
    """steps/s and tokens/s over the reports after the first (compilation), peak memory."""
    timed = reports[1:] or reports
    seconds = sum(r["seconds"] for r in timed)
    return {
        "steps_per_second": len(timed) / seconds,
        "tokens_per_second": sum(r["tokens"] for r in timed) / seconds,
        "peak_memory_gb": max(r["peak"] for r in reports),
        "first_reward": reports[0]["reward"],
        "last_reward": reports[-1]["reward"],
    }


def child(cmd: list[str], extra: dict[str, str]) -> str:
    sys.path.insert(0, str(ROOT))
    from mlxstudio.core.platform import with_fast_blas

    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false") | extra
    proc = subprocess.run(cmd, capture_output=True, text=True, env=with_fast_blas(env))
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[:5])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def install(target: Path, copy: Path | None = None) -> Path:
    """mlx-lm-lora into `target` only (no dependencies: it runs on our mlx and mlx-lm), from
    the registry, or from `copy`: its wheel, a folder holding one, or an unpacked package."""
    if copy is None:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
        subprocess.run([*cmd, str(target), PACKAGE], check=True)
        return target
    if (copy / "mlx_lm_lora").is_dir():
        return copy
    wheels = [copy] if copy.is_file() else sorted(copy.glob("mlx_lm_lora-*.whl"))
    if len(wheels) != 1:
        found = ", ".join(w.name for w in wheels) or "no mlx_lm_lora-*.whl"
        raise SystemExit(f"{copy}: {found}; name one wheel or an unpacked mlx_lm_lora folder")
    with zipfile.ZipFile(wheels[0]) as whl:  # a pure-Python wheel is the package, zipped
        whl.extractall(target)
    return target


def random_model(shape: str, tokenizer: Path, out: Path) -> Path:
    """A random bfloat16 llama of SmolLM2's `shape` with `tokenizer` (gpu_numerics.py's)."""
    from gpu_numerics import build_model

    return build_model(out, SHAPES[shape], tokenizer, dtype="bfloat16")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-lora":
        kind, model, s, work = sys.argv[2:6]
        return lora_child(kind, model, json.loads(s), work)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument(
        "--iters", type=int, default=6, help="steps per run (the first is not timed)"
    )
    parser.add_argument("--only", choices=("dpo", "grpo"), help="one method only")
    parser.add_argument("--package", type=Path, help="mlx-lm-lora's wheel (or folder) to use")
    parser.add_argument("--shape", choices=sorted(SHAPES), help="a random model of this shape")
    parser.add_argument("--tokenizer", type=Path, help="--shape's tokenizer (default: demo)")
    parser.add_argument("--json", help="also write the figures to this file")
    opts = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_train import float32_copy

    from mlxstudio.core.models.local import resolve_model

    s = settings(opts)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if opts.shape:  # the same bf16 weights for both
            from gpu_numerics import demo_tokenizer

            tokenizer = opts.tokenizer or demo_tokenizer()
            model = random_model(opts.shape, tokenizer, work / f"random-{opts.shape}")
        else:  # float32 weights for both (bench_train.py's copy): the same weights and dtype
            model = float32_copy(resolve_model(opts.model), work / "model-f32")
        package = install(work / "mlx-lm-lora", opts.package and opts.package.resolve())
        for kind in [opts.only] if opts.only else ["dpo", "grpo"]:
            results[f"{kind} mlx-lm-lora"] = run_theirs(kind, model, s, work, package)
            results[f"{kind} mlxstudio"] = run_ours(kind, model, s, work)
    name = f"random SmolLM2-{opts.shape.upper()} shape, bf16" if opts.shape else opts.model
    print(f"\n{name}, {opts.iters} steps each (the first not timed), batch 2")
    print(f"{'run':<20} {'steps/s':>8} {'tokens/s':>9} {'peak GB':>8} {'speed':>6} {'memory':>7}")
    for name, r in results.items():
        base = results[name.split()[0] + " mlx-lm-lora"]
        speed = r["steps_per_second"] / base["steps_per_second"]
        memory = r["peak_memory_gb"] / base["peak_memory_gb"]
        print(
            f"{name:<20} {r['steps_per_second']:>8.3f} {r['tokens_per_second']:>9.1f} "
            f"{r['peak_memory_gb']:>8.3f} {speed:>5.2f}x {memory:>6.2f}x"
        )
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
