"""The Goal page's method choice: every preference and online-RL method is offered with a
sentence on when to use it, and choosing one sets (and, leaving it, resets) its keys."""

from __future__ import annotations

from screens import screenshot

from mlxstudio.core.config import config_from_dict
from mlxstudio.gui.goals import METHODS


def test_preference_methods_set_the_loss_and_say_when(window):
    page = window.goal_page
    window.go("goal")
    page.choose("prefer")
    assert page.method_box.isVisible()
    titles = [page.method.itemText(i) for i in range(page.method.count())]
    assert titles == ["DPO", "IPO", "CPO", "SimPO", "ORPO", "KTO"]
    for method in METHODS["dpo"]:
        page.choose_method(method.key)
        assert window.state.config.preference_loss == method.key
        assert page.method_when.text() == method.when and method.when.endswith(".")
    page.choose_method("simpo")
    assert window.state.config.beta == 2.0
    page.choose_method("kto")
    assert '"label": true' in page.sample.toPlainText()
    assert "good (true) or bad (false)" in page.expects.text()
    screenshot(window, "goal-method-kto")
    page.choose_method("cpo")
    assert window.state.config.beta == 0.1  # SimPO's beta does not stay behind
    assert '"chosen"' in page.sample.toPlainText()


def test_online_methods_and_leaving_them(window):
    page = window.goal_page
    window.go("goal")
    page.choose("reward")
    assert not page.method_box.isVisible()  # scored answers: offline PPO, one method
    page.online.setChecked(True)
    assert page.method_box.isVisible()
    assert [page.method.itemData(i) for i in range(page.method.count())] == [
        "grpo",
        "dapo",
        "dr_grpo",
        "gspo",
    ]
    page.choose_method("dapo")
    cfg = window.state.config
    assert (cfg.stage, cfg.grpo_loss, cfg.clip_range_high) == ("grpo", "dapo", 0.28)
    assert page.watch.isVisible() and cfg.reward_checks == [{"name": "repetition"}]
    page.watch.setChecked(False)
    assert window.state.config.reward_checks is None
    page.watch.setChecked(True)
    screenshot(window, "goal-method-dapo")
    page.choose_method("gspo")
    assert window.state.config.clip_range == 3e-4
    page.choose("answer")  # SFT: none of GRPO's keys left to be refused
    cfg = window.state.config
    assert (cfg.grpo_loss, cfg.clip_range, cfg.clip_range_high) == ("grpo", 0.2, None)
    assert cfg.reward_checks is None  # refused outside grpo: never left behind
    assert not page.method_box.isVisible()
    settings = {k: v for k, v in cfg.to_dict().items() if k in ("grpo_loss", "clip_range_high")}
    assert config_from_dict({"stage": "sft", **settings}).stage == "sft"
