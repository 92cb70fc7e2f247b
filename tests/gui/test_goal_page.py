"""The Goal page: the first choice sets the method, the data the Data page expects (with its
sample) and the reward for online RL."""

from __future__ import annotations

from screens import screenshot

from mlxstudio.gui.widgets.reward_picker import parse_kwargs


def test_each_goal_sets_the_method_and_the_expected_data(window):
    page = window.goal_page
    expected = {"answer": "sft", "prefer": "dpo", "reward": "rl", "text": "sft"}
    for key, stage in expected.items():
        page.cards[key].clicked.emit(key)
        assert window.state.goal == key and window.state.config.stage == stage
        assert page.cards[key].property("selected")
        assert not any(c.property("selected") for k, c in page.cards.items() if k != key)
        assert page.goal.title in window.data_page.goal_line.text()
    page.choose("prefer")
    assert '"chosen"' in page.sample.toPlainText()
    assert window.train_page.method_line.text().count("Preference") or "DPO" in (
        window.train_page.method_line.text()
    )


def test_online_reward_and_its_settings_reach_the_config(window):
    page = window.goal_page
    window.go("goal")
    page.choose("reward")
    assert page.reward_box.isVisible() and not page.reward.isVisible()
    page.online.setChecked(True)
    assert page.reward.isVisible()
    page.reward.choose("max_words", "max_words=12")
    cfg = window.state.config
    assert (cfg.stage, cfg.reward_model, cfg.reward_kwargs) == (
        "grpo",
        "max_words",
        {"max_words": 12},
    )
    assert '"prompt"' in page.sample.toPlainText()
    page.reward.choose("/tmp/my_reward.py:Mine")
    assert window.state.config.reward_model == "/tmp/my_reward.py:Mine"
    screenshot(window, "goal-reward-online")
    page.choose("answer")
    assert window.state.config.stage == "sft" and window.state.config.reward_model is None
    assert not page.reward_box.isVisible()


def test_the_goal_sample_opens_on_the_data_page(window, qtbot):
    window.goal_page.choose("prefer")
    window.goal_page.sample_button.click()
    assert window.current_name() == "data"
    page = window.data_page
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
    assert "preference pairs" in page.info.text()
    assert not page.switch_goal.isVisible()


def test_reward_settings_parse():
    assert parse_kwargs("keywords=Paris,France; flags=i") == {
        "keywords": ["Paris", "France"],
        "flags": "i",
    }
    assert parse_kwargs("target_words=7.5") == {"target_words": 7.5}
    assert parse_kwargs("pattern=^a{1,3}$") == {"pattern": "^a{1,3}$"}  # commas of a regex


def test_dpo_run_plots_the_margin(window, qtbot, installed_tiny):
    from mlxstudio.core import paths

    data = paths.resources_dir() / "sample_data" / "rl" / "preference"
    window.state.set_data(data)
    window.state.set_model(installed_tiny)
    window.goal_page.choose("prefer")
    window.state.update_config(
        iters=6,
        num_layers=2,
        steps_per_eval=3,
        steps_per_report=2,
        save_every=3,
        batch_size=2,
        learning_rate=1e-3,
    )
    window.go("train")
    page = window.train_page
    page.name_edit.setText("dpo-run")
    page.start()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=300_000)
    assert "completed" in page.summary.text(), page.log.toPlainText()[-2000:]
    assert page.plots.stage == "dpo"
    page.plots.redraw(everything=True)
    margin = page.plots.series[("train", "margin")]
    assert margin.n >= 2


def test_several_rewards_with_weights_train_with_a_curve_each(window, qtbot, installed_tiny):
    from mlxstudio.core import paths

    page = window.goal_page
    window.go("goal")
    page.choose("reward")
    page.online.setChecked(True)
    page.reward.choose("max_words", "max_words=6")
    weight = page.reward.rows[0].weight
    assert not weight.isVisible()  # one reward: no weight to set
    page.reward.add_button.click()  # the next built-in not chosen yet
    assert len(page.reward.rows) == 2 and weight.isVisible()
    page.reward.rows[1].picker.choose("repetition", "n=1")
    page.reward.rows[1].weight.setValue(0.5)
    cfg = window.state.config
    assert (cfg.reward_model, cfg.reward_functions) == (
        None,
        [
            {"name": "max_words", "weight": 1.0, "kwargs": {"max_words": 6}},
            {"name": "repetition", "weight": 0.5, "kwargs": {"n": 1}},
        ],
    )
    assert "max_words ×1 + repetition ×0.5" in window.train_page.method_line.text()
    screenshot(window, "goal-rewards-combined")
    page.reward.add()
    page.reward.rows[2].remove.click()
    assert len(page.reward.rows) == 2

    window.state.set_data(paths.resources_dir() / "sample_data" / "rl" / "prompts")
    window.state.set_model(installed_tiny)
    window.state.update_config(
        iters=2, num_layers=2, steps_per_eval=2, steps_per_report=1, save_every=2,
        batch_size=2, group_size=2, max_new_tokens=8, sample_prompts=[],
    )  # fmt: skip
    window.go("train")
    train = window.train_page
    assert train.problems() == []
    train.name_edit.setText("two-rewards")
    train.start()
    qtbot.waitUntil(lambda: not train.is_running(), timeout=300_000)
    assert "completed" in train.summary.text(), train.log.toPlainText()[-2000:]
    train.plots.redraw(everything=True)
    for name in ("reward.max_words", "reward.repetition", "check.repetition"):
        assert train.plots.series[("train", name)].n == 2, name


def test_online_sample_is_the_grpo_demo_and_its_settings_are_on_the_lora_page(window, qtbot):
    """Use the sample data for online RL: the bundled GRPO demo's questions, its reward
    (the right number), its watched checks and the settings it learns with; the LoRA page
    shows and edits the stage's own settings."""
    from mlxstudio.core import paths
    from mlxstudio.core.config import load_config

    demo = load_config(paths.resources_dir() / "configs" / "grpo_demo.yaml")
    page = window.goal_page
    window.go("goal")
    page.choose("reward")
    page.online.setChecked(True)
    page.reward.choose("max_words", "max_words=20")  # a reward the demo replaces
    page.sample_button.click()
    assert window.current_name() == "data"
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
    assert window.state.data_dir.name == "math"
    cfg = window.state.config
    assert (cfg.stage, cfg.reward_model) == ("grpo", "math_answer")
    assert cfg.reward_checks == demo.reward_checks and len(cfg.reward_checks) == 2
    settings = ("group_size", "temperature", "learning_rate", "iters", "max_new_tokens")
    assert [getattr(cfg, k) for k in settings] == [getattr(demo, k) for k in settings]

    window.go("settings")
    lora = window.lora_page
    assert lora.stage_box.isVisible() and lora.stage_box.title() == "Learning from a reward"
    assert (lora.w["group_size"].value(), lora.w["temperature"].value()) == (6, 0.3)
    assert lora.w["learning_rate"].text() == f"{demo.learning_rate:g}"
    assert not lora.w["beta"].isVisible()
    screenshot(window, "lora-grpo-settings")
    lora.w["group_size"].setFocus()
    qtbot.waitUntil(lora.w["group_size"].hasFocus)
    lora.w["group_size"].setValue(4)
    assert lora.w["group_size"].hasFocus()  # the row is not laid out again under the typing
    lora.w["temperature"].setValue(0.7)
    assert (window.state.config.group_size, window.state.config.temperature) == (4, 0.7)
    assert window.state.config.reward_model == "math_answer"  # the page keeps the rest
    page.choose_method("gspo")  # a clip of 3e-4: the field rounds it, an edit must not
    lora.w["iters"].setValue(20)
    cfg = window.state.config
    assert (cfg.iters, cfg.clip_range, cfg.clip_range_high) == (20, 3e-4, 4e-4)

    page.choose("prefer")
    assert lora.stage_box.title() == "Preference" and lora.w["beta"].isVisible()
    assert not lora.w["group_size"].isVisible()
    lora.w["beta"].setValue(0.25)
    assert window.state.config.beta == 0.25
    page.choose("answer")
    assert not lora.stage_box.isVisible()
