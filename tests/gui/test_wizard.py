"""The wizard, driven offscreen with real widgets, files and child processes."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from mlxstudio.core.config import load_config


def drop_on(widget, paths) -> None:
    """Deliver a real QDropEvent with file URLs to the widget's drop handler (offscreen Qt
    has no drag manager to route a synthetic drag through)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(event)
    assert event.isAccepted()


def test_next_says_what_is_missing(window):
    window.go("data")
    window.next()
    assert window.current_name() == "data"
    assert "dataset" in window.problems.text()


def test_dropping_a_dataset_folder_on_the_window(window, qtbot, chat_data):
    drop_on(window, [chat_data])
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    assert window.state.data_dir == chat_data.resolve()
    assert window.data_page.table.rowCount() == 24  # train + valid records, previewed
    assert "24 records · chat messages" in window.data_page.info.text()
    assert "ready to train" in window.data_page.info.text()
    window.next()
    assert window.current_name() == "model"


def test_dropping_something_unusable_lists_the_problem(window, qtbot, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.jsonl").write_text('{"messages": [}\n')
    page = window.data_page
    window.go("data")
    drop_on(page.zone, [bad])
    qtbot.waitUntil(lambda: page.checked is not None, timeout=30_000)
    assert window.state.data_dir is None
    first = page.problem_list.item(0).text()
    assert first.startswith("train.jsonl:1:") and "JSON" in first
    page.problem_list.setCurrentRow(0)
    detail = page.problem_detail.text()
    assert "line 1" in detail and '{"messages": [}' in detail
    window.next()
    assert window.current_name() == "data" and "dataset" in window.problems.text()


def test_other_formats_are_prepared_into_a_split(window, qtbot, tmp_path, studio_home):
    import json

    alpaca = tmp_path / "alpaca.json"
    rows = [{"instruction": f"Say {i}", "input": "", "output": f"{i}!"} for i in range(20)]
    alpaca.write_text(json.dumps(rows))
    page = window.data_page
    page.valid.setValue(25)
    page.open_paths([alpaca])
    # One file of good records, needing no choice: prepared without another click.
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    assert "Prepared alpaca-" in page.info.text() and "train: 15" in page.info.text()
    assert not page.prepare_button.isEnabled() and page.prepare_button.toolTip() == "Ready to train"
    out = window.state.data_dir
    assert out.parent == studio_home / "datasets"
    assert sum(1 for _ in (out / "valid.jsonl").open()) == 5
    assert sum(1 for _ in (out / "train.jsonl").open()) == 15


def test_model_page_lists_and_selects(window, installed_tiny):
    window.go("model")
    window.model_page.refresh()
    assert window.model_page.table.rowCount() == 1
    assert window.model_page.table.item(0, 0).text() == "tiny-llama"
    window.model_page.table.selectRow(0)
    assert window.state.model_path == installed_tiny
    assert window.model_page.problems() == []


def test_lora_presets_and_yaml_round_trip(window, tmp_path):
    page = window.lora_page
    page.preset.setCurrentText("Quick test")
    assert window.state.config.iters == 50 and window.state.config.lora_parameters["rank"] == 8
    page.w["rank"].setValue(24)
    assert page.preset.currentText() == "Custom"
    assert window.state.config.lora_parameters["rank"] == 24
    out = tmp_path / "settings.yaml"
    page.export_yaml(out)
    assert load_config(out).lora_parameters["rank"] == 24
    page.preset.setCurrentText("Quality")
    page.import_yaml(out)
    assert page.w["rank"].value() == 24 and window.state.config.iters == 50


def test_lora_import_error_is_shown(window, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lerning_rate: 1\n")
    window.lora_page.import_yaml(bad)
    assert "did you mean 'learning_rate'" in window.lora_page.message.text()


def test_every_setting_has_a_tooltip(window):
    assert all(w.toolTip() for w in window.lora_page.w.values())


def test_tray_status_line():
    from mlxstudio.gui.tray import status_text

    assert status_text("demo", 20, 40, 0.4123, 65, True) == (
        "demo · step 20/40 · loss 0.412 · ETA 1m 05s"
    )
    assert status_text("", 0, 0, float("nan"), -1, False) == "No training run"


def test_memory_estimate_uses_the_longest_example(window, qtbot, chat_data, installed_tiny):
    window.data_page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    window.go("model")
    window.model_page.refresh()
    window.model_page.table.selectRow(0)
    qtbot.waitUntil(lambda: window.state.longest_example is not None, timeout=60_000)
    longest = window.state.longest_example
    assert 5 < longest < 100  # "What is 7 plus 7?" as a ChatML conversation
    assert "median" in window.data_page.token_info.text()
    window.model_page.update_estimate()
    assert f"{longest} tokens (your longest example)" in window.model_page.gauge.detail.text()
