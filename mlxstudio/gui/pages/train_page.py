"""Training page: start, pause, stop, resume; live plots, progress with ETA, samples, the log."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
)

from mlxstudio.core import events as ev
from mlxstudio.core import paths, runs
from mlxstudio.core.config import Stage, dump_config, load_config
from mlxstudio.core.curves import val_words
from mlxstudio.core.distributed import several_ranks_problem
from mlxstudio.core.errors import UserError
from mlxstudio.core.runs import Status
from mlxstudio.core.train.eta import StepClock, format_eta
from mlxstudio.core.train.memory_guard import CONTINUE_OR_STOP
from mlxstudio.engine.job import JobThread, mlxstudio_command
from mlxstudio.gui.eval_view import can_evaluate, evaluate_button
from mlxstudio.gui.goals import METHODS, method_for
from mlxstudio.gui.icons import icon, level_colour
from mlxstudio.gui.notices import run_notice
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.style import make_primary, repolish, set_message, set_primary
from mlxstudio.gui.widgets.memory_gauge import MemoryGauge
from mlxstudio.gui.widgets.plots import MetricPlots, last_per_step
from mlxstudio.gui.widgets.run_info import (
    LOG_FILE,
    best_val_loss,
    best_words,
    finite,
    is_resumable,
    method_name,
    read_log,
)
from mlxstudio.gui.widgets.run_words import killed_message, log_words, plain_words
from mlxstudio.gui.widgets.train_options import TrainOptions

IDLE = "Press Start to fine-tune the model on your data; the curves appear here from step 1."
# run.json's status -> the bar's colour (see OutcomeBar); "running" with no job: interrupted
BAR_OUTCOMES = {Status.FAILED: "failed", Status.DIVERGED: "failed", Status.STOPPED: "stopped"}
BAR_OUTCOMES[Status.RUNNING] = "stopped"
# While Start is disabled, the line beside it says what is missing; the charts say only this.
BLOCKED = "The curves of a run appear here once it starts."


class OutcomeBar(QProgressBar):
    """The run's progress bar: accent while training or completed, red when the run failed,
    grey when it was stopped. The `outcome` property selects the chunk's colour."""

    OUTCOMES = ("", "failed", "stopped")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setProperty("outcome", "")
        self._restyle()

    def set_outcome(self, outcome: str) -> None:
        """'' (running, completed), 'failed' or 'stopped'."""
        if outcome not in self.OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        if self.property("outcome") != outcome:
            self.setProperty("outcome", outcome)
            repolish(self)

    def outcome(self) -> str:
        return str(self.property("outcome") or "")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # light <-> dark: the red follows
            self._restyle()

    def _restyle(self) -> None:
        red = level_colour("error").name()
        sheet = (
            f'QProgressBar[outcome="failed"]::chunk {{ background: {red}; }}\n'
            'QProgressBar[outcome="stopped"]::chunk { background: palette(mid); }'
        )
        if self.styleSheet() != sheet:
            self.setStyleSheet(sheet)


class TrainPage(Page):
    title = "Training"
    subtitle = (
        "Fine-tune with the settings you chose. Curves update live; you can close "
        "the window, training goes on."
    )

    # run name, step, total steps, last train loss (nan if none), eta seconds (-1), running
    status = Signal(str, int, int, float, float, bool)
    run_ended = Signal(str, str)  # run name, outcome message
    notice = Signal(str, str, object)  # a desktop notification: title, text, run directory
    goal_requested = Signal()  # the method line's "change on the Goal page" link

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        # ---- attributes
        self.job: JobThread | None = None
        self._ended = True
        self.run_name = ""
        self.model_name = ""  # of the run shown or training
        self.shown_run: Path | None = None  # the run whose curves, log and samples are shown
        self.total = 0
        self.step = 0
        self.step_at_start = 0
        self.last_loss = float("nan")
        self.paused = False
        self.started = 0.0
        self.clock = StepClock(0)  # the ETA, from the job's measured step time
        self.awake = ""  # what keeps the computer awake for the job ("" nothing)
        self.memory_message = ""  # why the memory guard paused the job, in window words
        self.best_val: float | None = None  # of the run training now
        self.last_sample_step: int | None = None

        # ---- widgets
        top = self._build_top()
        self.gauge = MemoryGauge(self.state)
        controls = self._build_controls()
        self._build_progress()
        self._build_output()

        # ---- layout
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.gauge)
        layout.addWidget(self.options)
        layout.addLayout(controls)
        layout.addWidget(self.why)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.split, 1)

        # ---- signals
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume_run)
        self.state.changed.connect(self._state_changed)
        self._state_changed()

    def _build_top(self) -> QHBoxLayout:
        """The method (a link to the Goal page to change it), the training options and how
        often the curves report."""
        self.method_line = QLabel()
        self.method_line.setTextFormat(Qt.TextFormat.RichText)
        self.method_line.linkActivated.connect(lambda _link: self.goal_requested.emit())
        self.options = TrainOptions(self.state)
        self.hosts = self.options.hosts
        self.hosts.check_requested.connect(self.check_hosts)
        top = QHBoxLayout()
        top.addWidget(self.method_line, 1)
        top.addWidget(self.options.report_box)
        return top

    def _build_controls(self) -> QHBoxLayout:
        """The run's name, Start, Pause, Stop, Resume run and Evaluate; under them, why
        Start is disabled."""
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Run name (optional)")
        self.name_edit.setToolTip("The run's folder name under runs/.")
        self.start_button = make_primary(QPushButton("Start"), "start")
        self.start_button.setDefault(True)
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.stop_button = QPushButton(icon("stop"), "Stop")
        self.resume_button = QPushButton(icon("resume"), "Resume run")
        self.resume_button.setToolTip(
            "Continue this stopped or crashed run from its last saved checkpoint, in the "
            "same run folder, up to its planned number of steps."
        )
        self.why = QLabel()  # why Start is disabled, under it
        self.why.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(self.name_edit, 1)
        for b in (self.start_button, self.pause_button, self.stop_button, self.resume_button):
            controls.addWidget(b)
        self.evaluate_button = evaluate_button(self)  # once a run has ended: gui/eval_view.py
        controls.addWidget(self.evaluate_button)
        return controls

    def _build_progress(self) -> None:
        """The run's progress bar and its one-line summary (hidden until a run is shown)."""
        self.progress = OutcomeBar()
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)  # an unset bar draws no text at all
        self.progress.hide()  # until a run starts or is opened: the charts say what to do
        self.summary = QLabel()
        self.summary.hide()
        # Long paths must wrap or clip, never widen the window.
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_output(self) -> None:
        """The curves above, the log and the sample answers below, in a splitter."""
        self.plots = MetricPlots()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("The training log appears here.")
        self.samples = QTextBrowser()
        self.samples.setPlaceholderText(
            "Answers to your sample prompts appear here as training goes. Add prompts "
            "under “Sample answers while training” above."
        )
        self.bottom = QTabWidget()
        self.bottom.addTab(self.log, "Log")
        self.bottom.addTab(self.samples, "Samples")
        for box in (self.log, self.samples):  # a small window gives the room to the curves
            box.setMinimumHeight(36)
        self.split = split = QSplitter()
        split.setOrientation(Qt.Orientation.Vertical)
        split.addWidget(self.plots)
        split.addWidget(self.bottom)
        split.setChildrenCollapsible(False)
        split.setSizes([520, 110])

    # ---- Public API: the page
    def enter(self) -> None:
        self.options.load_from_state()
        self._state_changed()
        if not self.is_running():
            self.name_edit.setFocus()  # not the first spin box, its text all selected

    def is_running(self) -> bool:
        """From Start until the page has handled the job's end. Not the thread's state: it
        can finish a moment before its queued `ended` reaches the window, or still be
        winding down when `ended` is handled (then the buttons must already be idle)."""
        return self.job is not None and not self._ended

    def problems(self) -> list[str]:
        missing = []
        if not self.state.config.model:
            missing.append("Choose a model first (Model page).")
        if not self.state.config.data:
            missing.append("Choose a dataset first (Data page).")
        cfg = self.state.config
        if cfg.stage == "grpo" and not (cfg.reward_model or cfg.reward_functions):
            missing.append("Choose a reward on the Goal page.")
        if self.hosts.enabled.isChecked():
            if self.hosts.hostfile is None:
                missing.append("Choose a hostfile to train on several Macs.")
            else:
                problem = several_ranks_problem(cfg.stage, cfg.grpo_loss)
                if problem:
                    missing.append(problem[0].upper() + problem[1:] + ".")
        return missing

    def progress_text(self) -> str:
        return self.progress.text()

    # ---- Public API: the job
    def start(self) -> None:
        if self.is_running():
            return
        missing = self.problems()
        if missing:
            set_message(self.why, " ".join(missing), "warning")
            return
        self.options.apply_to_state()
        model = self.model_name = Path(self.state.config.model).name
        self.run_name = self.name_edit.text().strip() or f"{model}-{time.strftime('%m%d-%H%M')}"
        cfg = self.state.config
        cfg = replace(
            cfg,
            name=self.run_name,
            adapter_path=None,
            steps_per_report=self.options.report_interval(cfg.iters),
        )
        config_dir = paths.home() / "configs"
        config_dir.mkdir(parents=True, exist_ok=True)
        config_path = config_dir / f"{self.run_name}.yaml"
        dump_config(cfg, config_path)
        self.shown_run = None
        self.total, self.step, self.step_at_start = cfg.iters, 0, 0
        self.set_stage(cfg.stage)
        self.plots.clear()
        self.plots.set_steps(cfg.iters)
        self.plots.set_placeholder("Loading the model… the curves start at step 1.")
        self.samples.clear()
        self.log.clear()
        self.best_val = self.last_sample_step = None
        self.clock = StepClock(cfg.iters, cfg.steps_per_eval)
        self._launch(["train", str(config_path), "--events", *self.hosts.args()])
        self._say(f"Run {self.run_name} is starting. Its settings are saved with the run.")

    def resume_run(self) -> None:
        """Continue the shown run from its last checkpoint (same run directory)."""
        run = self.shown_run
        if self.is_running() or run is None or not self.resumable():
            return
        self.show_run(run)
        self.best_val = best_val_loss(self._events())
        self.last_sample_step = None
        self.log.appendPlainText(f"— Resuming {run.name} from its last checkpoint —")
        self.clock = StepClock(self.total, _steps_per_eval(run))
        self._launch(["train", "--resume", str(run), "--events", *self.hosts.args()])
        self._say(f"Resuming {run.name} from its last checkpoint…")

    def stop(self) -> None:
        if self.is_running():
            self._format("Stopping after this step…")
            self.job.stop()

    def toggle_pause(self) -> None:
        if not self.is_running():
            return
        if self.paused:
            self.job.resume()
        else:
            self.job.pause()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop a running job and wait for it to save; kill it if it does not end in time."""
        if self.job is None or not self.job.isRunning():
            return
        self.job.stop()
        if not self.job.wait(timeout_ms):
            self.job.kill()
            self.job.wait(5000)

    def resumable(self) -> bool:
        """The shown run stopped or crashed with a checkpoint to continue from."""
        return is_resumable(self.shown_run)

    def check_hosts(self, hostfile: Path) -> None:
        """Check the hosts in the background; the table goes to the log."""
        if self.is_running():
            return
        self.bottom.setCurrentWidget(self.log)
        self.log.clear()
        self.log.appendPlainText(f"Checking the hosts in {hostfile}…")
        self.doctor = JobThread(mlxstudio_command("doctor", "--hosts", str(hostfile)), parent=self)
        self.doctor.log.connect(self.log.appendPlainText)
        self.doctor.ended.connect(
            lambda code, _e: self.log.appendPlainText(
                "All hosts are ready." if code == 0 else "Fix the ✗ above, then check again."
            )
        )
        self.doctor.start()

    # ---- the job's life
    def _launch(self, args: list[str]) -> None:
        self.last_loss = float("nan")
        self.paused = False
        self.awake = self.memory_message = ""
        self.started = time.time()
        self.progress.set_outcome("")
        self.progress.show()
        self.summary.show()
        self.progress.setRange(0, max(self.total, 1))
        self.progress.setValue(self.step)
        self._format(f"Step {self.step} of {self.total} · loading the model…")
        self.job = JobThread(mlxstudio_command(*args), parent=self)
        self.job.event.connect(self.on_event)
        self.job.log.connect(lambda line: self.log.appendPlainText(log_words(line)))
        self.job.ended.connect(self.on_ended)
        self._ended = False
        self.job.start()
        self._buttons()
        self._emit_status()

    def on_event(self, event: dict) -> None:
        kind = event.get("event")
        self.clock.add(event)
        if kind == ev.Start.kind:
            if event.get("run_dir"):
                self.shown_run = Path(event["run_dir"])
                # The job may have picked a free name (name-2) when the one asked was taken.
                self.run_name = self.shown_run.name
                self.state.set_run(self.shown_run)
            self.total = int(event.get("total_steps") or self.total)
            self.step = self.step_at_start = int(event.get("resumed_from_step") or 0)
            self.started = time.time()
            self.progress.setRange(0, max(self.total, 1))
            self.plots.set_steps(self.total)
        elif kind == ev.Awake.kind:
            self.awake = str(event.get("how") or "") if event.get("held") else ""
        elif kind == ev.Paused.kind:
            self.paused = True
            if event.get("reason") == "memory":
                self.memory_message = memory_words(str(event.get("message", "")))
                self._notify("memory", self.memory_message)
        elif kind == ev.Resumed.kind:
            self.paused = False
            self.memory_message = ""
        elif kind == ev.Train.kind and finite(event.get("train_loss")):
            self.last_loss = float(event["train_loss"])
        elif kind == ev.Val.kind and finite(event.get("val_loss")):
            loss = float(event["val_loss"])
            self.best_val = loss if self.best_val is None else min(self.best_val, loss)
        elif kind == ev.Sample.kind:
            self.on_sample(event)
            if isinstance(event.get("step"), int):
                self.last_sample_step = event["step"]
        elif kind in (ev.Error.kind, ev.Warning.kind):
            self.log.appendPlainText(f"{kind}: {plain_words(str(event.get('message', '')))}")
        # Every event with a step counts (paused, checkpoint, stopped...): the bar, the
        # log's "Paused at step N" and the end message must name the same step.
        if isinstance(event.get("step"), int) and kind != ev.Start.kind:
            self.step = max(self.step, event["step"])
            self.progress.setValue(min(self.step, self.progress.maximum()))
        self._format(self._live_text())
        if self.memory_message:
            if self.summary.text() != self.memory_message:
                self._say(self.memory_message, "warning")
        elif self.step > self.step_at_start or self.best_val is not None:
            self._say_if_changed(self._training_text())
        self.plots.add_event(event)
        self._buttons()
        self._emit_status()

    def _live_text(self) -> str:
        where = f"step {self.step} of {self.total}"
        if self.paused:
            return f"Paused at {where}" + (" · memory nearly full" if self.memory_message else "")
        if not finite(self.last_loss):
            return f"{where.capitalize()} · starting…"
        return f"{where.capitalize()} · loss {self.last_loss:.3f} · ETA {format_eta(self.eta())}"

    def _training_text(self) -> str:
        """The line under the bar while training: what the bar does not say."""
        parts = [f"Training {self.run_name} on {self.model_name}"]
        if self.best_val is not None:
            parts.append(f"best {val_words(self.plots.stage, self.best_val)} so far")
        if self.last_sample_step is not None:
            parts.append(f"sample answers of step {self.last_sample_step} in the Samples tab")
        if self.awake:
            parts.append(f"keeping the {MACHINE} awake while training")
        return " · ".join(parts)

    def eta(self) -> float | None:
        """Seconds left from the measured step time (validations to come included); none
        while paused or before the first report."""
        return None if self.paused or not self.is_running() else self.clock.eta(self.step)

    def on_ended(self, code: int, error: str) -> None:
        self._ended = True
        self.paused = False
        self._save_log()
        outcome = {0: Status.COMPLETED, 130: Status.STOPPED}.get(code, Status.FAILED)
        name = self.run_name
        if code < 0:  # killed by a signal: MLX aborts this way when memory runs out
            message = killed_message(name, self.step, -code, self.resumable())
        elif outcome == Status.FAILED:
            message = f"Run {name} failed: {plain_words(error) or 'see the log below'}."
            if self.resumable():
                message += " Its last checkpoint is kept: fix the cause, then press Resume run."
        elif outcome == Status.STOPPED:
            message = f"Run {name} stopped at step {self.step}. "
            message += (
                "Press Resume run to continue from its last checkpoint."
                if self.resumable()
                else "No checkpoint was saved yet; press Start to begin again."
            )
        else:
            message = f"Run {name} completed."
            best = best_words(self._events(), {"stage": self.plots.stage})
            if best is not None:
                message += f" {best[0].upper()}{best[1:]}."
            message += " Next: talk to it on Serve & Chat."
        self._say(message, {Status.COMPLETED: "ok", Status.STOPPED: "info"}.get(outcome, "error"))
        self.summary.setToolTip(f"Run folder: {self.shown_run}" if self.shown_run else "")
        self.plots.set_placeholder("The run ended before its first step; see the message above.")
        verb = {Status.COMPLETED: "Completed", Status.STOPPED: "Stopped", Status.FAILED: "Failed"}[
            outcome
        ]
        self._format(f"{verb} at step {self.step} of {self.total}")
        self.progress.set_outcome(outcome if outcome != Status.COMPLETED else "")
        self._buttons()
        self._emit_status(running=False)
        self._notify(outcome, message if outcome == Status.FAILED else "")
        self.run_ended.emit(name, message)

    def _notify(self, outcome: str, detail: str = "") -> None:
        """A desktop notification with the run's figures (see gui/notices.py)."""
        events, step, total = self._events(), self.step, self.total
        title, text = run_notice(outcome, self.run_name, events, step, total, detail)
        self.notice.emit(title, text, self.shown_run)

    def _save_log(self) -> None:
        """Keep the window's log with the run, so reopening it shows the log again."""
        if self.shown_run is None or not self.shown_run.is_dir():
            return
        with (self.shown_run / LOG_FILE).open("a", encoding="utf-8") as fh:
            fh.write(self.log.toPlainText() + "\n")

    def _events(self) -> list[dict]:
        return list(runs.read_events(self.shown_run)) if self.shown_run else []

    def _emit_status(self, running: bool | None = None) -> None:
        running = self.is_running() if running is None else running
        eta = self.eta()
        self.status.emit(
            self.run_name,
            self.step,
            self.total,
            self.last_loss,
            -1.0 if eta is None else eta,
            running,
        )

    # ---- past runs
    def show_run(self, run_dir: Path) -> bool:
        """Show a run from its directory: name, curves, samples, log, progress, summary.
        Nothing of the run shown before remains. False (and nothing changes) while a job
        is training: its live view must not be replaced."""
        run_dir = Path(run_dir)
        if self.is_running():
            if run_dir == self.shown_run:
                return True  # the run training now: its live view is already here
            self._say("A run is training; open other runs when it has ended.", "warning")
            return False
        events = list(runs.read_events(run_dir))
        meta = runs.read_meta(run_dir)
        self.shown_run = run_dir
        self.run_name = run_dir.name
        self.name_edit.setText(run_dir.name)
        self.set_stage(str(meta.get("stage", "sft")))
        kept = last_per_step(events)
        self.total = int(next((e["total_steps"] for e in kept if e.get("total_steps")), 0))
        steps = [e["step"] for e in kept if isinstance(e.get("step"), int)]
        self.step = self.step_at_start = max(steps, default=0)
        trains = [
            e for e in kept if e.get("event") == ev.Train.kind and finite(e.get("train_loss"))
        ]
        self.last_loss = float(trains[-1]["train_loss"]) if trains else float("nan")
        self.plots.show_events(events, self.total)
        self.plots.set_placeholder(f"{run_dir.name} has no recorded steps.")

        self.samples.clear()
        for event in events:
            if event.get("event") == ev.Sample.kind:
                self.on_sample(event)
        self.log.clear()
        text = read_log(run_dir)
        self.log.setPlainText(
            text.rstrip()
            if text
            else f"No log was kept for {run_dir.name} (it was trained before the window kept "
            "logs, or elsewhere). Its curves and samples are shown above."
        )

        status = str(meta.get("status", "unknown"))
        self.progress.show()
        self.summary.show()
        self.progress.set_outcome(BAR_OUTCOMES.get(status, ""))
        self.progress.setRange(0, max(self.total, 1))
        self.progress.setValue(self.step)
        self._format(f"{status.capitalize()} · step {self.step} of {self.total}")
        self.model_name = Path(str(meta.get("model", "?"))).name
        parts = [f"Run {run_dir.name}", f"model {self.model_name}"]
        parts.append(method_name(str(meta.get("stage", "sft"))))
        best = best_words(events, meta)
        if best is not None:
            parts.append(best)
        message = " · ".join(parts)
        self.summary.setToolTip(f"Run folder: {run_dir}")
        if self.resumable():
            message += ". Press Resume run to continue it from its last checkpoint."
        self._say(message)
        self.state.set_run(run_dir)
        self._buttons()
        self._emit_status()
        return True

    def on_sample(self, event: dict) -> None:
        self.samples.append(
            f"<p><b>Step {event.get('step')}</b> · "
            f"<i>{_html(str(event.get('prompt', '')))}</i><br>"
            f"{_html(str(event.get('response', '')))}</p>"
        )

    def set_stage(self, stage: str) -> None:
        """SFT plots loss and learning rate; RL reward and KL; DPO the preference margin."""
        if stage == self.plots.stage:
            return
        plots = MetricPlots(stage=stage)
        self.split.replaceWidget(0, plots)
        self.plots.deleteLater()
        self.plots = plots

    # ---- the controls' state
    def _state_changed(self) -> None:
        cfg = self.state.config
        method = method_name(cfg.stage)
        chosen = method_for(cfg.stage, cfg)
        if chosen is not None and chosen is not METHODS[cfg.stage][0]:  # not the usual one
            method += f" · {chosen.title}"
        if cfg.stage == Stage.GRPO and cfg.reward_model:
            method += f", reward: {cfg.reward_model}"
        elif cfg.stage == Stage.GRPO and cfg.reward_functions:
            parts = [f"{p['name']} ×{p.get('weight', 1.0):g}" for p in cfg.reward_functions]
            method += f", rewards: {' + '.join(parts)}"
        self.method_line.setText(
            f"Method: <b>{_html(method)}</b> &nbsp;·&nbsp; "
            "<a href='goal'>change it on the Goal page</a>"
        )
        self._buttons()

    def _buttons(self) -> None:
        running = self.is_running()
        missing = [] if running else self.problems()
        self.start_button.setEnabled(not running and not missing)
        self.start_button.setToolTip(
            "A run is training; stop it first."
            if running
            else " ".join(missing) or "Start a new run with these settings."
        )
        set_message(self.why, " ".join(missing), "warning")
        self.why.setVisible(bool(missing))
        if not running and self.shown_run is None and self.job is None:
            # Nothing started or opened yet: one line of what to do, in the charts' place
            # (the line beside Start says what is missing while it is disabled).
            self.plots.set_placeholder(BLOCKED if missing else IDLE)
        self.evaluate_button.setVisible(not running and can_evaluate(self.shown_run))
        resumable = not running and self.resumable()
        self.resume_button.setVisible(resumable)
        # After a stop or a crash the next step is Resume run, not a new run.
        set_primary(self.resume_button, resumable, "resume")
        set_primary(self.start_button, not resumable, "start")
        self.name_edit.setEnabled(not running)
        self.options.set_enabled_for_run(running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Keep going" if self.paused else "Pause")
        self.pause_button.setIcon(icon("start" if self.paused else "pause"))
        idle = "Nothing is training."
        self.pause_button.setToolTip(
            idle
            if not running
            else "Continue training from where it paused."
            if self.paused
            else "Pause after this step; the model stays loaded. Keep going resumes it."
        )
        self.stop_button.setToolTip(
            "Finish the current step, save a checkpoint and stop." if running else idle
        )

    def _format(self, text: str) -> None:
        self.progress.setFormat(text.replace("%", "%%"))

    def _say(self, text: str, level: str | None = None) -> None:
        """The line under the progress bar; level 'error', 'warning', 'ok', 'info' or None."""
        set_message(self.summary, text, level)

    def _say_if_changed(self, text: str) -> None:
        """A plain line, restyled only when its level changes (this runs on every event)."""
        if self.summary.property("level"):
            self._say(text)
        elif self.summary.text() != text:
            self.summary.setText(text)


MACHINE = "Mac" if sys.platform == "darwin" else "computer"


def memory_words(message: str) -> str:
    """The memory guard's message for the window: its buttons, its settings' names."""
    what, _, fixes = message.partition(CONTINUE_OR_STOP)
    if not fixes:
        return plain_words(message)
    return (
        f"{what.replace('computer', MACHINE)}Close other apps and press Keep going, or press "
        f"Stop, then {plain_words(fixes)} and start a new run."
    )


def _steps_per_eval(run_dir: Path) -> int | None:
    try:
        return load_config(run_dir / runs.CONFIG).steps_per_eval
    except UserError:  # unreadable: the ETA leaves validations out
        return None


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
