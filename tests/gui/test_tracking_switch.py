"""The Training page's "Log to TensorBoard / W&B" switches write report_to; a tracker whose
package is missing is greyed out and says what to install."""

from __future__ import annotations

import sys
from dataclasses import replace

from screens import screenshot

from mlxstudio.gui.state import WizardState
from mlxstudio.gui.widgets.tracking_switch import TrackingSwitch


def test_switches_write_report_to_and_follow_imported_settings(window):
    page = window.train_page
    window.go("train")
    switch = page.options.tracking
    tb, wb = switch.boxes["tensorboard"], switch.boxes["wandb"]
    assert tb.text() == "Log to TensorBoard" and wb.text().replace("&&", "&") == "Log to W&B"
    assert tb.isVisible() and tb.isEnabled() and wb.isEnabled()
    assert window.state.config.report_to is None and not tb.isChecked()
    tb.click()
    assert window.state.config.report_to == "tensorboard"
    wb.click()
    assert window.state.config.report_to == "tensorboard,wandb"
    screenshot(page, "train-tracking-switches")
    tb.click()
    wb.click()
    assert window.state.config.report_to is None
    window.state.replace_config(replace(window.state.config, report_to="wandb"))
    assert wb.isChecked() and not tb.isChecked()
    page.options.set_enabled_for_run(True)
    assert not wb.isEnabled()
    page.options.set_enabled_for_run(False)
    assert wb.isEnabled()


def test_a_missing_package_greys_its_switch_out(qtbot, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if it were not installed
    switch = TrackingSwitch(WizardState())
    qtbot.addWidget(switch)
    assert switch.boxes["tensorboard"].isEnabled()
    box = switch.boxes["wandb"]
    assert not box.isEnabled()
    assert "wandb is not installed" in box.toolTip() and "mlxstudio[tracking]" in box.toolTip()
    switch.set_enabled_for_run(False)
    assert not box.isEnabled()
