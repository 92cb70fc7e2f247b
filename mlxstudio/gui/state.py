"""What the wizard has gathered so far: one RunConfig plus the choices around it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from mlxstudio.core.config import RunConfig


class WizardState(QObject):
    """Shared by all pages; pages write their part through the setters and listen to the
    signal of what they depend on. Every setter emits its own signal, then `changed`, for
    what depends on everything (the window's step marks and Next)."""

    goal_changed = Signal()  # goal (the Goal page's choice)
    data_changed = Signal()  # data_dir and config.data
    model_changed = Signal()  # model_path and config.model
    lengths_changed = Signal()  # longest_example
    settings_changed = Signal()  # the rest of config: method, LoRA, training options
    run_changed = Signal()  # run_dir
    changed = Signal()  # after any of the above

    def __init__(self) -> None:
        super().__init__()
        self.config = RunConfig(iters=200, steps_per_eval=50, steps_per_report=10)
        self.data_dir: Path | None = None
        self.model_path: Path | None = None
        self.run_dir: Path | None = None
        # tokens in the dataset's longest example (from the Data page's token statistics):
        # batches are padded to it, not to max_seq_length, so memory depends on it
        self.longest_example: int | None = None
        self.goal = "answer"  # a key of gui/goals.GOALS, chosen on the Goal page

    def set_goal(self, key: str) -> None:
        if key != self.goal:
            self.goal = key
            self._emit(self.goal_changed)

    def set_data(self, folder: Path | None, keep_lengths: bool = False) -> None:
        """The prepared dataset folder; `keep_lengths` when it holds the same records whose
        token lengths were measured (preparing splits them, it doesn't change them)."""
        self.data_dir = folder
        if not keep_lengths:
            self.longest_example = None
        self.config = replace(self.config, data=str(folder) if folder else "")
        self._emit(self.data_changed)

    def set_model(self, path: Path | None) -> None:
        self.model_path = path
        self.config = replace(self.config, model=str(path) if path else "")
        self._emit(self.model_changed)

    def set_longest_example(self, tokens: int | None) -> None:
        self.longest_example = tokens
        self._emit(self.lengths_changed)

    def update_config(self, **values) -> None:
        self.config = replace(self.config, **values)
        self._emit(self.settings_changed)

    def replace_config(self, config: RunConfig) -> None:
        """A whole config at once (imported settings)."""
        self.config = config
        self._emit(self.settings_changed)

    def set_run(self, run_dir: Path | None) -> None:
        self.run_dir = run_dir
        self._emit(self.run_changed)

    def _emit(self, signal) -> None:
        signal.emit()
        self.changed.emit()
