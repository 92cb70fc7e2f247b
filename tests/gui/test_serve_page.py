"""The Serve & Chat page on the tiny model: server with adapters and an API key, chat in
bubbles with tokens/s and the run's chat log, base vs fine-tuned side by side, test
prompts, a stop that always ends the server, Send only with a server, the live server named
(and a restart offered when the wizard moved on), and no server left running after
shutdown. Screenshots go to tests/artifacts/screens."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from screens import screenshot


def _make_run(tiny_model, run_dir):
    """A finished run's layout: adapters.safetensors + adapter_config.json at the top."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = load(str(tiny_model))
    model.freeze()
    lora = {"rank": 4, "scale": 20.0, "dropout": 0.0}
    linear_to_lora_layers(model, 2, lora)
    mx.random.seed(1)
    weights = {
        k: mx.random.normal(v.shape) if k.endswith("lora_b") else v
        for k, v in tree_flatten(model.trainable_parameters())
    }
    run_dir.mkdir(parents=True)
    mx.save_safetensors(str(run_dir / "adapters.safetensors"), weights)
    config = {"fine_tune_type": "lora", "num_layers": 2, "lora_parameters": lora}
    (run_dir / "adapter_config.json").write_text(json.dumps({**config, "model": str(tiny_model)}))
    return run_dir


@pytest.fixture
def page(window, installed_tiny, studio_home):
    run = _make_run(installed_tiny, studio_home / "runs" / "my-run")
    window.state.set_model(installed_tiny)
    window.state.set_run(run)
    window.go("serve")
    page = window.serve_page
    page.enter()
    return page


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_chat_with_key_tokens_per_second_and_saved_prompts(window, page, qtbot):
    assert page.adapter_check.isChecked() and "my-run" in page.adapter_check.text()
    page.api_key.setText("k-42")
    page.max_tokens.setValue(12)
    page.top_p.setValue(0.9)
    # Greedy: the random tiny model answers the same every run (sampled, it can answer
    # nothing but blanks now and then).
    page.temperature.setValue(0.0)
    assert page.port.text() == "next free"
    page.toggle_server()
    assert "--parent-pid" in page.server.command
    assert "k-42" not in " ".join(page.server.command)  # the key goes by environment
    qtbot.waitUntil(lambda: bool(page.url) or not page.server.isRunning(), timeout=120_000)
    assert page.url, page.server_log.toPlainText()
    assert re.match(r"http://127\.0\.0\.1:\d+/v1", page.url)
    assert "API key required" in page.server_status.text()
    assert not page.api_key.isEnabled()  # settings are fixed while serving
    assert page.port.text() == str(urlparse(page.url).port)  # the live port, not "next free"

    page.system.setText("You are terse.")
    for question in ("What is 2 plus 2?", "And 3 plus 3?"):
        page.question.setText(question)
        page.send()
        assert page.is_answering()
        # Not the worker's thread state: the window must have taken in the whole answer.
        qtbot.waitUntil(lambda: not page.is_answering(), timeout=120_000)
        assert page.answer.strip(), page.transcript.toPlainText()
    roles = [m["role"] for m in page.history]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    # Bubbles: the questions and the answers, each answer with its speed and Copy.
    messages = page.transcript.messages()
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2].text == "And 3 plus 3?" and messages[3].text == page.answer
    assert re.match(r"\d+ tokens · [\d.]+ s · [\d.]+ tokens/s", messages[3].info.text())
    assert not messages[3].copy_button.isHidden()
    assert page.worker.tokens > 0
    chats = [json.loads(line) for line in (window.state.run_dir / "chats.jsonl").open()]
    assert [c["prompt"] for c in chats] == ["What is 2 plus 2?", "And 3 plus 3?"]
    assert chats[0]["chat"] == chats[1]["chat"] == page.chat_id  # one conversation
    assert chats[0]["top_p"] == 0.9 and chats[0]["system"] == "You are terse."
    assert chats[0]["adapter"] is True and chats[0]["tokens_per_second"] > 0
    assert chats[0]["temperature"] == 0.0
    window.resize(1100, 760)
    screenshot(window, "serve-01-chat")

    # Side by side: the page's server is the fine-tuned side; the base gets its own.
    page.tabs.setCurrentWidget(page.compare)
    page.compare.prompt.setText("The capital of France")
    page.temperature.setValue(0.0)
    page.compare.compare()
    assert page.compare.busy()
    qtbot.waitUntil(lambda: bool(page.compare.base_server.url), timeout=120_000)
    # busy() holds until both answers were handled here (pieces, Markdown, speed), not
    # merely until the workers' threads ended.
    qtbot.waitUntil(lambda: not page.compare.busy(), timeout=120_000)
    assert not any(w.isRunning() for w in page.compare.workers.values())
    base = page.compare.panes["base"].toPlainText()
    tuned = page.compare.panes["tuned"].toPlainText()
    assert base.strip() and tuned.strip() and base != tuned
    assert "tokens/s" in page.compare.speeds["base"].text()
    screenshot(window, "serve-02-side-by-side")

    processes = [page.server.process, page.compare.base_server.thread.process]
    page.shutdown()
    for process in processes:
        assert process.poll() is not None, "a server outlived the page"
        if sys.platform.startswith("linux"):
            assert not _alive(process.pid)


def test_compare_needs_the_fine_tuned_server(page):
    page.compare.prompt.setText("Hi")
    page.compare.compare()
    assert "Start the server with the run's adapters" in page.compare.status.text()
    assert not page.compare.base_server.is_running()


def test_test_prompts_panel(window, page, qtbot):
    page.tabs.setCurrentWidget(page.test_prompts)
    page.max_tokens.setValue(6)
    page.test_prompts.prompts.setPlainText("Hi\n\nWhat is MLX?\nBye")
    page.test_prompts.run()
    qtbot.waitUntil(lambda: not page.test_prompts.is_running(), timeout=180_000)
    run = window.state.run_dir
    assert (run / "test_prompts.txt").read_text() == "Hi\nWhat is MLX?\nBye\n"
    files = list((run / "test_prompts").glob("answers-*.jsonl"))
    assert len(files) == 1 and len(files[0].read_text().splitlines()) == 3
    assert page.test_prompts.table.rowCount() == 3
    assert page.test_prompts.status.text().startswith("3 answers saved to")
    screenshot(window, "serve-03-test-prompts")

    # The saved list comes back when the run is opened again.
    page.test_prompts.prompts.setPlainText("")
    page.test_prompts.run_dir = None
    page.enter()
    assert page.test_prompts.prompts.toPlainText() == "Hi\nWhat is MLX?\nBye"


def test_network_opt_in_reaches_the_command(page, qtbot):
    page.network_check.setChecked(True)
    page.toggle_server()
    command = page.server.command
    assert command[command.index("--host") + 1] == "0.0.0.0" and "--allow-network" in command
    qtbot.waitUntil(lambda: bool(page.url) or not page.server.isRunning(), timeout=120_000)
    assert "reachable from the network" in page.server_status.text()
    page.toggle_server()
    qtbot.waitUntil(lambda: not page.server.isRunning(), timeout=30_000)
    qtbot.waitUntil(lambda: page.server_status.text() == "Server stopped.", timeout=5_000)
    assert page.port.text() == "next free" and page.port.isEnabled()  # the user's choice again


def _serving(qtbot, page):
    qtbot.waitUntil(lambda: bool(page.url) or not page.job.is_running(), timeout=120_000)
    assert page.url, page.server_log.toPlainText()


def test_send_waits_for_a_server_and_the_empty_state_starts_one(page, qtbot):
    assert not page.send_button.isEnabled() and not page.question.isEnabled()
    assert "Start the server" in page.question.placeholderText()
    assert "Start the server" in page.send_button.toolTip()
    chat = page.transcript
    assert chat.stack.currentWidget() is chat.empty and "Start the server" in chat.empty_text.text()
    assert chat.empty_button.text() == "Start server" and not chat.empty_button.isHidden()
    page.question.setText("Anyone there?")
    page.send()
    assert page.worker is None and not chat.messages()  # nothing is sent without a server

    chat.empty_button.click()  # the empty state's primary action starts the server
    assert page.job.is_running()
    _serving(qtbot, page)
    assert page.send_button.isEnabled() and page.question.isEnabled()
    assert chat.empty_button.isHidden()  # serving: the empty state only says "ask"
    page.stop_server()
    assert not page.send_button.isEnabled()  # no Send while it stops
    qtbot.waitUntil(lambda: not page.job.is_running(), timeout=30_000)
    assert not page.send_button.isEnabled()


def test_stop_ends_a_server_that_ignores_sigint_and_sigterm(page, qtbot):
    """An app started with SIGINT ignored passes that on to its children; the old stop sent
    SIGINT and hung at "Stopping...". Ignore SIGTERM too, so only the SIGKILL ends it."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, signal.SIG_IGN)
    try:
        page.toggle_server()
        qtbot.waitUntil(lambda: page.server.process is not None, timeout=30_000)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    _serving(qtbot, page)
    process = page.server.process
    ignored = Path(f"/proc/{process.pid}/status").read_text()
    sigign = int(re.search(r"SigIgn:\s*([0-9a-f]+)", ignored).group(1), 16)
    assert sigign & (1 << (signal.SIGINT - 1)) and sigign & (1 << (signal.SIGTERM - 1))

    started = time.monotonic()
    page.toggle_server()
    assert page.serve_button.text() == "Stopping…" and not page.serve_button.isEnabled()
    assert not page.send_button.isEnabled() and "stopping" in page.question.placeholderText()
    qtbot.waitUntil(lambda: not page.job.is_running(), timeout=30_000)
    took = time.monotonic() - started
    assert process.poll() == -signal.SIGKILL  # it shrugged off SIGTERM: killed after grace
    assert page.job.grace_s - 0.5 <= took <= page.job.grace_s + 5, took
    # the thread has ended; its queued `ended` reaches the page on the next event loop turn
    qtbot.waitUntil(lambda: page.server_status.text() == "Server stopped.", timeout=5_000)
    assert page.serve_button.text() == "Start server" and page.serve_button.isEnabled()


def test_a_plain_server_stops_at_once_on_sigterm(page, qtbot):
    page.toggle_server()
    _serving(qtbot, page)
    process = page.server.process
    started = time.monotonic()
    page.toggle_server()
    qtbot.waitUntil(lambda: not page.job.is_running(), timeout=30_000)
    assert process.poll() == -signal.SIGTERM and time.monotonic() - started < page.job.grace_s


def test_the_live_server_is_named_and_a_restart_offered(window, page, qtbot, installed_tiny):
    first = window.state.run_dir
    page.toggle_server()
    _serving(qtbot, page)
    assert "run my-run" in page.model_label.text() and page.stale_banner.isHidden()

    other = _make_run(installed_tiny, first.parent / "other-run")
    window.state.set_run(other)  # e.g. a new run trained while the server runs
    assert not page.stale_banner.isHidden()
    assert page.stale_label.text().startswith("Serving run my-run")
    assert "restart to serve run other-run" in page.stale_label.text()
    assert "run my-run" in page.model_label.text()  # the live server's, not the wizard's
    assert not page.send_button.isEnabled() and "restart" in page.question.placeholderText()
    model, run, settings = page.prompts_context()
    assert run == first and settings["adapter"] is True  # test prompts follow the server
    assert page.tuned_server()[0] == page.url
    window.resize(1280, 800)
    screenshot(window, "serve-04-restart-offered")

    page.restart_button.click()
    qtbot.waitUntil(lambda: page.job.run_dir == other and bool(page.url), timeout=120_000)
    assert page.stale_banner.isHidden() and "run other-run" in page.model_label.text()
    assert page.send_button.isEnabled()

    # Run history's "Serve": select that run (and its model) and serve it.
    page.serve_run(first)
    assert window.state.run_dir == first and window.state.model_path == installed_tiny
    qtbot.waitUntil(lambda: page.job.run_dir == first and bool(page.url), timeout=120_000)
    assert page.stale_banner.isHidden()


def test_short_window_gives_the_chat_the_room(window, page, qtbot):
    from PySide6.QtWidgets import QApplication, QPushButton

    window.resize(1024, 640)
    QApplication.processEvents()
    box = page.server_box
    assert box.is_compact() and box.details.isHidden() and box.server_status.isHidden()
    # One line: model · status · Start/Stop · Log
    assert "tiny-llama" in box.summary.text() and "Not serving" in box.summary.text()
    assert page.serve_button.isVisible() and page.log_button.isVisible()
    qtbot.waitUntil(lambda: box.height() < 70, timeout=2_000)  # the layout settles
    assert page.transcript.height() >= 260, page.transcript.height()  # it was ~190
    box.options_button.click()  # the rest is a click away, never gone
    assert box.details.isVisible() and page.port.isVisible()
    box.options_button.click()
    # The sampling settings sit behind a Settings toggle beside the system prompt.
    assert page.sampling.isHidden() and "Temperature 0.70" in page.settings_button.toolTip()
    page.settings_button.click()
    assert page.sampling.isVisible() and page.settings_button.isChecked()
    page.max_tokens.setValue(99)
    assert "at most 99 tokens" in page.settings_button.toolTip()
    # The Log toggle is a real button: a frame, an icon, and it stays pressed.
    assert isinstance(page.log_button, QPushButton) and page.log_button.isCheckable()
    assert not page.log_button.icon().isNull()
    page.log_button.click()
    assert page.server_log.isVisible()
    page.log_button.click()
    screenshot(window, "serve-05-short-window")

    window.resize(1280, 800)
    QApplication.processEvents()
    assert not box.is_compact() and box.details.isVisible() and box.title() == "Server"
    assert box.summary.isHidden() and box.server_status.isVisible()
    assert page.port.minimumWidth() == page.port.maximumWidth() == 140
