"""Memory estimate vs measured peak: core/models/memory.py against `mlxstudio train`.

    python benchmarks/bench_memory.py [--only NAME ...] [--iters 3] [--json out.json]

Each configuration trains a few steps in a fresh `mlxstudio train` process (the compute
dtype this platform uses: float32 on Linux) on rows long enough to fill max_seq_length,
and the largest peak_memory_gb of its metrics.jsonl is compared with the estimate. Models:
the tiny random llama of the tests and the SmolLM2-135M demo model (installed from its
wheel). The last line checks the estimate for a Llama-2-7B shape, 4-bit, LoRA rank 8 on
16 layers, batch 1, 512 tokens, float16 compute, against the 8.7 GB mlx-lm measured on a
GPU for that setting.

A run here (Linux CPU, float32, 2 iterations each):

    configuration                  predicted  measured   error
    tiny lora b4 s256                 0.084G    0.082G   +1.6%
    smol lora r8 16L b1 s512          1.499G    1.518G   -1.2%
    smol lora r8 all b2 s256          1.784G    1.850G   -3.6%
    smol lora r16 8L b1 s1024         2.103G    2.122G   -0.9%
    smol dora r8 16L b2 s256          1.576G    1.619G   -2.6%
    smol full 4L b1 s512              1.232G    1.243G   -0.9%
    smol lora all b2 s256 ckpt        0.964G    1.056G   -8.7%
    llama2-7b 4-bit lora r8 16L b1 s512 (GPU, fp16)  7.045G  8.700G  -19.0%

The SmolLM2 rows are the ones the coefficients were fitted to; the tiny model (another
shape) and the Llama-2-7B row (another dtype, quantized weights) were not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mlxstudio.core.models.memory import ModelShape, TrainSettings, estimate  # noqa: E402

# name, model, fine_tune_type, rank, num_layers, batch, seq, grad_checkpoint
CONFIGS = [
    ("tiny lora b4 s256", "tiny", "lora", 8, -1, 4, 256, False),
    ("smol lora r8 16L b1 s512", "smol", "lora", 8, 16, 1, 512, False),
    ("smol lora r8 all b2 s256", "smol", "lora", 8, -1, 2, 256, False),
    ("smol lora r16 8L b1 s1024", "smol", "lora", 16, 8, 1, 1024, False),
    ("smol dora r8 16L b2 s256", "smol", "dora", 8, 16, 2, 256, False),
    ("smol full 4L b1 s512", "smol", "full", 8, 4, 1, 512, False),
    ("smol lora all b2 s256 ckpt", "smol", "lora", 8, -1, 2, 256, True),
]

LLAMA2_7B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "intermediate_size": 11008,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "torch_dtype": "float16",
    "quantization": {"group_size": 64, "bits": 4},
}
LLAMA2_7B_MEASURED_GB = 8.7


def write_long_text(folder: Path, n: int, words: int, seed: int = 0) -> Path:
    """Text records longer than any max_seq_length used here: every row is full."""
    rng = random.Random(seed)
    vocab = ["the", "model", "learns", "paris", "fox", "dog", "data", "token", "memory"]
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "valid"):
        with (folder / f"{name}.jsonl").open("w") as fh:
            for _ in range(n):
                fh.write(json.dumps({"text": " ".join(rng.choices(vocab, k=words))}) + "\n")
    return folder


def measure(model: Path, data: Path, work: Path, cfg: tuple, iters: int) -> float:
    name, _, method, rank, layers, batch, seq, ckpt = cfg
    run = work / name.replace(" ", "-")
    yaml = work / f"{run.name}.yaml"
    yaml.write_text(
        f"model: {model}\ndata: {data}\nfine_tune_type: {method}\nnum_layers: {layers}\n"
        f"batch_size: {batch}\nmax_seq_length: {seq}\ngrad_checkpoint: {str(ckpt).lower()}\n"
        f"iters: {iters}\nsteps_per_report: 1\nsteps_per_eval: 1000\nval_batches: 1\n"
        f"save_every: 1000\nlearning_rate: 1e-5\nadapter_path: {run}\n"
        f"lora_parameters: {{rank: {rank}, scale: 20.0, dropout: 0.0}}\n"
    )
    env = dict(os.environ, MLXSTUDIO_HOME=str(work / "home"))
    proc = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "train", str(yaml)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name}: training failed:\n{proc.stderr[-2000:]}")
    peaks = [
        e["peak_memory_gb"]
        for e in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        if "peak_memory_gb" in e
    ]
    return max(peaks)


def predicted(model: Path, cfg: tuple) -> float:
    from mlxstudio.core.platform import compute_dtype_name

    _, _, method, rank, layers, batch, seq, ckpt = cfg
    settings = TrainSettings(
        fine_tune_type=method,
        rank=rank,
        num_layers=layers,
        batch_size=batch,
        max_seq_length=seq,
        grad_checkpoint=ckpt,
        compute_dtype=compute_dtype_name(),
    )
    return estimate(ModelShape.from_folder(model), settings).peak_gb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="substrings of configuration names to run")
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    from tiny_model import build_tiny_llama

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        os.environ["MLXSTUDIO_HOME"] = str(work / "home")
        from mlxstudio.core.models.demo import install_demo

        models = {"tiny": build_tiny_llama(work / "tiny", hidden=128, layers=4)}
        models["smol"] = install_demo()
        data = write_long_text(work / "data", n=8, words=1200)
        print(f"{'configuration':30} {'predicted':>9} {'measured':>9} {'error':>7}")
        for cfg in CONFIGS:
            if args.only and not any(o in cfg[0] for o in args.only):
                continue
            model = models[cfg[1]]
            got = measure(model, data, work, cfg, args.iters)
            want = predicted(model, cfg)
            err = (want - got) / got
            rows.append(dict(name=cfg[0], predicted_gb=want, measured_gb=got, error=err))
            print(f"{cfg[0]:30} {want:8.3f}G {got:8.3f}G {err:+7.1%}", flush=True)
    big = estimate(
        ModelShape.from_config(LLAMA2_7B),
        TrainSettings(rank=8, num_layers=16, batch_size=1, max_seq_length=512),
    )
    err = (big.peak_gb - LLAMA2_7B_MEASURED_GB) / LLAMA2_7B_MEASURED_GB
    print(
        f"{'llama2-7b 4-bit lora r8 16L b1 s512 (GPU, fp16)':30} {big.peak_gb:8.3f}G "
        f"{LLAMA2_7B_MEASURED_GB:8.3f}G {err:+7.1%}  (weights {big.weights_gb:.2f}, "
        f"activations {big.activations_gb:.2f}, trainable {big.trainable_gb:.2f} GB)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
