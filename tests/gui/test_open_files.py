"""Files opened on the app (Dock drops, `mlxstudio gui FILE`) go to the right page."""

from __future__ import annotations


def test_gguf_opened_on_the_app_goes_to_import(window, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not really a gguf")
    window.open_paths([fake])
    assert window.current_name() == "model"
    assert "Importing model.gguf" in window.model_page.status.text()
    window.model_page.job.wait(60000)


def test_dataset_opened_on_the_app_goes_to_data(window, qtbot, chat_data):
    window.open_paths([chat_data])
    assert window.current_name() == "data"
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    assert window.state.data_dir == chat_data.resolve()
