"""Typed training events and the supervision protocol.

Every report of a job is one event: a small dataclass below, serialised to one JSON
object `{"event": KIND, "time": unix_s, "elapsed_s": s, ...fields}`. Each event is
appended to the run's `metrics.jsonl` (flushed per line) and handed live to whoever
supervises the job.

Kinds: start, awake, train, val, test, checkpoint, sample, warning, error, paused, resumed,
stopped, eval (base vs fine-tuned at the end), finished. RL stages write `train` / `val`
with extra fields (PolicyTrain, PreferenceTrain, ... below), so every plot of SFT curves
works for them too. `start` of a resumed run carries `resumed_from_step`: a reader that
plots curves keeps, for each step, the event written last (steps after the checkpoint
were trained again).

Supervision protocol (`mlxstudio train CONFIG --events`, `mlxstudio train --resume RUN_DIR
--events`), the contract the GUI engine relies on:

- stdout: each event is printed as one line `@event {json}` (the same JSON as in
  metrics.jsonl), flushed at once. Every other line on stdout or stderr is log text.
- control, by signals to the job's process:
  SIGINT or SIGTERM  stop: finish the current step, save a checkpoint, emit `stopped`;
                     a second one stops at once (the last checkpoint stays);
  SIGUSR1            pause at the next step boundary, emit `paused` (the memory guard
                     pauses by itself: `paused` with reason "memory", checkpoint saved);
  SIGUSR2            continue, emit `resumed`.
- exit code: 0 completed; 130 stopped (resumable with --resume); 2 the user must change
  something (bad config or data, loss diverged, out of memory: the `error` event's
  `message` names the setting); 1 crash (a bug; the `error` event has the traceback's
  last line). Death by a signal (negative code, e.g. an abort on out-of-memory) means no
  final event: every checkpoint written so far is intact, `--resume` continues from it.
- the last event of a job that ends by itself is `finished` with `status`
  (completed | stopped | failed | diverged).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TextIO

EVENT_PREFIX = "@event "

EXIT_COMPLETED = 0
EXIT_CRASH = 1
EXIT_USER = 2
EXIT_STOPPED = 130


@dataclass
class Event:
    kind: ClassVar[str] = ""


@dataclass
class Awake(Event):
    """Whether the machine is kept from sleeping for the job's lifetime (see core/power.py);
    it follows the `start` event."""

    kind: ClassVar[str] = "awake"
    held: bool
    how: str = ""  # caffeinate | systemd-inhibit | "" (nothing here can hold it)


@dataclass
class Start(Event):
    kind: ClassVar[str] = "start"
    run_dir: str
    model: str
    total_steps: int
    fine_tune_type: str = "lora"
    trainable_parameters: int = 0
    resumed_from_step: int | None = None
    world_size: int = 1  # ranks training data-parallel (mlxstudio train --hosts)
    batch_size: int | None = None  # the global batch, over all ranks
    learning_rate: float | None = None


@dataclass
class Train(Event):
    """A report over the last steps_per_report steps. Field names are plotted by the GUI."""

    kind: ClassVar[str] = "train"
    step: int
    total_steps: int
    train_loss: float
    learning_rate: float
    tokens_per_second: float  # trained (loss) tokens per second, as mlx-lm reports
    trained_tokens: int  # cumulative tokens counted in the loss
    peak_memory_gb: float
    iterations_per_second: float = 0.0
    padded_tokens_per_second: float = 0.0  # every position computed, padding included


@dataclass
class Val(Event):
    kind: ClassVar[str] = "val"
    step: int
    total_steps: int
    val_loss: float
    val_ppl: float
    val_time_s: float


@dataclass
class Test(Event):
    kind: ClassVar[str] = "test"
    test_loss: float
    test_ppl: float


@dataclass
class Checkpoint(Event):
    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str
    val_loss: float | None = None
    best: bool = False


@dataclass
class Sample(Event):
    kind: ClassVar[str] = "sample"
    step: int
    prompt: str
    response: str


@dataclass
class Warning(Event):  # noqa: A001 - the event's name in the protocol
    kind: ClassVar[str] = "warning"
    message: str


@dataclass
class Error(Event):
    kind: ClassVar[str] = "error"
    message: str
    code: str = "crash"  # crash | user_error | out_of_memory | diverged
    step: int | None = None
    traceback: str = ""  # a crash's (a bug): kept in metrics.jsonl for the report


@dataclass
class Paused(Event):
    kind: ClassVar[str] = "paused"
    step: int
    reason: str = ""  # "" (asked for) | memory (the memory guard, with a checkpoint)
    message: str = ""  # what to change, in the window's words


@dataclass
class Resumed(Event):
    kind: ClassVar[str] = "resumed"
    step: int


@dataclass
class Stopped(Event):
    kind: ClassVar[str] = "stopped"
    step: int
    message: str = ""


@dataclass
class Eval(Event):
    """The evaluation at a run's end (core/eval/after_run.py): base vs fine-tuned figures."""

    kind: ClassVar[str] = "eval"
    data: str
    base: dict = field(default_factory=dict)
    tuned: dict = field(default_factory=dict)


@dataclass
class Finished(Event):
    kind: ClassVar[str] = "finished"
    status: str
    step: int = 0


@dataclass
class PolicyTrain(Train):
    """A `train` report of PPO (stage rl) or GRPO: train_loss is the whole objective."""

    policy_loss: float = 0.0  # the clipped surrogate alone
    kl: float = 0.0  # mean per-token KL to the reference policy
    reward_mean: float = 0.0
    reward_std: float = 0.0
    clip_fraction: float = 0.0  # share of tokens whose ratio was clipped
    response_tokens: float = 0.0  # mean response length (tokens)
    kept_groups: float | None = None  # DAPO: share of responses in groups whose rewards differ
    # GRPO: each reward's mean ('reward.NAME') and each untrained check's ('check.NAME')
    rewards: dict[str, float] = field(default_factory=dict)


@dataclass
class PolicyVal(Val):
    """A `val` report of PPO/GRPO on held-out data (val_loss: the objective there)."""

    kl: float = 0.0
    reward_mean: float | None = None  # GRPO: mean reward of held-out prompts' responses
    high_reward_logprob: float | None = None  # PPO: mean log-prob of above-median responses
    low_reward_logprob: float | None = None
    rewards: dict[str, float] = field(default_factory=dict)  # GRPO: as PolicyTrain's


@dataclass
class PreferenceTrain(Train):
    """A `train` report of DPO / IPO / ORPO. Rewards are beta x log-ratio to the reference."""

    chosen_reward: float = 0.0
    rejected_reward: float = 0.0
    margin: float = 0.0  # chosen_reward - rejected_reward
    accuracy: float = 0.0  # share of pairs with chosen ranked above rejected


@dataclass
class PreferenceVal(Val):
    margin: float = 0.0
    accuracy: float = 0.0
    chosen_logprob: float = 0.0
    rejected_logprob: float = 0.0


EventSink = Callable[[dict], None]


@dataclass
class Emitter:
    """Writes each event to metrics.jsonl, then to the live sink and/or `@event` stdout lines.
    No path: nothing is written (the ranks other than 0 of a distributed run)."""

    path: Path | None
    sink: EventSink | None = None
    stream: TextIO | None = None
    elapsed_before: float = 0.0  # seconds a resumed run had already run
    started: float = field(default_factory=time.time)
    # Known before the stage starts (e.g. `awake`), told right after its `start` event.
    after_start: list[Event] = field(default_factory=list)
    # More sinks of every record (report_to's trackers, core/tracking.py)
    extra_sinks: list[EventSink] = field(default_factory=list)

    def emit(self, event: Event) -> dict:
        now = time.time()
        record = {"event": event.kind, "time": now}
        record["elapsed_s"] = round(now - self.started + self.elapsed_before, 3)
        record.update(dataclasses.asdict(event))
        line = json.dumps(record)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        if self.stream is not None:
            self.stream.write(EVENT_PREFIX + line + "\n")
            self.stream.flush()
        if self.sink is not None:
            self.sink(record)
        for sink in self.extra_sinks:
            sink(record)
        if event.kind == "start":
            pending, self.after_start = self.after_start, []
            for later in pending:
                self.emit(later)
        return record

    def elapsed(self) -> float:
        return time.time() - self.started + self.elapsed_before


def print_event(stream: TextIO, event: Event) -> None:
    """An event that has no run directory to go to (e.g. a bad config): stdout only."""
    record = {"event": event.kind, "time": time.time(), "elapsed_s": 0.0}
    record.update(dataclasses.asdict(event))
    stream.write(EVENT_PREFIX + json.dumps(record) + "\n")
    stream.flush()


def parse_line(line: str) -> dict | None:
    """The event of an `@event {json}` line of a job's stdout, or None for log text."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        return json.loads(line[len(EVENT_PREFIX) :])
    except json.JSONDecodeError:
        return None
