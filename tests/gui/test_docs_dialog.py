"""Create from documents, in the window: notes written for the test, a real OpenAI-compatible
server on 127.0.0.1 (tests/fake_writer.py) as the model, the generation in its child process;
pairs appear while it runs, one is edited, one deleted, and the chat JSONL made from the rest
is opened on the Data page. Also: cancel then continue, and a changed setting's Start over."""

from __future__ import annotations

import json
import re

import pytest
from fake_writer import fake_writer, write_notes
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLineEdit
from screens import screenshot

from mlxstudio.core.docs.pairs import load_pairs
from mlxstudio.gui.widgets.docs_dialog import LOCAL_TEXT, SERVER, SERVER_TEXT, DocsDialog

SOURCES = {"journal/2025-03-14-garden.md", "books.txt", "trip.html"}


@pytest.fixture
def styled(qapp):
    """The app's look, as the window fixture has it (screenshots are to be looked at)."""
    from mlxstudio.gui.style import apply_style

    apply_style(qapp)


def _row_with(dialog, words: str) -> int:
    answers = [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())]
    return next(r for r, a in enumerate(answers) if words in a)


def _chat_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _drop(widget, path) -> None:
    """A real QDropEvent with the folder's URL (offscreen Qt has no drag manager)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(event)
    assert event.isAccepted()


def _use_server(dialog, url: str) -> None:
    dialog.model.setCurrentIndex(dialog.model.findData(SERVER))
    dialog.url.setText(url)


def test_pairs_appear_are_edited_deleted_and_used(window, qtbot, tmp_path, studio_home):
    notes = tmp_path / "notes"
    write_notes(notes)
    page = window.data_page
    window.go("data")
    with fake_writer(delay_s=1.0) as server:
        dialog = page.create_from_documents()
        qtbot.waitExposed(dialog)
        # No dead buttons: Start says what it still needs.
        assert not dialog.start_button.isEnabled()
        assert dialog.why.text() == "Choose the folder of your notes"
        assert not dialog.use_button.isEnabled() and dialog.use_button.text() == "Use the pairs"
        _drop(dialog.zone, notes)
        assert dialog.zone.text() == "notes · 3 documents to read"
        assert dialog.out.text() == str(studio_home / "generated" / "notes")
        dialog.name.setText("")
        assert not dialog.start_button.isEnabled() and dialog.why.text() == "Enter your name"
        dialog.name.setText("Ada Lovelace")
        # Local is the default, and says nothing leaves; a server says where the notes go.
        assert dialog.model.currentData() != SERVER
        assert dialog.privacy.text() == LOCAL_TEXT and dialog.privacy.property("level") == "ok"
        assert dialog.pairs_spin.value() == 3
        dialog.model.setCurrentIndex(dialog.model.findData(SERVER))
        assert dialog.url.isVisible() and dialog.privacy.text() == SERVER_TEXT
        assert dialog.privacy.property("level") == "warning"
        assert dialog.why.text() == "Enter the server's address"
        dialog.url.setText(server.url)
        dialog.mask.setChecked(True)
        assert dialog.start_button.isEnabled() and dialog.start_button.text() == "Start"
        screenshot(dialog, "docs-dialog-ready")

        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        assert dialog.is_running() and dialog.cancel_button.isEnabled()
        assert not dialog.start_button.isEnabled() and not dialog.name.isEnabled()
        # Pairs show up while the later chunks are still being written.
        qtbot.waitUntil(
            lambda: (
                dialog.is_running()
                and dialog.table.rowCount() == 3
                and dialog.progress.format().startswith("Chunk 2 of 3 · 3 pairs · about ")
            ),
            timeout=60_000,
        )
        assert not dialog.use_button.isEnabled()
        screenshot(dialog, "docs-dialog-running")
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)

    out = studio_home / "generated" / "notes"
    assert dialog.message.property("level") == "ok", dialog.message.text()
    assert dialog.message.isVisible()
    assert dialog.message.text().startswith("8 pairs from 3 documents (3 chunks)")
    rows = dialog.table.rowCount()
    assert rows == len(load_pairs(out)) == 8
    assert {dialog.table.item(r, 2).text().split(" · ")[0] for r in range(rows)} == SOURCES
    # Masked before the model read it: the address never went to the server.
    assert not any("marta.v@example.com" in json.dumps(r) for r in server.requests)
    assert "[email]" in dialog.table.item(_row_with(dialog, "Piranesi"), 1).text()

    # Edit an answer in place, as a user does: double-click, type, Enter.
    edited = "You wrote that Marta recommended Piranesi, and you loved it."
    item = dialog.table.item(_row_with(dialog, "Piranesi"), 1)
    dialog.table.setCurrentItem(item)
    dialog.table.editItem(item)
    editor = dialog.table.viewport().findChild(QLineEdit)
    editor.setText(edited)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: item.text() == edited)  # the delegate commits on the next turn
    # Delete a row with the Delete key.
    castle = _row_with(dialog, "castle")
    gone = dialog.table.item(castle, 0).text()
    dialog.table.selectRow(castle)
    assert dialog.delete_button.isEnabled()
    dialog.table.setFocus()
    qtbot.keyClick(dialog.table, Qt.Key.Key_Delete)
    assert dialog.table.rowCount() == rows - 1
    assert dialog.use_button.text() == "Use these 7 pairs" and dialog.use_button.isEnabled()
    assert dialog.use_button.property("primary") is True
    screenshot(dialog, "docs-dialog-pairs")

    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    chat = out / "chat.jsonl"
    records = _chat_records(chat)
    assert len(records) == 7
    answers = [r["messages"][-1]["content"] for r in records]
    questions = [r["messages"][-2]["content"] for r in records]
    assert edited in answers and gone not in questions
    assert {r["source"] for r in records} == SOURCES
    memory = [r for r in records if not r["messages"][-2]["content"].startswith("<|ME|>")]
    assert len(memory) == 6  # and the dated note's time question, in Second-Me's time format
    assert all("Ada Lovelace" in r["messages"][0]["content"] for r in memory)
    assert len(load_pairs(out)) == 7  # the edits are in the output folder too
    # The Data page opened it like a dropped file (and, one clean file, prepared it).
    assert page.source == [chat]
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
    assert "Prepared" in page.info.text(), page.info.text()
    screenshot(window, "data-from-documents")


def test_cancel_then_continue_and_start_over(qtbot, tmp_path, studio_home, styled):
    notes = tmp_path / "notes"
    write_notes(notes)
    dialog = DocsDialog("Ada")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_folder(notes)
    with fake_writer(delay_s=1.0) as server:
        _use_server(dialog, server.url)
        dialog.start()
        qtbot.waitUntil(lambda: dialog.table.rowCount() > 0, timeout=60_000)
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
        assert dialog.message.isVisible() and dialog.message.text().startswith("Stopped.")
        assert "press Continue to go on" in dialog.message.text()
        assert dialog.start_button.property("primary") and not dialog.use_button.property("primary")
        screenshot(dialog, "docs-dialog-stopped")
        first = dialog.table.rowCount()
        assert 0 < first < 8
        assert dialog.start_button.text() == "Continue" and dialog.start_button.isEnabled()
        asked = len(server.requests)

        dialog.start_button.click()  # goes on: the chunks done are not asked again
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
        assert re.search(r"\d chunks? done before", dialog.message.text()), dialog.message.text()
        assert dialog.table.rowCount() == 8
        questions = [dialog.table.item(r, 0).text() for r in range(8)]
        assert len(set(questions)) == 8
        assert len(server.requests) - asked < 4  # 4 requests make the 3 chunks

        # Other settings on the same folder: the message says which, and Start over.
        dialog.pairs_spin.setValue(1)
        dialog.start_button.click()
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
        assert dialog.message.property("level") == "error"
        assert "pairs per chunk 3 -> 1" in dialog.message.text(), dialog.message.text()
        assert dialog.fix_button.isVisible() and dialog.fix_button.text() == "Start over"
        screenshot(dialog, "docs-dialog-start-over")
        dialog.fix_button.click()
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
        assert dialog.message.property("level") == "ok", dialog.message.text()
        assert dialog.table.rowCount() == 4  # one pair a chunk, one more for the dated note


def test_local_models_largest_first_and_unreadable_answers_offer_another_model(
    qtbot, tmp_path, installed_tiny, styled
):
    from mlxstudio.core.docs.writers import local_models

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "plan.md").write_text("NEVER a note the model can answer about, it seems.\n")
    dialog = DocsDialog("Ada")
    qtbot.addWidget(dialog)
    dialog.show()
    # Automatic (the core's choice: the largest that fits) is chosen; then the installed
    # models, largest first; the server comes last.
    models = local_models()
    found = [str(e.path) for e in models]
    assert str(installed_tiny) in found
    listed = [dialog.model.itemData(i) for i in range(dialog.model.count())]
    assert listed == ["", *found, SERVER] and dialog.model.currentIndex() == 0
    assert dialog.model.currentText().startswith(f"Automatic: {models[0].name}, the largest")
    assert dialog.options().model is None and dialog.options().url is None
    dialog.model.setCurrentIndex(1)
    assert dialog.options().model == found[0] and not dialog.server_row.isVisible()
    dialog.set_folder(notes)
    with fake_writer() as server:
        _use_server(dialog, server.url)
        dialog.start()
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    assert dialog.message.property("level") == "error"
    assert "choose a larger model" in dialog.message.text(), dialog.message.text()
    assert dialog.fix_button.isVisible() and dialog.fix_button.text() == "Choose another model"
    assert dialog.table.rowCount() == 0 and not dialog.use_button.isEnabled()
    screenshot(dialog, "docs-dialog-unreadable")
