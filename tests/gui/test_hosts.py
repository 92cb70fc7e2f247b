"""Training on several Macs from the Training page: hostfile, host check, a 2-rank run."""

from __future__ import annotations

import json

from mlxstudio.core import runs


def test_two_local_ranks_from_the_training_page(window, qtbot, tmp_path, chat_data, installed_tiny):
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps([{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}] * 2))
    window.state.set_data(chat_data)
    window.state.set_model(installed_tiny)
    window.state.update_config(
        iters=4,
        num_layers=2,
        batch_size=4,
        steps_per_report=2,
        steps_per_eval=4,
        save_every=4,
        learning_rate=5e-3,
    )
    window.go("train")
    page = window.train_page
    page.hosts.enabled.setChecked(True)
    assert "Choose a hostfile" in " ".join(page.problems())
    page.hosts.set_hostfile(hostfile)
    assert page.problems() == [] and page.hosts.args() == ["--hosts", str(hostfile)]

    page.check_hosts(hostfile)
    qtbot.waitUntil(lambda: not page.doctor.isRunning(), timeout=120_000)
    qtbot.waitUntil(lambda: "All hosts are ready." in page.log.toPlainText(), timeout=10_000)

    page.name_edit.setText("two-ranks")
    page.start()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=300_000)
    assert "completed" in page.summary.text(), page.log.toPlainText()[-2000:]
    events = list(runs.read_events(window.state.run_dir))
    start = next(e for e in events if e["event"] == "start")
    assert start["world_size"] == 2 and start["batch_size"] == 4
    assert sum(1 for e in events if e["event"] == "finished") == 1


def test_several_macs_for_fine_tuning_preference_and_grpo_but_not_dapo(window, tmp_path):
    page = window.train_page
    page.hosts.set_hostfile(tmp_path / "hosts.json")
    window.goal_page.choose("prefer")
    assert not any("several Macs" in p for p in page.problems())  # DPO runs there now
    window.goal_page.choose("reward")
    window.goal_page.online.setChecked(True)
    window.goal_page.choose_method("dapo")
    assert any("DAPO's dynamic sampling" in p for p in page.problems())
    window.goal_page.choose_method("gspo")
    assert not any("several Macs" in p for p in page.problems())
