"""Training throughput: our SFT against `mlx_lm lora`, same model, data and settings.

    python benchmarks/bench_train.py [--model SmolLM2-135M-Instruct] [--iters 24]

Runs, one after another in fresh processes: `mlx_lm lora` (its own main(), with a callback
that reports its numbers as JSON), `mlxstudio train` without packing, and with packing.
The base is first saved as float32 so all three train the same weights in the same dtype.
The data is a chat set of mixed lengths (short to long answers), written fresh.

Reported per run: tokens/s (every position computed, padding included), trained tokens/s
(positions counted in the loss), peak memory, and the ratios to mlx-lm. The figures are
those of the last report window (the second half of the run), after compilation.
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

TEXT = (
    "the model learns a small task from data and answers questions about cities rivers "
    "mountains numbers colours animals history science music food weather travel books "
    "people language time space energy water light sound trees stars ocean island road"
)
WORDS = TEXT.split(" ")


def write_dataset(folder: Path, n_train: int, n_valid: int, seed: int) -> Path:
    """Chat records whose answers range from a few words to a long paragraph."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def record() -> dict:
        question = " ".join(rng.choices(WORDS, k=rng.randint(4, 16))) + "?"
        answer_words = int(2 ** rng.uniform(2, 7.3))  # 4..160 words, most of them short
        answer = " ".join(rng.choices(WORDS, k=answer_words)) + "."
        return {
            "messages": [
                {"role": "user", "content": question.capitalize()},
                {"role": "assistant", "content": answer.capitalize()},
            ]
        }

    for name, n in (("train", n_train), ("valid", n_valid)):
        with (folder / f"{name}.jsonl").open("w") as fh:
            for _ in range(n):
                fh.write(json.dumps(record()) + "\n")
    return folder


def float32_copy(model_path: Path, out: Path) -> Path:
    import mlx.core as mx
    from mlx_lm.utils import dequantize_model, load, save

    model, tokenizer, config = load(str(model_path), return_config=True)
    model = dequantize_model(model)
    model.set_dtype(mx.float32)
    config.pop("quantization", None)
    config.pop("quantization_config", None)
    save(out, model_path, model, tokenizer, config)
    return out


def mlx_lm_padding_ratio(model: Path, data: Path, batch_size: int, max_seq: int) -> float:
    """Positions computed / positions trained over one epoch of mlx-lm's own batching."""
    import types

    import numpy as np
    from mlx_lm.tuner.datasets import CacheDataset, load_dataset
    from mlx_lm.tuner.trainer import iterate_batches
    from mlx_lm.utils import load

    _, tokenizer = load(str(model))
    args = types.SimpleNamespace(data=str(data), train=True, test=False, mask_prompt=False)
    train, _, _ = load_dataset(args, tokenizer)
    padded = trained = 0
    for batch, lengths in iterate_batches(CacheDataset(train), batch_size, max_seq):
        rows, width = batch.shape
        steps = np.arange(1, width)
        lengths = np.array(lengths)
        mask = (steps >= lengths[:, :1]) & (steps <= lengths[:, 1:])  # as default_loss
        padded += rows * (width - 1)
        trained += int(mask.sum())
    return padded / trained


def mlx_lm_child(argv: list[str]) -> None:
    """Inside the child: mlx-lm's own `lora` main(), reporting through a JSON callback."""
    import mlx.core as mx
    import mlx_lm.lora as lora
    from mlx_lm.tuner.callbacks import TrainingCallback

    class Report(TrainingCallback):
        def on_train_loss_report(self, info: dict) -> None:
            info = dict(info, peak_memory=mx.get_peak_memory() / 1e9)
            print("@mlxlm " + json.dumps(info), flush=True)

    lora.get_reporting_callbacks = lambda *a, **k: Report()
    sys.argv = ["mlx_lm.lora", *argv]
    lora.main()


def run_mlx_lm(model: Path, data: Path, opts, workdir: Path, ratio: float) -> dict:
    argv = [
        "--model", str(model), "--train", "--data", str(data), "--iters", str(opts.iters),
        "--batch-size", str(opts.batch_size), "--num-layers", str(opts.num_layers),
        "--learning-rate", "1e-4", "--steps-per-report", str(opts.iters // 2),
        "--steps-per-eval", "100000", "--val-batches", "1", "--save-every", "100000",
        "--max-seq-length", str(opts.max_seq_length),
        "--adapter-path", str(workdir / "mlx-lm-adapters"),
    ]  # fmt: skip
    out = child([sys.executable, __file__, "--child-mlx-lm", *argv])
    reports = [json.loads(x[7:]) for x in out.splitlines() if x.startswith("@mlxlm ")]
    last = reports[-1]
    return {
        "tokens_per_second": last["tokens_per_second"] * ratio,
        "trained_tokens_per_second": last["tokens_per_second"],
        "peak_memory_gb": last["peak_memory"],
    }


def run_ours(model: Path, data: Path, opts, workdir: Path, packing: bool) -> dict:
    import yaml

    name = "ours-packed" if packing else "ours"
    cfg = {
        "model": str(model),
        "data": str(data),
        "name": name,
        "adapter_path": str(workdir / name),
        "iters": opts.iters,
        "batch_size": opts.pack_batch_size if packing else opts.batch_size,
        "num_layers": opts.num_layers,
        "learning_rate": 1e-4,
        "steps_per_report": opts.iters // 2,
        "steps_per_eval": 100000,
        "val_batches": 1,
        "save_every": 100000,
        "max_seq_length": opts.max_seq_length,
        "compute_dtype": "model",
        "packing": packing,
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = child([sys.executable, "-m", "mlxstudio", "train", str(path), "--events"])
    trains = [json.loads(x[7:]) for x in out.splitlines() if x.startswith("@event ")]
    last = [e for e in trains if e["event"] == "train"][-1]
    return {
        "tokens_per_second": last["padded_tokens_per_second"],
        "trained_tokens_per_second": last["tokens_per_second"],
        "peak_memory_gb": last["peak_memory_gb"],
    }


def child(cmd: list[str]) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlxstudio.core.platform import with_fast_blas

    proc = subprocess.run(cmd, capture_output=True, text=True, env=with_fast_blas(env))
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr}")
    return proc.stdout


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-mlx-lm":
        return mlx_lm_child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--iters", type=int, default=24, help="even; two report windows")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--pack-batch-size", type=int, default=1)
    parser.add_argument("--num-layers", type=int, default=8)
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--json", help="also write the figures to this file")
    opts = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlxstudio.core.models.local import resolve_model

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = float32_copy(resolve_model(opts.model), work / "model-f32")
        data = write_dataset(work / "data", opts.examples, 8, seed=0)
        ratio = mlx_lm_padding_ratio(model, data, opts.batch_size, opts.max_seq_length)
        results = {
            "mlx_lm lora": run_mlx_lm(model, data, opts, work, ratio),
            "mlxstudio": run_ours(model, data, opts, work, packing=False),
            "mlxstudio packed": run_ours(model, data, opts, work, packing=True),
        }
    base = results["mlx_lm lora"]
    print(f"\n{opts.model}, {opts.examples} chat examples of mixed lengths, {opts.iters} steps")
    head = ("run", "tokens/s", "trained/s", "peak GB", "x tok", "x trained")
    print("{:18} {:>9} {:>10} {:>8} {:>6} {:>9}".format(*head))
    for name, r in results.items():
        r["ratio_tokens"] = r["tokens_per_second"] / base["tokens_per_second"]
        r["ratio_trained"] = r["trained_tokens_per_second"] / base["trained_tokens_per_second"]
        print(
            f"{name:18} {r['tokens_per_second']:9.1f} {r['trained_tokens_per_second']:10.1f} "
            f"{r['peak_memory_gb']:8.2f} {r['ratio_tokens']:6.2f} {r['ratio_trained']:9.2f}"
        )
    if opts.json:
        Path(opts.json).write_text(json.dumps({"settings": vars(opts), "results": results}))


if __name__ == "__main__":
    main()
