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


def test_optimizers_capitalised_values_unchanged(window):
    page = window.lora_page
    box = page.w["optimizer"]
    assert [box.itemText(i) for i in range(box.count())] == ["Adam", "AdamW", "SGD", "Adafactor"]
    box.setCurrentText("AdamW")
    assert window.state.config.optimizer == "adamw"  # the config keeps mlx-lm's value
    window.state.update_config(optimizer="sgd")
    page.load_from_state()
    assert box.currentText() == "SGD" and box.currentData() == "sgd"


def test_rows_line_up_and_boxes_share_the_width(window):
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication, QCheckBox

    from mlxstudio.gui.pages.lora_page import FIELD_WIDTH

    page = window.lora_page
    window.resize(1280, 800)
    window.go("settings")
    QApplication.processEvents()
    fields = [w for w in page.w.values() if not isinstance(w, QCheckBox)]
    assert {w.width() for w in fields} == {FIELD_WIDTH}
    assert len({w.height() for w in fields}) == 1

    def top(key):
        return page.w[key].mapTo(page, QPoint(0, 0)).y()

    # Row n of each box at the same height, and the field column at one x inside a box.
    for row in (("fine_tune_type", "learning_rate", "steps_per_eval"),
                ("num_layers", "iters", "save_every"),
                ("rank", "batch_size", "seed")):  # fmt: skip
        assert len({top(k) for k in row}) == 1, [(k, top(k)) for k in row]
    boxes = [b for b in page.findChildren(QGroupBox) if b.title() in ("Adapter", "Training", "Run")]
    widths = [b.width() for b in boxes]
    assert max(widths) - min(widths) <= 2, widths  # no box stretches alone
    forms = [b.layout() for b in boxes]
    assert len({f.verticalSpacing() for f in forms}) == 1


def test_the_chosen_preset_looks_chosen(window):
    from mlxstudio.gui.pages.lora_page import PRESETS

    page = window.lora_page
    quick = page.preset.buttons["Quick test"]
    values = dict(PRESETS["Quick test"])
    rank = values.pop("rank")
    lora = dict(window.state.config.lora_parameters, rank=rank)
    window.state.update_config(lora_parameters=lora, **values)
    page.load_from_state()  # settings that are a preset's: its button is checked
    assert quick.isChecked() and quick.property("choice") is True
    assert page.preset.currentText() == "Quick test"
    window.state.update_config(iters=77)
    page.load_from_state()
    assert page.preset.currentText() == "Custom" and not quick.isChecked()


def test_steady_start_is_adams_bias_correction(window, tmp_path):
    from mlxstudio.core.config import load_config
    from mlxstudio.core.train.trainable import build_optimizer

    page = window.lora_page
    steady = page.w["bias_correction"]
    assert steady.isEnabled() and not steady.isChecked()  # mlx-lm's Adam by default
    assert "bias correction" in steady.toolTip()
    assert build_optimizer(window.state.config).bias_correction is False
    steady.setChecked(True)
    assert window.state.config.optimizer_config == {"adam": {"bias_correction": True}}
    assert build_optimizer(window.state.config).bias_correction is True
    out = tmp_path / "steady.yaml"
    page.export_yaml(out)
    assert load_config(out).optimizer_config == {"adam": {"bias_correction": True}}
    page.w["optimizer"].setCurrentText("SGD")
    assert not steady.isEnabled()  # SGD has no such correction
    assert window.state.config.optimizer_config == {}
    page.w["optimizer"].setCurrentText("AdamW")  # the choice follows the optimizer
    assert steady.isEnabled() and steady.isChecked()
    assert window.state.config.optimizer_config == {"adamw": {"bias_correction": True}}
    window.state.update_config(optimizer_config={"adamw": {"weight_decay": 0.01}})
    page.load_from_state()
    assert not steady.isChecked()
    steady.setChecked(True)  # the optimizer's other settings stay
    assert window.state.config.optimizer_config == {
        "adamw": {"weight_decay": 0.01, "bias_correction": True}
    }
    steady.setChecked(False)
    assert window.state.config.optimizer_config == {"adamw": {"weight_decay": 0.01}}
    page.import_yaml(out)
    assert steady.isChecked() and page.w["optimizer"].currentData() == "adam"


def test_a_diverged_run_offers_steady_start_in_window_words():
    from mlxstudio.gui.widgets.run_words import plain_words

    text = plain_words(
        "the loss became nan at step 3; training stopped. Lower learning_rate (now 0.001), "
        "set bias_correction: true in optimizer_config.adam, or set grad_clip (e.g. 1.0); "
        "the last checkpoint (step 0) is kept"
    )
    assert "Lower “Learning rate” (now 0.001), or turn on Steady start;" in text
    assert "optimizer_config" not in text and "grad_clip" not in text
    assert text.endswith("(LoRA settings page)")
