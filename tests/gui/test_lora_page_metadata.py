"""The LoRA page takes its tooltips, ranges and choices from the config's field metadata,
its presets pass the config's checks, and a refused key reads as such in the window."""

from __future__ import annotations

import pytest

from mlxstudio.core.config import config_from_dict, settings
from mlxstudio.gui.pages.lora_page import PRESETS, spec_for


def test_tooltips_ranges_and_choices_are_the_metadata(window):
    page = window.lora_page
    described = settings()
    lora = described["lora_parameters"].keys
    assert page.w["batch_size"].toolTip() == described["batch_size"].help
    assert page.w["rank"].toolTip() == lora["rank"].help
    assert page.w["num_layers"].minimum() == described["num_layers"].min == -1
    assert page.w["rank"].minimum() == lora["rank"].min
    assert page.w["dropout"].maximum() == pytest.approx(lora["dropout"].below - 0.01)
    assert page.w["seed"].minimum() == 0 and page.w["iters"].minimum() == 1
    box = page.w["fine_tune_type"]
    assert tuple(box.itemData(i) for i in range(box.count())) == described["fine_tune_type"].choices
    optimizers = {page.w["optimizer"].itemData(i) for i in range(page.w["optimizer"].count())}
    assert optimizers <= set(described["optimizer"].choices)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_pass_the_config_checks(name):
    values = dict(PRESETS[name])
    rank = values.pop("rank")
    cfg = config_from_dict({**values, "lora_parameters": {"rank": rank, "scale": 20.0}})
    assert cfg.lora_parameters["rank"] == rank and cfg.iters == values["iters"]


def test_learning_rate_limit_is_the_metadata(window):
    page = window.lora_page
    page.w["learning_rate"].setText("0")
    [problem] = page.problems()
    assert "must be above 0" in problem and spec_for("learning_rate").above == 0
    page.w["learning_rate"].setText("1e-4")
    assert page.problems() == []


def test_a_refused_key_says_why_in_the_window(window, tmp_path):
    page = window.lora_page
    path = tmp_path / "remote.yaml"
    path.write_text("learning_rate: 1e-4\ntrust_remote_code: true\n")
    before = window.state.config
    page.import_yaml(path)
    text = page.message.text()
    assert f"{path}:2" in text and "'trust_remote_code' is not supported" in text
    assert "runs no code shipped with a model" in text and "remove the key" in text
    assert page.message.property("level") == "error" and window.state.config == before
