"""Run history's "Publish…": the dialog asks for a token when this computer has none, runs
the upload in a child process with progress, and says where the model went or why not."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from eval_run import make_tiny_run
from screens import screenshot

from mlxstudio.core import paths
from mlxstudio.gui.runs_view import RunHistory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "models"))
from hubserver import start_hub  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("publish-run"))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The fake hub (alice's token), LFS uploads, and no Hub login on this computer."""
    from huggingface_hub import constants

    state, stop = start_hub(tmp_path / "hub", monkeypatch)
    state.tokens = {"hf_alice": "alice"}
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # the child's: no stored login
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the child uploads by LFS, as served here
    yield state
    stop()


def open_dialog(qtbot, trained):
    run = paths.runs_dir() / "sums"
    shutil.copytree(trained, run)
    view = RunHistory()
    qtbot.addWidget(view)
    view.show()
    action = view.publish_action
    assert action in view.toolbar.actions() and not action.isEnabled()  # nothing selected
    view.select(run)
    assert action.isEnabled() and "Hugging Face Hub" in action.toolTip()
    action.trigger()
    dialog = view.publish_dialog
    qtbot.addWidget(dialog)
    return run, dialog


def test_publish_a_run_with_a_pasted_token(qtbot, hub, trained):
    run, dialog = open_dialog(qtbot, trained)
    assert dialog.repo.text() == "sums" and dialog.private.isChecked()
    assert dialog.token.isVisible() and "not logged in" in dialog.token_help.text()
    dialog.repo.setText("alice/sums gui")
    dialog.publish_button.click()
    assert "a Hub repo is named 'user/name'" in dialog.message.text() and dialog.task is None
    dialog.repo.setText("alice/sums-gui")
    dialog.publish_button.click()
    assert "Paste a Hub token" in dialog.message.text() and dialog.task is None
    dialog.token.setText("hf_alice")
    seen = []  # what the bar said, watched from before the task starts
    dialog.progress.valueChanged.connect(lambda _v: seen.append(dialog.progress.format()))
    dialog.publish_button.click()
    assert not dialog.publish_button.isEnabled() and dialog.cancel_button.isVisible()
    with qtbot.waitSignal(dialog.task.finished, timeout=180_000):
        pass
    qtbot.waitUntil(lambda: dialog.publish_button.isEnabled())
    assert dialog.url.endswith("/alice/sums-gui"), dialog.message.text()
    assert "Published:" in dialog.message.text() and dialog.url in dialog.message.text()
    repo = hub.root / "alice" / "sums-gui"
    assert (repo / "model.safetensors").is_file() and (repo / "README.md").is_file()
    assert "alice/sums-gui" in hub.private
    assert any("Uploading" in t for t in seen)
    screenshot(dialog, "history-publish")


def test_a_refused_token_is_said_in_the_dialog(qtbot, hub, trained):
    _run, dialog = open_dialog(qtbot, trained)
    dialog.repo.setText("alice/nope")
    dialog.adapter_only.setChecked(True)
    dialog.token.setText("hf_wrong")
    dialog.publish_button.click()
    with qtbot.waitSignal(dialog.task.finished, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: dialog.publish_button.isEnabled())
    text = dialog.message.text()
    assert "Not published: the Hub refused the token" in text and "Token field" in text
    assert "hf auth login" not in text and "HF_TOKEN" not in text  # the window's words
    assert not hub.commits and dialog.url == ""
