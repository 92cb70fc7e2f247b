"""Training page: start, pause, continue, stop; live plots, progress with ETA, the log."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal
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

from mlxstudio.core import paths, runs
from mlxstudio.core.config import dump_config
from mlxstudio.engine.job import JobThread, mlxstudio_command
from mlxstudio.gui.pages.base import Page
from mlxstudio.gui.widgets.hosts_picker import HostsPicker
from mlxstudio.gui.widgets.method_picker import MethodPicker
from mlxstudio.gui.widgets.plots import MetricPlots


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


class TrainPage(Page):
    title = "Training"
    subtitle = (
        "Fine-tune with the settings you chose. Curves update live; you can close "
        "the window, training goes on."
    )

    # run name, step, total steps, last train loss (nan if none), eta seconds (-1), running
    status = Signal(str, int, int, float, float, bool)
    run_ended = Signal(str, str)  # run name, outcome message

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.job: JobThread | None = None
        self._ended = True
        self.run_name = ""
        self.total = 0
        self.step = 0
        self.last_loss = float("nan")
        self.paused = False
        self.started = 0.0

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("run name (optional)")
        self.name_edit.setToolTip("The run's folder name under runs/.")
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue a stopped or crashed run from its last checkpoint.")
        self.resume_button.clicked.connect(self.resume_run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Finish the current step, save the adapters and stop.")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.method = MethodPicker()
        self.method.changed.connect(lambda values: self.state.update_config(**values))
        self.hosts = HostsPicker()
        self.hosts.check_requested.connect(self.check_hosts)
        controls = QHBoxLayout()
        controls.addWidget(self.name_edit, 1)
        for b in (self.start_button, self.resume_button, self.pause_button, self.stop_button):
            controls.addWidget(b)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)  # an unset bar draws no text at all
        self.progress.setFormat("Not started")
        self.summary = QLabel("Press Start to fine-tune the model on your data.")
        self.summary.setObjectName("Hint")
        # Long paths must wrap or clip, never widen the window.
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setWordWrap(True)

        self.plots = MetricPlots()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("The training log appears here.")
        self.samples = QTextBrowser()
        self.samples.setPlaceholderText(
            "Answers to your sample prompts appear here as training goes "
            "(set sample_prompts in the settings YAML)."
        )
        self.bottom = QTabWidget()
        self.bottom.addTab(self.log, "Log")
        self.bottom.addTab(self.samples, "Samples")
        self.split = split = QSplitter()
        split.setOrientation(split.orientation().Vertical)
        split.addWidget(self.plots)
        split.addWidget(self.bottom)
        split.setSizes([420, 130])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.method)
        layout.addWidget(self.hosts)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        self._buttons(running=False)

    # ---- state of the controls
    def _resumable(self) -> bool:
        run = self.state.run_dir
        if run is None or not (run / "checkpoints").is_dir():
            return False
        return runs.read_meta(run).get("status") != "completed"

    def _buttons(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.resume_button.setVisible(not running and self._resumable())
        self.name_edit.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Continue" if self.paused else "Pause")

    def is_running(self) -> bool:
        """From Start until the page has handled the job's end (the thread can finish a
        moment before its queued `ended` signal reaches the window)."""
        return self.job is not None and (self.job.isRunning() or not self._ended)

    def problems(self) -> list[str]:
        missing = []
        if not self.state.config.model:
            missing.append("Choose a model first.")
        if not self.state.config.data:
            missing.append("Choose a dataset first.")
        if self.state.config.stage == "grpo" and not self.state.config.reward_model:
            missing.append("Choose a reward for online RL.")
        if self.hosts.enabled.isChecked():
            if self.hosts.hostfile is None:
                missing.append("Choose a hostfile to train on several Macs.")
            elif self.state.config.stage != "sft":
                missing.append("Only supervised fine-tuning runs on several Macs for now.")
        return missing

    # ---- the job
    def start(self) -> None:
        if self.is_running():
            return
        missing = self.problems()
        if missing:
            self.summary.setText(" ".join(missing))
            return
        model = Path(self.state.config.model).name
        self.run_name = self.name_edit.text().strip() or f"{model}-{time.strftime('%m%d-%H%M')}"
        cfg = replace(self.state.config, name=self.run_name, adapter_path=None)
        config_dir = paths.home() / "configs"
        config_dir.mkdir(parents=True, exist_ok=True)
        config_path = config_dir / f"{self.run_name}.yaml"
        dump_config(cfg, config_path)
        self.total, self.step = cfg.iters, 0
        self.set_stage(cfg.stage)
        self.plots.clear()
        self.samples.clear()
        self._launch(["train", str(config_path), "--events", *self.hosts.args()])
        self.summary.setText(f"Run {self.run_name}: settings saved to {config_path}")

    def check_hosts(self, hostfile: Path) -> None:
        """`mlxstudio doctor` in the background; its table goes to the log."""
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

    def resume_run(self) -> None:
        """Continue the current run from its last checkpoint (same run directory)."""
        run = self.state.run_dir
        if self.is_running() or run is None:
            return
        self.run_name = run.name
        self.show_run(run)
        self._launch(["train", "--resume", str(run), "--events", *self.hosts.args()])
        self.summary.setText(f"Resuming {run.name} from its last checkpoint…")

    def _launch(self, args: list[str]) -> None:
        self.last_loss = float("nan")
        self.paused = False
        self.started = time.time()
        self.step_at_start = self.step
        self.log.clear()
        self.progress.setRange(0, max(self.total, 1))
        self.progress.setValue(self.step)
        self.progress.setFormat("Loading the model…")
        self.job = JobThread(mlxstudio_command(*args), parent=self)
        self.job.event.connect(self.on_event)
        self.job.log.connect(self.log.appendPlainText)
        self.job.ended.connect(self.on_ended)
        self._ended = False
        self.job.start()
        self._buttons(running=True)
        self._emit_status()

    def stop(self) -> None:
        if self.is_running():
            self.progress.setFormat("Stopping after this step…")
            self.job.stop()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop a running job and wait for it to save; kill it if it does not end in time."""
        if self.job is None or not self.job.isRunning():
            return
        self.job.stop()
        if not self.job.wait(timeout_ms):
            self.job.kill()
            self.job.wait(5000)

    def toggle_pause(self) -> None:
        if not self.is_running():
            return
        if self.paused:
            self.job.resume()
        else:
            self.job.pause()

    def on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start" and event.get("run_dir"):
            self.state.set_run(Path(event["run_dir"]))
        elif kind == "paused":
            self.paused = True
            self.progress.setFormat("Paused at step %v of %m")
        elif kind == "resumed":
            self.paused = False
        elif kind == "train":
            self.last_loss = float(event["train_loss"])
        elif kind == "sample":
            self.on_sample(event)
        elif kind in ("error", "warning"):
            self.log.appendPlainText(f"{kind}: {event.get('message', '')}")
        if isinstance(event.get("step"), int) and kind in ("train", "val"):
            self.step = max(self.step, event["step"])
            self.progress.setValue(self.step)
            if not self.paused:
                self.progress.setFormat(
                    f"Step %v of %m · loss {self.last_loss:.3f} · ETA {format_eta(self.eta())}"
                )
        self.plots.add_event(event)
        self._buttons(running=self.is_running())
        self._emit_status()

    def eta(self) -> float | None:
        done = self.step - getattr(self, "step_at_start", 0)
        if done <= 0 or not self.total:
            return None
        elapsed = time.time() - self.started
        return elapsed / done * (self.total - self.step)

    def on_ended(self, code: int, error: str) -> None:
        self._ended = True
        outcome = {0: "completed", 130: "stopped"}.get(code, "failed")
        message = f"Run {self.run_name} {outcome}"
        if code < 0:  # killed by a signal: MLX aborts this way when memory runs out
            message += (
                f": the training process was killed (signal {-code}), often because "
                f"memory ran out; lower batch_size or max_seq_length, then Resume"
            )
        elif outcome == "failed":
            message += f": {error or 'see the log'}"
        elif self.state.run_dir:
            message += f". Adapters in {self.state.run_dir}"
        self.summary.setText(message)
        self.progress.setFormat(outcome.capitalize() + " at step %v of %m")
        self.paused = False
        self._buttons(running=False)
        self._emit_status(running=False)
        self.run_ended.emit(self.run_name, message)

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
    def show_run(self, run_dir: Path) -> None:
        """Show a finished run's curves (from its metrics.jsonl)."""
        events = list(runs.read_events(run_dir))
        meta = runs.read_meta(run_dir)
        self.set_stage(str(meta.get("stage", "sft")))
        self.plots.clear()
        self.samples.clear()
        for event in events:
            if event.get("event") == "sample":
                self.on_sample(event)
        self.plots.add_events(events)
        self.plots.redraw(everything=True)
        steps = [e["step"] for e in events if isinstance(e.get("step"), int)]
        total = next((e.get("total_steps") for e in events if e.get("total_steps")), 0)
        self.progress.setRange(0, max(total or 0, 1))
        self.progress.setValue(max(steps, default=0))
        self.progress.setFormat(f"{meta.get('status', 'unknown')} · step %v of %m")
        self.summary.setText(f"Run {run_dir.name} · model {Path(meta.get('model', '?')).name}")
        self.total = int(total or 0)
        self.step = max(steps, default=0)
        self.state.set_run(run_dir)
        self._buttons(running=self.is_running())

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


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
