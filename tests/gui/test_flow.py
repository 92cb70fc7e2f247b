"""The whole wizard on the tiny model: data, model, settings, train (live points, stop),
serve and chat, with screenshots of every page saved to tests/artifacts/screens."""

from __future__ import annotations

import re

from screens import screenshot


def _wait_serving(qtbot, page) -> None:
    qtbot.waitUntil(lambda: bool(page.url) or not page.server.isRunning(), timeout=120_000)
    assert page.url, page.server_log.toPlainText()


def test_train_stop_serve_chat(window, qtbot, chat_data, installed_tiny):
    window.go("data")
    screenshot(window, "01-data-empty")
    window.data_page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    screenshot(window, "02-data-filled")
    window.next()
    window.model_page.refresh()
    window.model_page.table.selectRow(0)
    screenshot(window, "03-model")
    window.next()
    page = window.lora_page
    page.preset.setCurrentText("Quick test")
    page.w["iters"].setValue(400)
    page.w["num_layers"].setValue(2)
    page.w["steps_per_eval"].setValue(5)
    page.w["save_every"].setValue(5)
    page.w["learning_rate"].setText("0.005")
    page.w["learning_rate"].textEdited.emit("0.005")
    screenshot(window, "04-lora")
    window.next()
    assert window.current_name() == "train"

    train = window.train_page
    train.name_edit.setText("gui-run")
    train.start()
    assert train.is_running() and not train.start_button.isEnabled()
    qtbot.waitUntil(lambda: train.plots.point_count() >= 6, timeout=180_000)
    assert window.tray.running and "gui-run · step" in window.tray.text
    # Once steps come, the line under the bar is about the training, not its start.
    qtbot.waitUntil(lambda: train.summary.text().startswith("Training gui-run"), timeout=60_000)
    screenshot(window, "05-training-running")
    train.stop()
    qtbot.waitUntil(lambda: not train.is_running(), timeout=120_000)
    assert "stopped" in train.summary.text()
    assert window.state.run_dir is not None and window.state.run_dir.name == "gui-run"
    assert (window.state.run_dir / "adapters.safetensors").is_file()
    assert window.tray.last_notice.startswith("Training stopped: gui-run: ")
    assert train.progress.outcome() == "stopped"  # a grey bar, neither accent nor red
    log = train.log.toPlainText()
    assert "mlxstudio " not in log and "--resume" not in log, log[-1000:]
    assert "Press Resume run" in log
    screenshot(window, "06-training-stopped")

    window.next()
    serve = window.serve_page
    assert serve.adapter_check.isChecked()
    serve.toggle_server()
    _wait_serving(qtbot, serve)
    assert re.match(r"http://127\.0\.0\.1:\d+/v1", serve.url)
    serve.system.setText("You are terse.")
    serve.question.setText("What is 2 plus 2?")
    serve.send()
    qtbot.waitUntil(lambda: not serve.is_answering(), timeout=120_000)
    assert serve.answer.strip(), serve.transcript.toPlainText()
    assert serve.history[0] == {"role": "system", "content": "You are terse."}
    assert serve.history[-1]["role"] == "assistant"
    screenshot(window, "07-serve-chat")
    process = serve.server.process
    serve.shutdown()
    assert process.poll() is not None, "the server outlived its stop"

    window.go("history")
    assert window.history.table.rowCount() == 1
    assert window.history.table.item(0, 0).text() == "gui-run"
    screenshot(window, "08-run-history")


def test_failed_run_shows_the_reason(window, qtbot, chat_data, tmp_path):
    window.data_page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    bogus = tmp_path / "not-a-model"
    bogus.mkdir()
    (bogus / "config.json").write_text('{"model_type": "no-such-arch"}')
    window.state.set_model(bogus)
    window.go("train")
    window.train_page.start()
    qtbot.waitUntil(lambda: not window.train_page.is_running(), timeout=120_000)
    assert "failed" in window.train_page.summary.text()
    assert window.train_page.progress.outcome() == "failed"  # the red bar
    screenshot(window, "09-training-error")


def test_stop_then_resume_to_the_end(window, qtbot, chat_data, installed_tiny):
    from mlxstudio.core import runs

    window.data_page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    window.state.set_model(installed_tiny)
    window.state.update_config(
        iters=200,
        num_layers=2,
        steps_per_eval=10,
        save_every=5,
        steps_per_report=5,
        learning_rate=5e-3,
        batch_size=4,
    )
    window.go("train")
    train = window.train_page
    train.name_edit.setText("resumable")
    train.start()
    qtbot.waitUntil(lambda: train.step >= 10, timeout=180_000)
    train.stop()  # 200 steps: far from done, however fast this machine is
    qtbot.waitUntil(lambda: not train.is_running(), timeout=120_000)
    assert "stopped" in train.summary.text(), train.summary.text()
    assert train.resume_button.isVisible(), "a stopped run with checkpoints can be resumed"
    # The step the job stopped at (it finishes the step under way, which may not be reported).
    stopped_at = max(
        e["step"] for e in runs.read_events(window.state.run_dir) if isinstance(e.get("step"), int)
    )
    train.resume_button.click()
    assert train.is_running()
    qtbot.waitUntil(lambda: not train.is_running(), timeout=300_000)
    assert "completed" in train.summary.text(), train.log.toPlainText()[-2000:]
    assert not train.resume_button.isVisible()
    starts = [e for e in runs.read_events(window.state.run_dir) if e["event"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from_step"] <= stopped_at
    screenshot(window, "10-training-resumed")
