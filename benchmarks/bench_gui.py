"""Event-loop stall of the window: p50/p99/max lateness of a 5 ms timer while
 1. live plots are fed at 10 Hz up to 100,000 points;
 2. the Data page checks a 1,000,000-line dataset and, one ready file, prepares it (in a
    child process, as the app does); for comparison, the same check in a thread of the
    window's process (the old way).
Target: p99 under 50 ms.
Run: QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [--lines N] [--skip-thread]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QThread, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

TOTAL_POINTS = 100_000
HZ = 10
SECONDS = 10


class Probe:
    """A 5 ms timer; how late each tick fires is how long the event loop was busy."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start(5)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.delays.append((now - self.last) * 1000 - 5)
        self.last = now

    def report(self, what: str) -> float:
        self.timer.stop()
        delays = sorted(self.delays)
        p99 = delays[int(len(delays) * 0.99)]
        print(
            f"{what}: event-loop stall p50 {statistics.median(delays):.1f} ms, "
            f"p99 {p99:.1f} ms, max {delays[-1]:.1f} ms (target p99 < 50 ms)"
        )
        return p99


def bench_plots(app: QApplication) -> None:
    from mlxstudio.gui.widgets.plots import MetricPlots

    plots = MetricPlots()
    plots.resize(1000, 700)
    plots.show()
    per_tick = TOTAL_POINTS // (HZ * SECONDS) // 4  # four series grow per train event
    step = 0

    def feed() -> None:
        nonlocal step
        events = []
        for _ in range(per_tick):
            step += 1
            events.append(
                {
                    "event": "train",
                    "step": step,
                    "train_loss": 1 / step,
                    "learning_rate": 1e-4,
                    "tokens_per_second": 100.0 + step % 7,
                    "peak_memory_gb": 1.0,
                }
            )
        plots.add_events(events)

    probe, feeder = Probe(), QTimer()
    feeder.timeout.connect(feed)
    feeder.start(1000 // HZ)
    probe.start()
    QTimer.singleShot(SECONDS * 1000, app.quit)
    app.exec()
    feeder.stop()
    print(f"points plotted: {plots.point_count():,} in {SECONDS} s at {HZ} Hz")
    probe.report("live plots")
    plots.close()


def write_dataset(folder: Path, lines: int) -> Path:
    path = folder / "big.jsonl"
    with path.open("w") as fh:
        for i in range(lines):
            messages = [
                {"role": "user", "content": f"Question number {i}: what is {i} plus {i}?"},
                {"role": "assistant", "content": f"It is {2 * i}."},
            ]
            fh.write(json.dumps({"messages": messages}) + "\n")
    return path


def bench_data_page(app: QApplication, path: Path) -> None:
    """The Data page as the user drives it: open the file, wait until it is checked."""
    from mlxstudio.gui.pages.data_page import DataPage
    from mlxstudio.gui.state import WizardState

    page = DataPage(WizardState())
    page.resize(1000, 700)
    page.show()
    probe = Probe()
    started = time.perf_counter()

    def done() -> None:
        if page.checked is not None and not page.is_busy():
            app.quit()

    watcher = QTimer()
    watcher.timeout.connect(done)
    watcher.start(50)
    probe.start()
    page.open_path(path)
    app.exec()
    watcher.stop()
    elapsed = time.perf_counter() - started
    records = page.checked.report.records if page.checked else 0
    prepared = "and prepared " if page.state.data_dir else ""  # one ready file: by itself
    print(f"Data page checked {prepared}{records:,} records in {elapsed:.1f} s (child process)")
    probe.report("checking and preparing in a child process")
    page.shutdown()
    page.close()


def bench_thread(app: QApplication, path: Path) -> None:
    """The same check in a thread of this process, for comparison (the GIL is shared)."""
    from mlxstudio.core.data import DataOptions, tasks

    class Worker(QThread):
        def run(self) -> None:
            tasks.check(lambda *_: None, [path], DataOptions())

    worker, probe = Worker(), Probe()
    worker.finished.connect(app.quit)
    started = time.perf_counter()
    probe.start()
    worker.start()
    app.exec()
    print(f"the same check in a thread took {time.perf_counter() - started:.1f} s")
    probe.report("validating in a thread (before)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--skip-thread", action="store_true")
    args = parser.parse_args()
    app = QApplication([])
    bench_plots(app)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MLXSTUDIO_HOME", tmp)
        path = write_dataset(Path(tmp), args.lines)
        print(f"dataset: {args.lines:,} lines, {path.stat().st_size / 1e6:.0f} MB")
        bench_data_page(app, path)
        if not args.skip_thread:
            bench_thread(app, path)


if __name__ == "__main__":
    main()
