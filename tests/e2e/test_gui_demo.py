"""The wizard driven offscreen with the real demo model: drop the sample data, pick the
model, train until points arrive, stop, serve with the adapters, chat."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlxstudio.core import paths

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gui"))
from screens import screenshot  # noqa: E402

pytestmark = pytest.mark.e2e


def test_wizard_on_the_demo_model(qtbot, studio_home):
    from PySide6.QtWidgets import QApplication

    from mlxstudio.core.models.demo import install_demo
    from mlxstudio.gui.main_window import MainWindow
    from mlxstudio.gui.style import apply_style

    model = install_demo()
    apply_style(QApplication.instance())
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    try:
        window.open_paths([paths.resources_dir() / "sample_data"])
        qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
        window.next()
        window.model_page.refresh()
        rows = [i for i, m in enumerate(window.model_page.models) if Path(m.path) == model]
        window.model_page.table.selectRow(rows[0])
        assert window.state.model_path == model
        window.next()
        window.lora_page.preset.setCurrentText("Quick test")
        window.state.update_config(
            steps_per_report=2, steps_per_eval=4, max_seq_length=256, num_layers=4
        )
        window.next()
        train = window.train_page
        train.name_edit.setText("demo-gui")
        train.start()
        qtbot.waitUntil(lambda: train.plots.point_count() >= 4, timeout=600_000)
        train.plots.redraw(everything=True)
        screenshot(window, "e2e-demo-training")
        train.stop()
        qtbot.waitUntil(lambda: not train.is_running(), timeout=300_000)
        assert (window.state.run_dir / "adapters.safetensors").is_file()

        window.next()
        serve = window.serve_page
        serve.toggle_server()
        qtbot.waitUntil(lambda: bool(serve.url) or not serve.server.isRunning(), timeout=300_000)
        assert serve.url, serve.server_log.toPlainText()
        serve.question.setText("What is the capital of France?")
        serve.send()
        qtbot.waitUntil(lambda: not serve.is_answering(), timeout=300_000)
        assert serve.answer.strip()
        screenshot(window, "e2e-demo-chat")
    finally:
        window.data_page.shutdown()
        window.train_page.shutdown()
        window.serve_page.shutdown()
