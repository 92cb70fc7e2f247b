"""Every menu item does what it says (file dialogs, the one edge a test can't click through,
answer with a real file)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog


def test_every_menu_item_works(window, qtbot, chat_data, monkeypatch, tmp_path):
    actions = window.actions_by_name
    assert set(actions) == {
        "open_data",
        "import_gguf",
        "settings",
        "quit",
        "start",
        "stop",
        "history",
    }
    assert (
        not actions["open_data"].icon().isNull() and not actions["open_data"].shortcut().isEmpty()
    )

    train_file = chat_data / "train.jsonl"
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(train_file)], ""))
    actions["open_data"].trigger()
    assert window.current_name() == "data"
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
    assert window.data_page.source == [train_file]

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF not really")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(gguf), ""))
    actions["import_gguf"].trigger()
    assert window.current_name() == "model"
    assert "Importing model.gguf" in window.model_page.status.text()
    window.model_page.job.wait(60_000)

    actions["history"].trigger()
    assert window.current_name() == "history"

    actions["start"].trigger()  # no model yet: the Training page says what is missing
    assert window.current_name() == "train"
    assert not window.train_page.is_running()
    assert "model" in window.train_page.why.text().lower()
    actions["stop"].trigger()  # nothing runs: nothing happens, nothing breaks
    assert not window.train_page.is_running()

    from mlxstudio.gui.settings import SettingsDialog

    actions["settings"].trigger()
    dialog = window.findChild(SettingsDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.reject()
