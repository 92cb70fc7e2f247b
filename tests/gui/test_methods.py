"""Choosing the training method on the Training page: SFT, DPO, offline PPO, GRPO."""

from __future__ import annotations

from mlxstudio.core import paths
from mlxstudio.gui.widgets.method_picker import parse_kwargs


def test_method_and_reward_reach_the_config(window):
    page = window.train_page
    page.method.choose("grpo", "max_words", "max_words=12")
    cfg = window.state.config
    assert (cfg.stage, cfg.reward_model, cfg.reward_kwargs) == (
        "grpo",
        "max_words",
        {"max_words": 12},
    )
    assert page.method.reward.isVisibleTo(page)
    page.method.choose("grpo", "/tmp/my_reward.py:Mine", "")
    assert window.state.config.reward_model == "/tmp/my_reward.py:Mine"
    page.method.choose("sft")
    assert window.state.config.stage == "sft" and window.state.config.reward_model is None
    assert not page.method.reward.isVisibleTo(page)


def test_reward_settings_parse():
    assert parse_kwargs("keywords=Paris,France; flags=i") == {
        "keywords": ["Paris", "France"],
        "flags": "i",
    }
    assert parse_kwargs("target_words=7.5") == {"target_words": 7.5}


def test_dpo_run_plots_the_margin(window, qtbot, installed_tiny):
    data = paths.resources_dir() / "sample_data" / "rl" / "preference"
    window.state.set_data(data)
    window.state.set_model(installed_tiny)
    window.state.update_config(
        iters=6,
        num_layers=2,
        steps_per_eval=3,
        steps_per_report=2,
        save_every=3,
        batch_size=2,
        learning_rate=1e-3,
    )
    window.go(3)
    page = window.train_page
    page.method.choose("dpo")
    page.name_edit.setText("dpo-run")
    page.start()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=300_000)
    assert "completed" in page.summary.text(), page.log.toPlainText()[-2000:]
    assert page.plots.stage == "dpo"
    page.plots.redraw(everything=True)
    margin = page.plots.series[("train", "margin")]
    assert margin.n >= 2
