"""The time a run still needs, from its events: the loop's own measured step time (no model
loading, validation, checkpoint, sample or pause in it) for the steps left, plus the
validations still to come at the time they took so far."""

from __future__ import annotations

import math
from collections import deque


def format_eta(seconds: float | None) -> str:
    """'2m 05s', '1h 05m'; '–' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    minutes, secs = divmod(math.ceil(seconds), 60)  # "0m 00s" only when nothing is left
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


RECENT_REPORTS = 8  # step time over the last reports: follows a run that speeds up or slows


class StepClock:
    """Feed it every event of one job (`add`); `eta(step)` is seconds left, or None."""

    def __init__(self, total_steps: int, steps_per_eval: int | None = None) -> None:
        self.total = total_steps
        self.steps_per_eval = steps_per_eval
        self.windows: deque[tuple[int, float]] = deque(maxlen=RECENT_REPORTS)  # steps, s
        self.last_train_step: int | None = None
        self.val_times: list[float] = []

    def add(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            self.total = int(event.get("total_steps") or self.total)
            self.last_train_step = event.get("resumed_from_step") or 0
        elif kind == "train":
            step, rate = event.get("step"), event.get("iterations_per_second") or 0.0
            if isinstance(step, int) and self.last_train_step is not None and rate > 0:
                steps = step - self.last_train_step
                if steps > 0:
                    self.windows.append((steps, steps / rate))
            if isinstance(step, int):
                self.last_train_step = step
        elif kind == "val" and event.get("step"):  # step 0's validation is behind us
            seconds = event.get("val_time_s")
            if isinstance(seconds, (int, float)) and math.isfinite(seconds):
                self.val_times.append(float(seconds))

    def step_time(self) -> float | None:
        steps = sum(n for n, _ in self.windows)
        return sum(s for _, s in self.windows) / steps if steps else None

    def validations_left(self, step: int) -> int:
        """Validations after `step`: at each multiple of steps_per_eval, and at the end."""
        every = self.steps_per_eval
        if not every or every <= 0 or step >= self.total:
            return 0
        return self.total // every - step // every + (self.total % every != 0)

    def eta(self, step: int) -> float | None:
        per_step = self.step_time()
        if per_step is None:
            return None
        left = max(self.total - step, 0) * per_step
        if self.val_times:
            left += self.validations_left(step) * sum(self.val_times) / len(self.val_times)
        return left
