"""Benchmark: validate and convert a generated chat JSONL of 1,000,000 lines.

Prints lines/s and peak memory (the process's peak RSS from getrusage, and how much of it
came after the imports). Each measurement runs in a fresh process so peaks don't mix.
A smaller file is measured too, to show memory does not grow with the file.

    python benchmarks/bench_data.py [--lines 1000000] [--small 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Some non-ASCII words, as real data has: the encoder and decoder take the slower path.
WORDS = "model learns from data every example counts clean records train better than noisy"
WORDS = [*WORDS.split(), "café", "naïve", "数据", "données", "answers", "cost", "memory"]


def generate(path: Path, lines: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(lines):
            q = " ".join(rng.choices(WORDS, k=rng.randint(5, 20)))
            a = " ".join(rng.choices(WORDS, k=rng.randint(10, 60)))
            messages = [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": f"{i}: {q}?"},
                {"role": "assistant", "content": a.capitalize() + "."},
            ]
            fh.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def phase(name: str, data: Path, out: Path) -> dict:
    """Run in a child process: one measurement."""
    from mlxstudio.core.data import convert, validate

    base = peak_rss_mb()
    started = time.perf_counter()
    if name == "validate":
        report = validate([data], max_issues=100)
        records, errors = report.records, report.errors
    else:
        result = convert([data], out, valid=0.05, test=0.05, seed=0)
        records, errors = sum(result.counts.values()), result.report.errors
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "records": records,
        "errors": errors,
        "peak_mb": peak_rss_mb(),
        "after_imports_mb": base,
    }


def measure(name: str, data: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, str(data), str(out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="0 to skip")
    parser.add_argument("--keep", help="folder for the generated files (default: a temp folder)")
    parser.add_argument("--phase", nargs=3, metavar=("NAME", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, data, out = args.phase
        print(json.dumps(phase(name, Path(data), Path(out))))
        return

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for lines in [n for n in (args.small, args.lines) if n]:
            data = work / f"chat-{lines}.jsonl"
            if not data.exists():
                t = time.perf_counter()
                generate(data, lines)
                print(
                    f"generated {data.name}: {data.stat().st_size / 1e6:,.0f} MB "
                    f"in {time.perf_counter() - t:.1f} s"
                )
            for name in ("validate", "convert"):
                out = work / f"out-{lines}"
                shutil.rmtree(out, ignore_errors=True)
                m = measure(name, data, out)
                assert m["records"] == lines and m["errors"] == 0, m
                rate = lines / m["seconds"]
                grown = m["peak_mb"] - m["after_imports_mb"]
                print(
                    f"{name:8} {lines:>9,} lines: {m['seconds']:6.2f} s, {rate:>9,.0f} lines/s, "
                    f"{data.stat().st_size / 1e6 / m['seconds']:5.0f} MB/s; peak RSS "
                    f"{m['peak_mb']:6.1f} MB ({grown:+.1f} MB after imports)"
                )
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
