"""Training on an accelerator: ours, ours packed, `mlx_lm lora` and PyTorch + PEFT on the
same random model of a real shape and the same chats, and our memory estimate for each.

    python benchmarks/bench_gpu.py [--shape 1b|7b|tiny] [--bits 4] [--runs ours,packed,...]

Headless (no Qt), meant for a GPU (MLX's CUDA or Metal backend; torch with CUDA for the
PyTorch row). Every run is a fresh process. The model is a random llama of the named shape
in bfloat16 (or quantized to --bits) with the demo model's tokenizer; the data is chats of
mixed length (--long: ~2,000 tokens each). Figures are those of the second report window
(after compilation): trained tokens/s (positions in the loss), all positions/s, the peak
memory, and the estimate of core/models/memory.py for the same settings with its error.

Runs (--runs): ours, packed, gc (ours with grad_checkpoint), packed_gc, mlx_lm, torch; a
run named NAME+mlxbuffers runs with MLX's own CUDA buffer sizes instead of ours
(core/platform.py). Probes of where memory goes: qmm (one 4-bit quantized_matmul at 7B
shapes, forward and backward, against its output and a dequantized weight's size) and
step-NAME (one compiled LoRA step on --probe-tokens tokens under a memory limit, with or
without checkpointing or CUDA graphs: STEP_PROBES).

Measured on one H200 (MLX 0.32.4, 2026-12-02), 7B-shape 4-bit, rank 8 on 16 layers, 2,048
tokens (--shape 7b --bits 4 --runs qmm,step-default,step-sync,...):

    quantized_matmul 4096->11008 forward +45 MB, forward+backward +62 MB (output 45 MB,
    input 17 MB, weight in bf16 90 MB): no dequantized weight copy

    step probe         weights fwd peak step peak 1st step  step s   tok/s
    step-default          4.49    10.64     25.94    15.50   0.346    5912
    step-sync             4.49     6.20     13.28    13.20   0.386    5301
    step-limit12          4.49    10.64     13.44    13.02   0.364    5621
    step-gc               4.49    10.66     22.17    12.36   0.438    4678
    step-gc-sync          4.49     6.20      7.21     7.14   0.509    4024
    step-gc-limit8        4.49     8.08      8.69     8.25   0.458    4468
    step-smallgraphs      4.49     6.50     14.05    12.94   0.349    5875
    step-nographs         4.49    18.46     25.22    22.82   0.362    5650

(sync: a limit so low that every op waits for the GPU, so the peak is what the step needs;
smallgraphs: the buffer sizes core/platform.py now sets; that model's embedding and head
were bf16, 0.58 GB over a fully 4-bit one.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from functools import partial
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
# MLX's own command-buffer sizes on an H100/H200 (core/platform.py sets smaller ones)
H200_BUFFERS = {"MLX_MAX_MB_PER_BUFFER": "1000", "MLX_MAX_OPS_PER_BUFFER": "100"}


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


def run_ours(
    model: Path, data: Path, opts, work: Path, packing: bool, gc: bool, tag: str = ""
) -> dict:
    name = "ours" + ("-packed" if packing else "") + ("-gc" if gc else "") + tag
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


def qmm_child(argv: list[str]) -> None:
    """Inside the child: one 4-bit quantized_matmul at a 7B layer's shapes on 2,048 tokens,
    forward and forward + backward (the input's gradient, as LoRA needs), evaluated alone:
    the memory it adds over its inputs, against its output and the weight in bfloat16 (a
    dequantized copy of the weight would show as that much more)."""
    import mlx.core as mx

    tokens, rows = int(argv[0]), []
    for n_in, n_out in ((4096, 4096), (4096, 11008), (11008, 4096)):
        mx.random.seed(0)
        w = mx.random.normal((n_out, n_in)).astype(mx.bfloat16) * 0.02
        wq, scales, biases = mx.quantize(w, group_size=64, bits=4)
        x = mx.random.normal((1, tokens, n_in)).astype(mx.bfloat16)
        cot = mx.random.normal((1, tokens, n_out)).astype(mx.bfloat16)
        del w
        mx.eval(wq, scales, biases, x, cot)
        mx.synchronize()
        mx.clear_cache()

        def f(x, wq=wq, scales=scales, biases=biases):
            return mx.quantized_matmul(x, wq, scales, biases, transpose=True, group_size=64, bits=4)

        def loss(x, cot=cot):
            return (f(x) * cot).astype(mx.float32).sum()

        row = {"shape": f"{n_in}->{n_out}"}
        for name, fn in (("forward", f), ("fwd+bwd", mx.grad(loss))):
            mx.synchronize()
            base = mx.get_active_memory()
            mx.reset_peak_memory()
            out = fn(x)
            mx.eval(out)
            mx.synchronize()
            row[name + "_extra_mb"] = (mx.get_peak_memory() - base) / 1e6
            del out
        row["output_mb"] = tokens * n_out * 2 / 1e6
        row["input_mb"] = tokens * n_in * 2 / 1e6
        row["bf16_weight_mb"] = n_in * n_out * 2 / 1e6
        rows.append(row)
    print("@qmm " + json.dumps(rows), flush=True)


# Probes of one training step (--runs step-NAME): MLX's memory limit in GB (None: MLX's
# default, 0.95 of the GPU; a tiny one makes every op wait for the GPU, so the peak is what
# the step needs), gradient checkpointing, and environment for MLX's CUDA backend.
STEP_PROBES = {
    "default": (None, False, {}),
    "sync": (0.001, False, {}),
    "limit12": (12.0, False, {}),
    "gc": (None, True, {}),
    "gc-sync": (0.001, True, {}),
    "gc-limit8": (8.0, True, {}),
    "smallgraphs": (None, False, {"MLX_MAX_MB_PER_BUFFER": "100", "MLX_MAX_OPS_PER_BUFFER": "20"}),
    "nographs": (None, False, {"MLX_USE_CUDA_GRAPHS": "0"}),
}


def step_child(argv: list[str]) -> None:
    """Inside the child: our loop's compiled step (LoRA rank 8 on 16 layers, Adam) on one
    row of random tokens, a few times; the forward alone first. Per step: the peak over
    the memory held before it, and its time."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx_lm.tuner.trainer import default_loss, grad_checkpoint
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load

    model_dir, tokens, limit, gc, steps = argv
    tokens, steps = int(tokens), int(steps)
    model, _ = load(model_dir)
    model.freeze()
    linear_to_lora_layers(model, min(16, len(model.layers)), dict(LORA))
    if gc == "1":
        grad_checkpoint(model.layers[0])
    optimizer = optim.Adam(learning_rate=1e-5)
    state = [model.state, optimizer.state]
    loss_and_grad = nn.value_and_grad(model, default_loss)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(batch, lengths):
        (loss, _), grad = loss_and_grad(model, batch, lengths)
        optimizer.update(model, grad)
        return loss

    mx.eval(model.parameters())
    if limit != "none":
        mx.set_memory_limit(int(float(limit) * 1e9))
    report = {"weights_gb": mx.get_active_memory() / 1e9}
    batch = mx.random.randint(0, 1000, (1, tokens + 1))
    lengths = mx.array([[0, tokens]])
    mx.eval(batch, lengths)
    mx.reset_peak_memory()
    mx.eval(model(batch[:, :-1]))
    mx.synchronize()
    report["forward_peak_gb"] = mx.get_peak_memory() / 1e9
    peaks, times = [], []
    for _ in range(steps):
        mx.synchronize()
        mx.reset_peak_memory()
        tic = time.perf_counter()
        loss = step(batch, lengths)
        mx.eval(state, loss)
        mx.synchronize()
        times.append(time.perf_counter() - tic)
        peaks.append(mx.get_peak_memory() / 1e9)
    report["step_peak_gb"] = max(peaks[1:])
    report["first_step_peak_gb"] = peaks[0]
    report["step_s"] = sum(times[2:]) / len(times[2:])
    report["tokens_per_second"] = tokens / report["step_s"]
    report["loss"] = loss.item()
    print("@step " + json.dumps(report), flush=True)


def run_probe(run: str, model: Path, opts) -> dict:
    """A probe in a fresh process (MLX reads its CUDA settings once, at start)."""
    import os

    if run == "qmm":
        out = child([sys.executable, __file__, "--child-qmm", str(opts.probe_tokens)])
        return {"qmm": json.loads([x for x in out.splitlines() if x.startswith("@qmm ")][-1][5:])}
    limit, gc, env = STEP_PROBES[run.removeprefix("step-")]
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        argv = [str(model), str(opts.probe_tokens), "none" if limit is None else str(limit)]
        out = child([sys.executable, __file__, "--child-step", *argv, "1" if gc else "0", "6"])
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return {"step": json.loads([x for x in out.splitlines() if x.startswith("@step ")][-1][6:])}


def print_probes(results: dict) -> None:
    for r in results.values():
        for row in r.get("qmm", []):
            print(
                f"quantized_matmul {row['shape']:11} forward +{row['forward_extra_mb']:.0f} MB, "
                f"forward+backward +{row['fwd+bwd_extra_mb']:.0f} MB (output "
                f"{row['output_mb']:.0f} MB, input {row['input_mb']:.0f} MB, weight in bf16 "
                f"{row['bf16_weight_mb']:.0f} MB)"
            )
    steps = {k: r["step"] for k, r in results.items() if "step" in r}
    if steps:
        print(f"\n{'step probe':18} {'weights':>7} {'fwd peak':>8} {'step peak':>9} "
              f"{'1st step':>8} {'step s':>7} {'tok/s':>7}")  # fmt: skip
    for name, p in steps.items():
        print(
            f"{name:18} {p['weights_gb']:7.2f} {p['forward_peak_gb']:8.2f} "
            f"{p['step_peak_gb']:9.2f} {p['first_step_peak_gb']:8.2f} {p['step_s']:7.3f} "
            f"{p['tokens_per_second']:7.0f}"
        )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-qmm":
        return qmm_child(sys.argv[2:]) or 0
    if len(sys.argv) > 1 and sys.argv[1] == "--child-step":
        return step_child(sys.argv[2:]) or 0
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
    parser.add_argument("--model", type=Path, help="keep the model here (reused if there)")
    parser.add_argument("--probe-tokens", type=int, default=2048, help="tokens of step-* probes")
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
        model = opts.model or work / "model"
        if not (model / "config.json").is_file():
            build_model(model, SHAPES[opts.shape], tokenizer, bits=opts.bits)
        if opts.long:
            data = write_long_chats(work / "data", opts.examples, opts.long, seed=0)
        else:
            data = write_dataset(work / "data", opts.examples, 8, seed=0)
        longest = longest_example(model, data)
        print(f"model and data ready in {time.perf_counter() - tic:.0f}s; longest example "
              f"{longest} tokens", flush=True)  # fmt: skip
        for run in runs:
            # NAME+mlxbuffers: MLX's own CUDA buffer sizes, not the smaller ones we set
            base, _, extra = run.partition("+")
            packing, gc = base.startswith("packed"), base.endswith("gc")
            os.environ.update(H200_BUFFERS if extra == "mlxbuffers" else {})
            try:
                if run == "qmm" or run.startswith("step-"):
                    results[run] = run_probe(run, model, opts)
                    print(f"{run}: {json.dumps(results[run])}", flush=True)
                    continue
                if base == "mlx_lm":
                    # trained tokens only: mlx-lm's own figure (ratio 1 for its padding)
                    opts.steps_per_report = opts.iters // 2
                    results[run] = run_mlx_lm(model, data, opts, work, 1.0)
                elif base == "torch":
                    results[run] = run_torch(model, data, opts)
                else:
                    results[run] = run_ours(model, data, opts, work, packing, gc, extra)
                    results[run]["estimate_gb"] = estimate_for(model, opts, longest, packing, gc)
            except SystemExit as err:  # one failed run (out of memory, say) is a row too
                results[run] = {"error": str(err)[-600:]}
            finally:
                for key in H200_BUFFERS if extra == "mlxbuffers" else {}:
                    os.environ.pop(key, None)
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
        if "qmm" in r or "step" in r:
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
    print_probes(results)
    if opts.json:
        Path(opts.json).write_text(
            json.dumps({"settings": vars(opts), "results": results}, default=str)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
