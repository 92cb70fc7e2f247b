"""Proof that our GGUF exports run in llama.cpp: opt-in, as it installs llama-cpp-python (it
compiles llama.cpp: minutes) unless it is already installed.

For the demo model (SmolLM2-135M-Instruct, imported from its GGUF) and a tiny random qwen2,
each export type is written with mlxstudio's exporter, loaded by llama.cpp (llama-cpp-python),
and its greedy tokens for a prompt (16, or up to the end-of-turn token) are compared with MLX's
for the same prompt ids on the same weights (the export imported back into MLX); llama.cpp's
tokenization of the prompt is compared with ours too. Where the two part, both frameworks'
logits for the same sequence show whether it was a near-tie (MLX's top-two margin no larger
than the largest logit difference: llama.cpp quantizes activations for quantized matmuls) or a
real disagreement. Prints one line per export; exits 1 on a disagreement.

    python benchmarks/llamacpp_proof.py [--no-install] [--types F16,Q8_0,...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

PROMPT = "The capital of France is"
N_TOKENS = 16


def ensure_llama_cpp(install: bool) -> None:
    if importlib.util.find_spec("llama_cpp") is not None:
        return
    if not install:
        sys.exit("llama-cpp-python is not installed (run without --no-install to build it)")
    print("Installing llama-cpp-python (compiles llama.cpp; several minutes)...", flush=True)
    env = {
        **os.environ,
        "CMAKE_ARGS": "-DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF "
        "-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF",
        "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2),
    }
    cmd = [sys.executable, "-m", "pip", "install", "-q", "llama-cpp-python"]
    subprocess.run(cmd, env=env, check=True)
    importlib.invalidate_caches()


def models(work: Path) -> dict[str, Path]:
    """The demo model as an MLX folder, and a tiny random qwen2 with a real BPE tokenizer."""
    import mlx.core as mx
    from core.test_gguf_export import tiny
    from tiny_model import build_tiny_llama

    from mlxstudio.core.models.demo import demo_gguf
    from mlxstudio.core.models.gguf_import import import_gguf

    out = {"smollm2-135m (llama)": import_gguf(demo_gguf(), work / "smollm2").out}
    llama = build_tiny_llama(work / "tiny-llama", hidden=128)
    qwen = tiny(llama, work / "tiny-qwen2", "qwen2")
    # matrices x4: at mlx-lm's init scale greedy decoding repeats one token, which proves little
    weights = mx.load(str(qwen / "model.safetensors"))
    scaled = {k: v * 4 if v.ndim == 2 else v for k, v in weights.items()}
    mx.save_safetensors(str(qwen / "model.safetensors"), scaled)
    out["tiny random qwen2"] = qwen
    return out


def mlx_greedy(folder: Path, ids: list[int]) -> list[int]:
    """MLX's greedy tokens (mlx-lm stops at the end-of-turn token, which is kept)."""
    from mlx_lm import load, stream_generate

    model, tok = load(str(folder))
    return [r.token for r in stream_generate(model, tok, prompt=ids, max_tokens=N_TOKENS)]


def mlx_logits(folder: Path, ids: list[int]) -> np.ndarray:
    import mlx.core as mx
    from mlx_lm import load

    model, _ = load(str(folder))
    return np.array(model(mx.array([ids]))[0].astype(mx.float32))


def llama_cpp_run(path: Path, ids: list[int], n: int, forced: list[int]):
    """llama.cpp's tokens for PROMPT, its greedy `n` tokens after `ids`, and its logits for
    every position of ids + forced (teacher-forced)."""
    from llama_cpp import Llama

    threads = os.cpu_count() or 2
    llm = Llama(model_path=str(path), n_ctx=256, n_threads=threads, logits_all=True, verbose=False)
    tokens = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
    out: list[int] = []
    for token in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0):
        out.append(token)
        if len(out) == n:
            break
    llm.reset()
    llm.eval(ids + forced)
    return tokens, out, np.array(llm.scores[: len(ids) + len(forced)])


def compare(folder: Path, gguf: Path, ids: list[int]) -> tuple[bool, str, list[int]]:
    """Greedy tokens of llama.cpp vs MLX on the same weights. Where they part, both
    frameworks' logits for MLX's sequence say whether that was a near-tie (MLX's top-two
    margin within the logit difference between the two) or a real disagreement."""
    want = mlx_greedy(folder, ids)
    cpp_tok, got, cpp_logits = llama_cpp_run(gguf, ids, len(want), want)
    if cpp_tok != ids:
        return False, f"tokenizer DIFFERS: {cpp_tok} vs {ids}", got
    ours = mlx_logits(folder, ids + want)
    err = float(np.abs(ours - cpp_logits).max())
    scale = float(np.abs(ours).max())
    k = next((i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b), None)
    if k is None:
        return True, f"same {len(want)} tokens (max |logit diff| {err:.3f} of {scale:.1f})", got
    top2 = np.sort(ours[len(ids) - 1 + k])[-2:]
    margin = float(top2[1] - top2[0])
    tie = margin <= err
    return (
        tie,
        (
            f"parts at token {k + 1}: MLX's top-two margin there {margin:.3f} "
            f"{'<=' if tie else '>'} max |logit diff| {err:.3f} of {scale:.1f} "
            f"({'a near-tie' if tie else 'DISAGREES'})"
        ),
        got,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-install", action="store_true", help="fail if llama_cpp is missing")
    parser.add_argument("--types", default="F16,BF16,Q8_0,Q4_0,Q4_K_M,Q5_K_M")
    parser.add_argument("--keep", type=Path, help="keep the exports in this folder")
    args = parser.parse_args()
    ensure_llama_cpp(not args.no_install)
    import llama_cpp
    from mlx_lm.utils import load_tokenizer

    from mlxstudio.core.models.gguf_export import write_gguf
    from mlxstudio.core.models.gguf_import import import_gguf

    work = Path(args.keep or tempfile.mkdtemp(prefix="llamacpp-proof-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"llama-cpp-python {llama_cpp.__version__}; prompt {PROMPT!r}; greedy, up to {N_TOKENS}")
    failures = 0
    for name, folder in models(work).items():
        tok = load_tokenizer(folder)
        ids = tok.encode(PROMPT, add_special_tokens=False)
        reference = mlx_greedy(folder, ids)
        print(f"\n{name}: MLX (original weights): {tok.decode(reference)!r}")
        for quant in args.types.split(","):
            start = time.monotonic()
            gguf = write_gguf(folder, work / f"{folder.name}.{quant}.gguf", quant)
            seconds = time.monotonic() - start
            back = import_gguf(gguf, work / f"{folder.name}.{quant}.mlx", overwrite=True).out
            ok, verdict, got = compare(back, gguf, ids)
            failures += not ok
            agree = sum(a == b for a, b in zip(got, reference, strict=False))
            print(
                f"  {quant:7} {gguf.stat().st_size / 2**20:6.1f} MiB in {seconds:4.1f} s | "
                f"vs MLX on these weights: {verdict} | {agree}/{len(reference)} as the "
                f"original | llama.cpp: {tok.decode(got)!r}"
            )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
