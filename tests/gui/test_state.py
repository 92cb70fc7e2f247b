"""The wizard's state says what changed: each setter emits its own signal, then `changed`."""

from __future__ import annotations

from pathlib import Path

import pytest

SPECIFIC = (
    "goal_changed",
    "data_changed",
    "model_changed",
    "lengths_changed",
    "settings_changed",
    "run_changed",
)


@pytest.fixture
def state(qtbot):
    from mlxstudio.gui.state import WizardState

    return WizardState()


def emitted(state, change) -> list[str]:
    heard: list[str] = []
    for name in (*SPECIFIC, "changed"):
        getattr(state, name).connect(lambda name=name: heard.append(name))
    change()
    return heard


def test_each_setter_emits_its_own_signal_then_changed(state, tmp_path):
    from mlxstudio.core.config import RunConfig

    cases = [
        (lambda: state.set_goal("prefer"), "goal_changed"),
        (lambda: state.set_data(tmp_path), "data_changed"),
        (lambda: state.set_model(tmp_path / "m"), "model_changed"),
        (lambda: state.set_longest_example(300), "lengths_changed"),
        (lambda: state.update_config(iters=7), "settings_changed"),
        (lambda: state.replace_config(RunConfig(iters=9)), "settings_changed"),
        (lambda: state.set_run(tmp_path / "run"), "run_changed"),
    ]
    for change, signal in cases:
        assert emitted(state, change) == [signal, "changed"], signal
    assert state.goal == "prefer" and state.config.iters == 9
    assert state.run_dir == Path(tmp_path / "run") and state.longest_example == 300
    assert emitted(state, lambda: state.set_goal("prefer")) == []  # the same goal: no news
    # New data forgets the lengths measured for the old, unless they are the same records.
    state.set_data(tmp_path / "other")
    assert state.longest_example is None and state.config.data == str(tmp_path / "other")
