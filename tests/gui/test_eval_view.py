"""The Evaluate view on a tiny trained run: base vs fine-tuned, progress, Cancel, and the
ways to it (run history, the Training page)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from eval_run import make_tiny_run
from screens import screenshot

from mlxstudio.core import runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("eval-gui"))


@pytest.fixture
def run_copy(trained, studio_home) -> Path:
    """The run, in the app's runs folder (history lists it), ready to change."""
    dest = studio_home / "runs" / "sums"
    shutil.copytree(trained, dest)
    return dest


def rows_of(table) -> dict[str, list[str]]:
    return {
        table.item(r, 0).text(): [table.item(r, c).text() for c in range(1, 4)]
        for r in range(table.rowCount())
    }


def test_evaluate_shows_base_and_fine_tuned_side_by_side(qtbot, run_copy):
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.eval_view import EvalDialog
    from mlxstudio.gui.style import apply_style

    apply_style(QApplication.instance())  # as in the window, for the screenshot

    dialog = EvalDialog(run_copy)
    qtbot.addWidget(dialog)
    dialog.show()
    saved = rows_of(dialog.figures)  # the evaluation made as the run ended
    assert float(saved["Test loss"][1]) < float(saved["Test loss"][0])
    assert saved["Test loss"][2].startswith("−")  # lower loss: an improvement
    assert dialog.run_button.text() == "Evaluate again"
    (run_copy / "eval.json").unlink()
    fractions = []
    dialog.choices_box.setChecked(True)
    dialog.evaluate()
    dialog.task.progressed.connect(lambda f, _t: fractions.append(f))
    assert dialog.cancel_button.isVisible() and not dialog.run_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=180_000)
    assert "Evaluated" in dialog.message.text(), dialog.message.text()
    figures = rows_of(dialog.figures)
    assert {"Test loss", "Token F1", "Multiple-choice accuracy"} <= set(figures)
    assert fractions and fractions == sorted(fractions)
    assert "changed most" in dialog.examples.toHtml()
    assert (run_copy / "eval.json").is_file() and "eval" in runs.read_meta(run_copy)
    assert not dialog.cancel_button.isVisible() and dialog.run_button.isEnabled()
    dialog.resize(900, 640)
    screenshot(dialog, "eval_view")


def test_cancel_keeps_the_figures_shown(qtbot, run_copy):
    from mlxstudio.gui.eval_view import EvalDialog

    dialog = EvalDialog(run_copy)
    qtbot.addWidget(dialog)
    before = rows_of(dialog.figures)
    dialog.evaluate()
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
    assert "cancelled" in dialog.message.text()
    assert rows_of(dialog.figures) == before
    assert dialog.run_button.isEnabled()


def test_no_test_split_offers_a_file_chooser(qtbot, run_copy, tmp_path):
    from mlxstudio.core.config import dump_config, load_config
    from mlxstudio.gui.eval_view import NO_SPLIT, EvalDialog

    data = tmp_path / "no-test"
    data.mkdir()
    cfg = load_config(run_copy / runs.CONFIG)
    cfg.data = str(data)
    dump_config(cfg, run_copy / runs.CONFIG)
    (run_copy / "eval.json").unlink()
    dialog = EvalDialog(run_copy)
    qtbot.addWidget(dialog)
    assert dialog.message.text() == NO_SPLIT and "--" not in NO_SPLIT
    assert not dialog.run_button.isEnabled() and dialog.choose_button.property("primary")
    test = tmp_path / "mine.jsonl"
    test.write_text((Path(cfg.model).parent / "data" / "test.jsonl").read_text())
    dialog.set_data(test)
    assert dialog.run_button.isEnabled() and not dialog.choose_button.property("primary")


def test_reachable_from_history_and_the_training_page(qtbot, window, run_copy):
    from mlxstudio.gui.eval_view import EvalDialog

    history = window.history
    history.refresh()
    history.select(run_copy)
    action = history.evaluate_action
    assert action.isEnabled()
    window.resize(1100, 700)
    window.go("history")
    screenshot(window, "eval_from_history")
    action.trigger()
    assert isinstance(history.eval_dialog, EvalDialog)
    assert history.eval_dialog.run_dir == run_copy
    history.eval_dialog.close()

    page = window.train_page
    assert page.evaluate_button.isHidden()  # nothing shown yet
    assert page.show_run(run_copy)
    assert not page.evaluate_button.isHidden()
    window.go("train")
    screenshot(window, "eval_from_training")
    page.evaluate_button.click()
    assert page.eval_dialog.run_dir == run_copy
    page.eval_dialog.close()
