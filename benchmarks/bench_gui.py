"""Event-loop stall while live plots are fed: 10 Hz updates up to 100,000 points.

Prints p50/p99/max of the delay of a 5 ms timer (how late the event loop runs it) while
a feeder adds events to MetricPlots at 10 Hz. Target: p99 under 50 ms.
Run: QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from mlxstudio.gui.widgets.plots import MetricPlots  # noqa: E402

TOTAL_POINTS = 100_000
HZ = 10
SECONDS = 10


def main() -> None:
    app = QApplication([])
    plots = MetricPlots()
    plots.resize(1000, 700)
    plots.show()
    per_tick = TOTAL_POINTS // (HZ * SECONDS) // 4  # four series grow per train event
    step = 0
    delays: list[float] = []
    last = time.perf_counter()

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

    def probe() -> None:
        nonlocal last
        now = time.perf_counter()
        delays.append((now - last) * 1000 - 5)
        last = now

    feeder, prober = QTimer(), QTimer()
    feeder.timeout.connect(feed)
    prober.timeout.connect(probe)
    feeder.start(1000 // HZ)
    prober.start(5)
    QTimer.singleShot(SECONDS * 1000, app.quit)
    app.exec()
    delays.sort()
    p99 = delays[int(len(delays) * 0.99)]
    print(f"points plotted: {plots.point_count():,} in {SECONDS} s at {HZ} Hz")
    print(
        f"event-loop stall: p50 {statistics.median(delays):.1f} ms, p99 {p99:.1f} ms, "
        f"max {delays[-1]:.1f} ms (target p99 < 50 ms)"
    )


if __name__ == "__main__":
    main()
