"""The LoRA settings page: "Adapter" (not a second "Method"), preset buttons, window-words
messages, the memory gauge."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QGroupBox


def test_adapter_is_labelled_adapter_not_method(window):
    page = window.lora_page
    titles = [b.title() for b in page.findChildren(QGroupBox)]
    assert "Adapter" in titles and "Method" not in titles
    form = next(b for b in page.findChildren(QGroupBox) if b.title() == "Adapter").layout()
    assert isinstance(form, QFormLayout)
    label = form.labelForField(page.w["fine_tune_type"])
    assert label is not None and label.text() == "Adapter"
    box = page.w["fine_tune_type"]
    assert [box.itemText(i) for i in range(box.count())] == ["LoRA", "DoRA", "Full"]
    box.setCurrentIndex(box.findData("dora"))
    assert window.state.config.fine_tune_type == "dora"


def test_presets_are_buttons_with_descriptions(window):
    page = window.lora_page
    quick = page.preset.buttons["Quick test"]
    assert "\n" in quick.text() and quick.isCheckable()
    quick.click()
    assert quick.isChecked() and page.preset.currentText() == "Quick test"
    assert window.state.config.iters == 50
    page.w["rank"].setValue(12)
    assert page.preset.currentText() == "Custom" and not quick.isChecked()
    page.preset.setCurrentText("Balanced")
    assert page.preset.buttons["Balanced"].isChecked() and window.state.config.iters == 300


def test_export_message_in_window_words(window, tmp_path):
    page = window.lora_page
    out = tmp_path / "s.yaml"
    page.export_yaml(out)
    text = page.message.text()
    assert out.is_file() and "Import it later from this page" in text
    assert "mlxstudio" not in text and "--" not in text
    assert page.message.property("level") == "ok"


def test_lora_page_has_the_gauge(window, installed_tiny, tmp_path):
    page = window.lora_page
    window.model_page.refresh()
    window.state.set_data(tmp_path)
    assert page.gauge.verdict == "measuring"
    window.state.set_longest_example(30)
    assert page.gauge.verdict == "fits"
