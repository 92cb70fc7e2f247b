"""Benchmark: GGUF in and out on the demo model (SmolLM2-135M-Instruct, Q4_1, 94 MiB).

Prints the best of N for reading the header (gguf's reader), importing the file into an MLX
folder, and exporting that folder as GGUF in each type gguf can write.

    python benchmarks/bench_gguf.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mlxstudio.core.models.demo import demo_gguf
from mlxstudio.core.models.gguf_export import QUANTS, write_gguf
from mlxstudio.core.models.gguf_import import import_gguf
from mlxstudio.core.models.gguf_reader import read_gguf


def best(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    src = demo_gguf()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"read header  {best(args.repeat, lambda: read_gguf(src)):6.2f} s  {src.name}")
        seconds = best(args.repeat, lambda: import_gguf(src, work / "mlx", overwrite=True))
        print(f"import       {seconds:6.2f} s  -> MLX folder")
        for quant in QUANTS:
            out = work / f"model.{quant}.gguf"
            seconds = best(args.repeat, lambda q=quant, o=out: write_gguf(work / "mlx", o, q))
            print(f"export {quant:5} {seconds:6.2f} s  {out.stat().st_size / 2**20:6.1f} MiB")


if __name__ == "__main__":
    main()
