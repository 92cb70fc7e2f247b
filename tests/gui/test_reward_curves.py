"""GRPO's rewards one by one on the live Reward panel: a curve per reward and check."""

from __future__ import annotations

from mlxstudio.gui.widgets.plots import MetricPlots


def test_each_reward_gets_its_own_curve(qtbot):
    plots = MetricPlots(stage="grpo")
    qtbot.addWidget(plots)
    base = dict(event="train", train_loss=0.1, reward_mean=0.5)
    plots.add_event(base | {"step": 1, "rewards": {"reward.format": 0.2, "check.repetition": 0.9}})
    plots.add_event(base | {"step": 2, "rewards": {"reward.format": 0.4, "check.repetition": 0.8}})
    plots.redraw(everything=True)
    fmt, check = (
        plots.series[("train", "reward.format")],
        plots.series[("train", "check.repetition")],
    )
    assert (fmt.n, check.n) == (2, 2) and list(fmt.y[:2]) == [0.2, 0.4]
    assert fmt.plot is plots.series[("train", "reward_mean")].plot  # on the Reward panel
    names = [item.name() for item in fmt.plot.plotItem.listDataItems()]
    assert "repetition (check)" in names and "format" in names
    plots.clear()
    assert fmt.n == 0
