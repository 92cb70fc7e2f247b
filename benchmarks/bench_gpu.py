"""Training on an accelerator: ours, ours packed, `mlx_lm lora` and PyTorch + PEFT on the
same random model of a real shape and the same chats, and our memory estimate for each.

    python benchmarks/bench_gpu.py [--shape 1b|7b|tiny] [--bits 4] [--runs ours,packed,...]

Headless (no Qt), meant for a GPU (MLX's CUDA or Metal backend; torch with CUDA for the
PyTorch row). Every run is a fresh process. The model is a random llama of the named shape
in bfloat16 (or quantized to --bits) with the demo model's tokenizer; the data is chats of
mixed length (--long: ~2,000 tokens each). Figures are those of the second report window
(after compilation): trained tokens/s (positions in the loss), all positions/s, the peak
memory, and the estimate of core/models/memory.py for the same settings with its error.

Runs (--runs): ours, packed, gc (ours with grad_checkpoint), packed_gc, mlx_lm, torch.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import WORDS, child, run_mlx_lm, write_dataset  # noqa: E402
from gpu_numerics import build_model, demo_tokenizer, train  # noqa: E402

SHAPES = {
    "tiny": dict(hidden_size=128, num_hidden_layers=4, intermediate_size=256,
                 num_attention_heads=4, num_key_value_heads=2),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, intermediate_size=8192,
               num_attention_heads=32, num_key_value_heads=8),
    "7b": dict(hidden_size=4096, num_hidden_layers=32, intermediate_size=11008,
               num_attention_heads=32, num_key_value_heads=32),
}  # fmt: skip
LORA = {"rank": 8, "scale": 20.0, "dropout": 0.0}


def write_long_chats(folder: Path, n: int, words: int, seed: int) -> Path:
    """Chats of about `words` words each (SmolLM2's tokenizer: ~1.3 tokens a word here)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", n), ("valid", 4)):
        with (folder / f"{name}.jsonl").open("w") as fh:
            for _ in range(count):
                answer = " ".join(rng.choices(WORDS, k=rng.randint(words * 9 // 10, words)))
                messages = [
                    {"role": "user", "content": "Tell me everything you know."},
                    {"role": "assistant", "content": answer.capitalize() + "."},
                ]
                fh.write(json.dumps({"messages": messages}) + "\n")
    return folder


def longest_example(model: Path, data: Path) -> int:
    """Tokens of the training set's longest example, as mlx-lm tokenizes it."""
    import types

    from mlx_lm.tuner.datasets import load_dataset
    from mlx_lm.utils import load_tokenizer

    tokenizer = load_tokenizer(model)
    args = types.SimpleNamespace(data=str(data), train=True, test=False, mask_prompt=False)
    train_set, _, _ = load_dataset(args, tokenizer)
    return max(len(train_set.process(train_set[i])[0]) for i in range(len(train_set)))


def estimate_for(model: Path, opts, longest: int, packing: bool, gc: bool) -> float:
    from mlxstudio.core.models.memory import ModelShape, TrainSettings, estimate
    from mlxstudio.core.platform import backend

    here = backend()
    settings = TrainSettings(
        rank=LORA["rank"],
        num_layers=opts.num_layers,
        batch_size=opts.pack_batch_size if packing else opts.batch_size,
        max_seq_length=opts.max_seq_length,
        grad_checkpoint=gc,
        compute_dtype=here.dtype,
        packing=packing,
        longest_example=longest,
        backend=here.name,
    )
    return estimate(ModelShape.from_folder(model), settings).peak_gb


def run_ours(model: Path, data: Path, opts, work: Path, packing: bool, gc: bool) -> dict:
    name = "ours" + ("-packed" if packing else "") + ("-gc" if gc else "")
    run = train(
        work, name, model=str(model), data=str(data), iters=opts.iters,
        batch_size=opts.pack_batch_size if packing else opts.batch_size,
        num_layers=opts.num_layers, learning_rate=1e-4, steps_per_report=opts.iters // 2,
        steps_per_eval=100000, val_batches=1, max_seq_length=opts.max_seq_length,
        lora_parameters=LORA, packing=packing, grad_checkpoint=gc, memory_guard=0,
    )  # fmt: skip
    last = run["train"][-1]
    return {
        "tokens_per_second": last["padded_tokens_per_second"],
        "trained_tokens_per_second": last["tokens_per_second"],
        "peak_memory_gb": max(e["peak_memory_gb"] for e in run["train"]),
        "final_loss": last["train_loss"],
    }


def torch_child(argv: list[str]) -> None:
    """Inside the child: PyTorch + PEFT LoRA with mlx-lm's batching, reporting JSON."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, LlamaForCausalLM

    model_dir, data, batch, max_seq, layers, iters = argv
    batch, max_seq, layers, iters = int(batch), int(max_seq), int(layers), int(iters)
    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = [json.loads(x) for x in Path(data, "train.jsonl").read_text().splitlines()]
    texts = [tok.apply_chat_template(r["messages"], tokenize=False) for r in rows]
    seqs = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    seqs = sorted((s[:max_seq] for s in seqs), key=len)
    batches = [seqs[i : i + batch] for i in range(0, len(seqs) - batch + 1, batch)]
    model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.bfloat16).cuda()
    n = model.config.num_hidden_layers
    lora = LoraConfig(
        r=LORA["rank"], lora_alpha=LORA["scale"] * LORA["rank"], lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"],
        layers_to_transform=list(range(max(0, n - layers), n)),
    )  # fmt: skip
    model = get_peft_model(model, lora)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    rng = np.random.default_rng(0)
    trained, seconds = 0, 0.0
    for step in range(iters):
        group = batches[rng.integers(len(batches))]
        width = min(1 + 32 * ((max(map(len, group)) + 31) // 32), max_seq)
        ids = torch.zeros((len(group), width), dtype=torch.long)
        for r, s in enumerate(group):
            ids[r, : len(s)] = torch.tensor(s)
        lengths = torch.tensor([len(s) for s in group])
        ids = ids.cuda()
        torch.cuda.synchronize()
        tic = time.perf_counter()
        logits = model(input_ids=ids[:, :-1]).logits.float()
        mask = (torch.arange(1, width)[None] < lengths[:, None]).cuda()
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        loss = (ce * mask).sum() / mask.sum()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if step >= iters // 2:  # the second half, as the other runs
            seconds += time.perf_counter() - tic
            trained += int(mask.sum())
    report = {
        "trained_tokens_per_second": trained / seconds,
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 1e9,
        "final_loss": float(loss),
    }
    print("@torch " + json.dumps(report), flush=True)


def run_torch(model: Path, data: Path, opts) -> dict:
    argv = [str(model), str(data), str(opts.batch_size), str(opts.max_seq_length)]
    argv += [str(opts.num_layers), str(opts.iters)]
    out = child([sys.executable, __file__, "--child-torch", *argv])
    line = [x for x in out.splitlines() if x.startswith("@torch ")][-1]
    return json.loads(line[7:])


def probe_child(argv: list[str]) -> None:
    """Inside the child: one 2,048-token step's peak memory, forward alone and with the
    LoRA gradient, on the model in argv[0] (where does a QLoRA step's memory go?)."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.tuner.trainer import default_loss
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load

    model, _ = load(argv[0])
    model.freeze()
    linear_to_lora_layers(model, 16, dict(LORA))
    tokens = int(argv[1]) if len(argv) > 1 else 2048
    batch = mx.random.randint(0, 1000, (1, tokens + 1))
    lengths = mx.array([[0, tokens]])
    mx.eval(model.parameters())
    base = mx.get_active_memory()
    report = {"weights_gb": base / 1e9}
    mx.reset_peak_memory()
    mx.eval(model(batch[:, :-1]))
    report["forward_peak_gb"] = mx.get_peak_memory() / 1e9
    step = nn.value_and_grad(model, default_loss)
    for name in ("grad_peak_gb", "grad_peak_again_gb"):
        mx.reset_peak_memory()
        (loss, _), grad = step(model, batch, lengths)
        mx.eval(loss, grad)
        report[name] = mx.get_peak_memory() / 1e9
    print("@probe " + json.dumps(report), flush=True)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-probe":
        return probe_child(sys.argv[2:]) or 0
    if len(sys.argv) > 1 and sys.argv[1] == "--child-torch":
        return torch_child(sys.argv[2:]) or 0
    if len(sys.argv) > 1 and sys.argv[1] == "--child-mlx-lm":
        from bench_train import mlx_lm_child

        return mlx_lm_child(sys.argv[2:]) or 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    parser.add_argument("--bits", type=int, help="quantize the base (4: QLoRA)")
    parser.add_argument("--tokenizer", type=Path, help="folder with tokenizer.json (default: demo)")
    parser.add_argument("--runs", default="mlx_lm,ours,packed,torch")
    parser.add_argument("--iters", type=int, default=40, help="even; two report windows")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--pack-batch-size", type=int, default=2)
    parser.add_argument("--num-layers", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=1024)
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--long", type=int, default=0, help="words per chat (0: mixed lengths)")
    parser.add_argument("--json", help="also write the figures to this file")
    opts = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlxstudio.core.platform import backend

    here = backend()
    runs = opts.runs.split(",")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tic = time.perf_counter()
        tokenizer = opts.tokenizer or demo_tokenizer()
        model = build_model(work / "model", SHAPES[opts.shape], tokenizer, bits=opts.bits)
        if opts.long:
            data = write_long_chats(work / "data", opts.examples, opts.long, seed=0)
        else:
            data = write_dataset(work / "data", opts.examples, 8, seed=0)
        longest = longest_example(model, data)
        print(f"model and data ready in {time.perf_counter() - tic:.0f}s; longest example "
              f"{longest} tokens", flush=True)  # fmt: skip
        for run in runs:
            packing, gc = run.startswith("packed"), run.endswith("gc")
            try:
                if run.startswith("probe"):  # probe, or probe-nographs: no CUDA graphs
                    import os

                    env = {"MLX_USE_CUDA_GRAPHS": "0"} if run.endswith("nographs") else {}
                    os.environ.update(env)
                    out = child([sys.executable, __file__, "--child-probe", str(model)])
                    for key in env:
                        os.environ.pop(key)
                    line = [x for x in out.splitlines() if x.startswith("@probe ")][-1]
                    results[run] = {"probe": json.loads(line[7:])}
                    print(f"{run}: {json.dumps(results[run])}", flush=True)
                    continue
                if run == "mlx_lm":
                    # trained tokens only: mlx-lm's own figure (ratio 1 for its padding)
                    opts.steps_per_report = opts.iters // 2
                    results[run] = run_mlx_lm(model, data, opts, work, 1.0)
                elif run == "torch":
                    results[run] = run_torch(model, data, opts)
                else:
                    results[run] = run_ours(model, data, opts, work, packing, gc)
                    results[run]["estimate_gb"] = estimate_for(model, opts, longest, packing, gc)
            except SystemExit as err:  # one failed run (out of memory, say) is a row too
                results[run] = {"error": str(err)[-600:]}
            print(f"{run}: {json.dumps(results[run])}", flush=True)
    what = f"{opts.shape}" + (f" {opts.bits}-bit" if opts.bits else " bfloat16")
    print(f"\n{what} random llama, {opts.examples} chats, batch {opts.batch_size} (packed: "
          f"{opts.pack_batch_size} rows), max_seq_length {opts.max_seq_length}, rank 8 on "
          f"{opts.num_layers} layers, {opts.iters} steps; {here.describe()}")  # fmt: skip
    base = results.get("mlx_lm", {}).get("trained_tokens_per_second")
    print(
        f"{'run':14} {'trained tok/s':>13} {'x mlx_lm':>8} {'peak GB':>8} {'est GB':>7} {'err':>6}"
    )
    for name, r in results.items():
        if "probe" in r:
            print(f"{name:14} {r['probe']}")
            continue
        if "error" in r:
            print(f"{name:14} failed: {r['error'].splitlines()[-1][:90]}")
            continue
        tps = r["trained_tokens_per_second"]
        ratio = f"{tps / base:.2f}x" if base else "-"
        est = r.get("estimate_gb")
        err = f"{est / r['peak_memory_gb'] - 1:+.0%}" if est else "-"
        print(
            f"{name:14} {tps / 1000:12.2f}k {ratio:>8} {r['peak_memory_gb']:8.2f} "
            f"{est or 0:7.2f} {err:>6}"
        )
    if opts.json:
        Path(opts.json).write_text(
            json.dumps({"settings": vars(opts), "results": results}, default=str)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
