"""The Model page: discovered models, the memory gauge following the LoRA settings, the
catalog download with progress and Cancel (against a local hub server)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from screens import screenshot  # tests/gui/screens.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "models"))


def test_gauge_follows_lora_settings(window, installed_tiny, tmp_path):
    page = window.model_page
    window.go("model")
    page.refresh()
    page.table.selectRow(0)
    assert window.state.model_path == installed_tiny
    assert page.estimate is None and page.gauge.verdict == "measuring"  # no data yet
    window.state.set_data(tmp_path)
    window.state.set_longest_example(60)
    first = page.estimate.peak_gb
    assert page.gauge.verdict == "fits"
    window.lora_page.w["batch_size"].setValue(64)
    assert page.estimate.peak_gb > first
    page.gauge.memory_gb = 0.01  # as if on a tiny machine: red, with the setting that would help
    window.lora_page.w["max_seq_length"].setValue(4096)
    assert page.gauge.verdict == "will not fit"
    assert "To fit:" in page.gauge.detail.text()
    assert "GB predicted peak" in page.gauge.headline.text()


def test_gauge_screenshot_with_demo_shape(window, studio_home, tmp_path):
    """The gauge for a SmolLM2-shaped model (config only: the estimate needs no weights)."""
    folder = studio_home / "models" / "SmolLM2-135M-Instruct"
    folder.mkdir(parents=True)
    config = {
        "model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30,
        "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
        "vocab_size": 49152, "max_position_embeddings": 8192, "tie_word_embeddings": True,
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps({**config, "torch_dtype": "bfloat16"}))
    import mlx.core as mx

    mx.save_safetensors(str(folder / "model.safetensors"), {"w": mx.zeros((4,))})  # a stand-in
    page = window.model_page
    window.go("model")
    page.refresh()
    assert window.state.model_path == folder  # the only model: preselected
    assert not page.demo_button.isVisibleTo(page)  # the demo is installed: not offered
    window.state.set_data(tmp_path)
    window.state.set_longest_example(700)
    window.lora_page.preset.setCurrentText("Balanced")
    assert page.estimate is not None and page.estimate.peak_gb > 1
    window.resize(1100, 720)
    path = screenshot(window, "model_page_gauge")
    assert path.stat().st_size > 10_000


def test_only_model_preselected_and_demo_offered_when_missing(window, installed_tiny):
    page = window.model_page
    window.go("model")
    page.refresh()
    assert window.state.model_path == installed_tiny
    assert page.selected_entry() is not None and page.selected_entry().path == installed_tiny
    assert page.table.item(0, 1).text() == "Ready"
    assert page.demo_button.isVisibleTo(page)  # tiny-llama is not the demo model
    assert page.models_view.currentWidget() is page.table


def test_empty_state_offers_the_demo(window, studio_home):
    page = window.model_page
    window.go("model")
    page.refresh()
    if page.models:  # a model elsewhere on this machine (HF cache...): nothing to assert
        return
    assert page.models_view.currentWidget() is page.empty
    assert page.empty_button.text() == "Install demo model"
    assert page.empty_button.property("primary") is True
    assert not page.demo_button.isVisibleTo(page)  # one offer, in the empty state
    window.resize(1280, 800)
    screenshot(window, "model_page_empty")


def test_untrainable_row_says_why(window, installed_tiny, studio_home):
    broken = studio_home / "models" / "no-weights"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text((installed_tiny / "config.json").read_text())
    page = window.model_page
    page.refresh()
    row = [m.name for m in page.models].index("no-weights")
    assert page.table.item(row, 1).text().startswith("Can't train: no .safetensors")
    assert window.state.model_path == installed_tiny  # still the one trainable model


def test_catalog_download_and_cancel(window, qtbot, tiny_model, tmp_path, monkeypatch, studio_home):
    from hubserver import start_hub

    hub, stop = start_hub(tmp_path / "hub", monkeypatch)
    try:
        hub.add("org/tiny", tiny_model)
        page = window.model_page
        window.go("model")
        assert page.catalog_box.count() >= 10
        page.download("org/tiny")
        with qtbot.waitSignal(page.job.ended, timeout=120_000):
            pass
        assert "Done" in page.status.text(), page.log.toPlainText()
        assert any(m.name == "tiny" for m in page.models)
        assert window.state.model_path.name == "tiny"
        # The raw log waits behind Details: offered, not opened, after a success.
        assert page.details_button.isVisibleTo(page) and not page.details_button.isChecked()
        assert not page.log.isVisibleTo(page)

        page.download("org/nope")
        with qtbot.waitSignal(page.job.ended, timeout=120_000):
            pass
        assert "not found" in page.status.text()
        assert page.details_button.isChecked() and page.log.isVisibleTo(page)  # failed: open
        page.details_button.click()
        assert not page.log.isVisibleTo(page)

        hub.delay = 0.05  # slow enough to cancel mid-way
        shutil.rmtree(studio_home / "models" / "tiny", ignore_errors=True)
        hub.requests.clear()
        page.download("org/tiny")
        qtbot.waitUntil(lambda: page.cancel_button.isEnabled(), timeout=10_000)
        started = lambda: any(r.endswith(".safetensors") for r in hub.requests)  # noqa: E731
        qtbot.waitUntil(started, timeout=60_000)
        page.cancel()
        with qtbot.waitSignal(page.job.ended, timeout=60_000):
            pass
        assert "Cancelled" in page.status.text(), page.log.toPlainText()
        assert "cancelled; run it again to resume" in page.log.toPlainText()
        assert page.download_button.isEnabled() and not page.cancel_button.isEnabled()
    finally:
        stop()


def test_gguf_in_added_folder_is_imported_requantized(window, qtbot, tiny_model, tmp_path):
    from gguf_writer import llama_gguf

    folder = tmp_path / "ggufs"
    folder.mkdir()
    llama_gguf(tiny_model, folder / "tiny-q4.gguf", "Q4_0")
    page = window.model_page
    window.go("model")
    page.add_folder(folder)
    rows = [m.name for m in page.models]
    page.table.selectRow(rows.index("tiny-q4"))
    assert "GGUF file" in page.status.text() and page.import_button.text() == "Import selected GGUF"
    assert window.state.model_path is None  # a GGUF is not a trainable folder yet
    page.requantize.setCurrentIndex(page.requantize.findData("8"))
    page.import_button.click()
    with qtbot.waitSignal(page.job.ended, timeout=120_000):
        pass
    assert "Done" in page.status.text(), page.log.toPlainText()
    assert "requantized to MLX 8-bit" in page.log.toPlainText()
    chosen = next(m for m in page.models if m.path == window.state.model_path)
    assert chosen.quantization == "8-bit" and chosen.source == "app"


def test_words_sizes_and_columns(window, installed_tiny):
    from PySide6.QtWidgets import QHeaderView, QLabel

    from mlxstudio.gui.pages.model_page import models_found, parameters_text, size_text

    assert models_found(1) == "1 model found" and models_found(3) == "3 models found"
    assert parameters_text(120_000) == "<1M" and parameters_text(135_000_000) == "135M"
    assert size_text(300_000) == "<1 MB" and size_text(270_000_000) == "270 MB"
    page = window.model_page
    window.go("model")
    page.refresh()
    assert re.match(r"\d+ models? found \(app folder", page.status.text())
    assert "(s)" not in page.status.text()
    row = [m.name for m in page.models].index("tiny-llama")
    assert page.table.item(row, 3).text() == "<1M"  # a tiny model is not "0M"
    size = page.table.item(row, 5).text()
    assert size.endswith(" MB") and size != "0 MB"
    header = page.table.horizontalHeader()
    assert header.sectionResizeMode(0) == QHeaderView.ResizeMode.Stretch  # Name takes the room
    assert header.sectionResizeMode(1) == QHeaderView.ResizeMode.ResizeToContents
    label = next(w for w in page.findChildren(QLabel) if w.buddy() is page.requantize)
    assert label.text() == "GGUF import:"
    assert not page.details_button.isVisibleTo(page) and not page.log.isVisibleTo(page)
