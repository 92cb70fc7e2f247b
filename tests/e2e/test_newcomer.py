"""The newcomer's path through the window, on the real demo model, with no command line:
choose the goal, drop a Second-Me merged.json, enter a name, prepare, install and pick the
demo model, quick preset, train 10 steps, see 10 points, serve, chat, stop the server."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gui"))
from screens import screenshot  # noqa: E402

pytestmark = pytest.mark.e2e
CLI_WORDING = re.compile(r"(^|\s)--[a-z]|mlxstudio [a-z]|\.yaml\b|YAML")


def write_merged_json(path: Path, n: int = 24) -> Path:
    """A synthetic Second-Me merged.json: memory Q&A, context and judge records."""
    records = []
    for i in range(n):
        records.append({"user": f"Where did I put note {i}?", "assistant": f"In drawer {i}."})
    records.append(
        {"user_request": "Book a table.", "enhanced_request": "Book a quiet table for two."}
    )
    records.append(
        {
            "user_request": "Find a bike.",
            "expert_response": "Any road bike will do.",
            "user_feedback": "I need a small frame for city riding.",
        }
    )
    path.write_text(json.dumps(records, indent=2))
    return path


def visible_text(window) -> str:
    """Every label, button and tooltip the user can see on the current page."""
    from PySide6.QtWidgets import QAbstractButton, QLabel

    page = window.stack.currentWidget()
    parts = [w.text() for w in page.findChildren(QLabel) if w.isVisibleTo(page)]
    parts += [w.text() for w in page.findChildren(QAbstractButton) if w.isVisibleTo(page)]
    parts += [window.problems.text()]
    return "\n".join(parts)


def assert_no_cli(window) -> None:
    text = visible_text(window)
    assert not CLI_WORDING.search(text), CLI_WORDING.search(text).group(0) + " in\n" + text


def test_newcomer_path(qtbot, studio_home, tmp_path):
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.main_window import MainWindow
    from mlxstudio.gui.style import apply_style

    apply_style(QApplication.instance())
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    try:
        # Goal: a welcome the first time; the default goal answers like the examples.
        assert window.welcome.isVisible()
        screenshot(window, "newcomer-01-goal")
        window.welcome.findChild(type(window.next_button)).click()
        assert not window.welcome.isVisible()
        assert_no_cli(window)
        window.goal_page.cards["answer"].clicked.emit("answer")
        assert window.state.config.stage == "sft"
        window.next_button.click()
        assert window.current_name() == "data"
        assert "Goal: Answer like my examples" in window.data_page.goal_line.text()

        # Data: a Second-Me export, detected; the name is asked in the window.
        merged = write_merged_json(tmp_path / "merged.json")
        window.open_paths([merged])
        data = window.data_page
        qtbot.waitUntil(lambda: data.checked is not None and not data.is_busy(), timeout=60_000)
        assert "Second-Me merged.json" in data.info.text()
        assert data.secondme.isVisible()
        data.username.clear()
        qtbot.waitUntil(lambda: data.checked is not None and not data.is_busy(), timeout=60_000)
        assert not data.prepare_button.isEnabled()
        assert "name" in data.prepare_why.text()
        window.next_button.click()
        assert window.current_name() == "data" and "Second-Me" in window.problems.text()
        data.username.setText("Ada Lovelace")

        # The preview follows the name once typing pauses.
        def previewed_with_name() -> bool:
            item = data.table.item(0, 1)
            return item is not None and "Ada Lovelace" in item.text() and not data.is_busy()

        qtbot.waitUntil(previewed_with_name, timeout=60_000)
        assert data.prepare_button.isEnabled()
        assert_no_cli(window)
        screenshot(window, "newcomer-02-data-secondme")
        data.prepare_button.click()
        qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
        train_file = window.state.data_dir / "train.jsonl"
        first = json.loads(train_file.read_text().splitlines()[0])
        assert "Ada Lovelace" in json.dumps(first)
        assert "ready to train" in data.info.text()
        window.next_button.click()

        # Model: no model yet; the demo model in one click, then chosen by itself.
        model = window.model_page
        assert window.current_name() == "model"
        assert model.state.model_path is None
        assert_no_cli(window)
        screenshot(window, "newcomer-03-model-empty")
        model.empty_button.click()
        qtbot.waitUntil(lambda: window.state.model_path is not None, timeout=300_000)
        assert "SmolLM2" in window.state.model_path.name
        assert not model.demo_button.isVisible()  # installed: not offered again
        # The gauge gives a verdict only once the data's lengths are measured.
        qtbot.waitUntil(lambda: model.gauge.verdict != "measuring", timeout=120_000)
        assert model.gauge.verdict == "fits", model.gauge.headline.text()
        screenshot(window, "newcomer-04-model")
        window.next_button.click()

        # Settings: the quick preset, 10 steps.
        lora = window.lora_page
        assert window.current_name() == "settings"
        lora.preset.setCurrentText("Quick test")
        lora.w["iters"].setValue(10)
        lora.w["batch_size"].setValue(2)
        lora.w["num_layers"].setValue(4)
        lora.w["max_seq_length"].setValue(256)
        assert window.state.config.iters == 10
        assert lora.gauge.verdict == "fits"
        assert_no_cli(window)
        screenshot(window, "newcomer-05-settings")
        window.next_button.click()

        # Training: 10 steps, a line of 10 points, never "nan".
        train = window.train_page
        assert window.current_name() == "train"
        train.start_button.click()
        assert train.is_running()
        seen = []
        qtbot.waitUntil(
            lambda: seen.append(train.progress.text()) or not train.is_running(), timeout=600_000
        )
        assert "completed" in train.summary.text(), train.log.toPlainText()[-2000:]
        assert not any("nan" in s for s in seen), seen
        train.plots.redraw(everything=True)
        assert train.plots.series[("train", "train_loss")].n == 10
        assert_no_cli(window)
        screenshot(window, "newcomer-06-trained")
        window.next_button.click()

        # Serve & chat with the fine-tuned adapters, then stop the server.
        serve = window.serve_page
        assert window.current_name() == "serve"
        assert not serve.send_button.isEnabled()
        serve.serve_button.click()
        qtbot.waitUntil(lambda: bool(serve.url) or not serve.job.is_running(), timeout=300_000)
        assert serve.url, serve.server_log.toPlainText()
        assert window.state.run_dir.name in serve.server_status.text() + serve.model_label.text()
        serve.question.setText("Where did I put note 3?")
        serve.send_button.click()
        qtbot.waitUntil(lambda: not serve.is_answering(), timeout=300_000)
        assert serve.answer.strip()
        assert_no_cli(window)
        screenshot(window, "newcomer-07-chat")
        serve.serve_button.click()
        qtbot.waitUntil(lambda: "stopped" in serve.server_status.text().lower(), timeout=30_000)
        assert not serve.job.is_running() and not serve.send_button.isEnabled()

        # History: the run, with its figures.
        window.go("history")
        assert window.history.table.rowCount() == 1
        assert_no_cli(window)
        screenshot(window, "newcomer-08-history")
    finally:
        window.data_page.shutdown()
        window.train_page.shutdown()
        window.serve_page.shutdown()
