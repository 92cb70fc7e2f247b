"""Guardrails: every QAction in the window is triggered by a test that checks its effect
(a new action without one fails here), and no module reaches into another object's
underscored names. Also the actions no other file triggers: the tray menu on a real run,
Quit, the keyboard shortcuts, run history's right-click menu, a chat bubble's menu, and
the plots' Export…."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QContextMenuEvent, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QToolBar

from mlxstudio.core import paths

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent

# Every action the window has, and the test (file::function) that triggers it and checks
# what it did. Add a row with its test when you add an action.
TESTED = {
    "menu.open_data": "test_menus.py::test_every_menu_item_works",
    "menu.import_gguf": "test_menus.py::test_every_menu_item_works",
    "menu.settings": "test_menus.py::test_every_menu_item_works",
    "menu.start": "test_menus.py::test_every_menu_item_works",
    "menu.stop": "test_menus.py::test_every_menu_item_works",
    "menu.history": "test_menus.py::test_every_menu_item_works",
    "menu.quit": "test_actions.py::test_tray_menu_follows_a_run_stops_it_and_quit_saves",
    "history.open": "test_history.py::test_columns_and_what_each_run_allows",
    "history.resume": "test_history.py::test_columns_and_what_each_run_allows",
    "history.compare": "test_history.py::test_compare_plots_both_runs_on_the_same_axes",
    "history.delete": "test_history.py::test_delete_asks_then_removes_the_folder",
    "history.serve": "test_history.py::test_export_writes_a_model_folder",
    "history.export": "test_history.py::test_export_writes_a_model_folder",
    "history.evaluate": "test_eval_view.py::test_reachable_from_history_and_the_training_page",
    "history.save_image": "test_save_curves.py::test_save_two_runs_overlaid",
    "history.publish": "test_publish.py::test_publish_a_run_with_a_pasted_token",
    "history.export_menu": "test_export_formats.py::test_export_menu_writes_the_chosen_gguf",
    "tray.status": "test_actions.py::test_tray_menu_follows_a_run_stops_it_and_quit_saves",
    "tray.stop": "test_actions.py::test_tray_menu_follows_a_run_stops_it_and_quit_saves",
    "tray.show": "test_actions.py::test_tray_menu_follows_a_run_stops_it_and_quit_saves",
    "chat.copy_selection": "test_actions.py::test_chat_bubble_menu_copies",
    "chat.copy_message": "test_actions.py::test_chat_bubble_menu_copies",
    "plot.export": "test_actions.py::test_plot_menu_export_opens_the_export_dialog",
}
# Shortcuts pressed as keys (not only triggered) by a test.
KEYS_TESTED = {
    "menu.open_data": "test_actions.py::test_shortcuts_work_as_keys",
    "history.delete": "test_actions.py::test_shortcuts_work_as_keys",
    # Standard keys some platforms leave empty (Cmd-, and Cmd-Q on macOS)
    "menu.settings": "test_actions.py::test_shortcuts_work_as_keys",
    "menu.quit": "test_actions.py::test_shortcuts_work_as_keys",
}


def named_actions(window) -> list[tuple[str, QAction]]:
    """The window's actions, each with the name TESTED uses (several may share one)."""
    named = [(f"menu.{k}", a) for k, a in window.actions_by_name.items()]
    history = window.history
    named += [(f"history.{k}", a) for k, a in history.actions_by_name.items()]
    # What other modules attach to run history: actions (history.evaluate_action...) and
    # menus, whose items share the menu's name (history.export_menu).
    for attr, value in vars(history).items():
        if attr.endswith("_action") and isinstance(value, QAction):
            named.append((f"history.{attr.removesuffix('_action')}", value))
        if attr.endswith("_menu") and isinstance(value, QMenu):
            named += [(f"history.{attr}", item) for item in value.actions()]
    tray = window.tray
    named += [("tray.status", tray.status_action), ("tray.stop", tray.stop_action)]
    named.append(("tray.show", tray.show_action))
    return named


def chat_menu_names(window) -> dict[str, QAction]:
    """A chat bubble's right-click menu (built as it opens), with some text selected so that
    all its items show: "chat.copy_message" for Copy message."""
    from mlxstudio.gui.widgets.chat_view import Bubble

    bubble = Bubble("assistant", "An answer", window.palette())
    bubble.label.setSelection(0, 2)
    actions = bubble.context_menu().actions()
    return {"chat." + a.text().lower().replace(" ", "_"): a for a in actions}


def all_actions(window) -> list[QAction]:
    """Every QAction under the window and in the tray's menu, not Qt's own (a menu's title,
    a toolbar's toggle, separators)."""
    found = window.findChildren(QAction) + window.tray.menu.actions()
    own = {key(t.toggleViewAction()) for t in window.findChildren(QToolBar)}
    return [a for a in found if key(a) not in own and not a.isSeparator() and not is_title(a)]


def is_title(action: QAction) -> bool:
    """A menu's own action (its title in a menu bar), which Qt makes as the menu's child."""
    menu = action.menu()
    return menu is not None and key(menu) == key(action.parent())


def key(action: QObject) -> int:
    """The Qt object's address: Python wrappers come and go, their id()s are reused."""
    return shiboken6.getCppPointer(action)[0]


def test_every_action_in_the_window_has_a_test(window):
    from pyqtgraph import GraphicsScene

    named = named_actions(window)
    names = {key(a): name for name, a in named}
    found = []
    for action in all_actions(window):
        if isinstance(action.parent(), GraphicsScene):  # the plots' right-click Export...
            found.append("plot.export")
        else:
            found.append(names.get(key(action), f"unnamed {action.text()!r}"))
    found += chat_menu_names(window)
    untested = sorted(set(found) - set(TESTED))
    assert not untested, f"actions with no test in TESTED: {untested}"
    assert set(found) == set(TESTED), "TESTED names actions the window no longer has"
    # Each row names a test that exists.
    for where in [*TESTED.values(), *KEYS_TESTED.values()]:
        file, function = where.split("::")
        assert f"def {function}(" in (TESTS / file).read_text(), where
    for name, action in named:
        if not action.shortcut().isEmpty():
            assert name in KEYS_TESTED, f"{name}'s shortcut is never pressed in a test"


def private_uses(path: Path) -> list[str]:
    """x._name where x is not self, cls or super(): a reach into another object's insides."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
            continue
        if node.attr.startswith("__"):
            continue
        v = node.value
        if isinstance(v, ast.Name) and v.id in ("self", "cls"):
            continue
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super":
            continue
        found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    for node in ast.walk(tree):  # and no `from x import _name`
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{where}:{node.lineno}: import {alias.name}")
    return found


def test_no_module_reaches_into_another_objects_private_names(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("page._choose()\nself._ok()\nsuper()._ok()\nfrom a import _b\n")
    assert [line.split(": ")[1] for line in private_uses(bad)] == ["page._choose", "import _b"]
    found = []
    for folder in (ROOT / "mlxstudio" / "gui", ROOT / "mlxstudio" / "engine", TESTS):
        for path in sorted(folder.rglob("*.py")):
            found += private_uses(path)
    assert not found, "\n".join(found)


# ---- actions no other test file triggers
def _ready(window, qtbot, chat_data, installed_tiny) -> None:
    window.data_page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=30_000)
    window.state.set_model(installed_tiny)
    # Long enough to still run when Stop comes; a checkpoint every step, so it resumes.
    window.state.update_config(
        num_layers=1, batch_size=2, iters=500, steps_per_eval=400, save_every=1
    )


def _status(run: Path) -> str:
    return json.loads((run / "run.json").read_text()).get("status", "")


def test_tray_menu_follows_a_run_stops_it_and_quit_saves(
    window, qtbot, chat_data, installed_tiny, monkeypatch
):
    tray, train = window.tray, window.train_page
    assert tray.status_action.text() == "No training run" and not tray.status_action.isEnabled()
    assert not tray.stop_action.isEnabled()
    _ready(window, qtbot, chat_data, installed_tiny)
    train.name_edit.setText("tray-run")
    window.actions_by_name["start"].trigger()
    qtbot.waitUntil(lambda: train.step >= 2, timeout=180_000)
    text = tray.status_action.text()
    assert text.startswith("tray-run · step ") and "/500" in text and "ETA" in text, text
    assert tray.stop_action.isEnabled()
    tray.stop_action.trigger()
    qtbot.waitUntil(lambda: not train.is_running(), timeout=120_000)
    run = paths.runs_dir() / "tray-run"
    assert _status(run) == "stopped" and "stopped at step" in train.summary.text()
    assert tray.status_action.text().endswith("finished") and not tray.stop_action.isEnabled()

    window.hide()  # closed while training: Show MLX Studio brings it back
    tray.show_action.trigger()
    assert window.isVisible()

    # Quit while a run trains: it stops and saves first, then the app leaves.
    train.name_edit.setText("quit-run")
    window.actions_by_name["start"].trigger()
    qtbot.waitUntil(lambda: train.step >= 1, timeout=180_000)
    quits = []
    monkeypatch.setattr(QApplication, "quit", lambda: quits.append(time.time()))
    window.actions_by_name["quit"].trigger()
    # The job has ended (its `ended` is still queued) and the run saved as stopped.
    assert quits and not train.job.isRunning()
    assert _status(paths.runs_dir() / "quit-run") == "stopped"
    qtbot.waitUntil(lambda: not train.is_running(), timeout=10_000)


def test_shortcuts_work_as_keys(window, qtbot, chat_data, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    train_file = chat_data / "train.jsonl"
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(train_file)], ""))
    QTest.keySequence(window, QKeySequence(QKeySequence.StandardKey.Open))
    assert window.current_name() == "data"
    qtbot.waitUntil(lambda: window.data_page.source == [train_file], timeout=60_000)

    run = paths.runs_dir() / "old-run"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": "completed", "started": 1e9}))
    window.go("history")
    window.history.select(run)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    QTest.keyClick(window.history.table, Qt.Key.Key_Delete)
    assert not run.exists() and window.history.table.rowCount() == 0

    from mlxstudio.gui.settings import SettingsDialog

    settings = window.actions_by_name["settings"].shortcut()
    if not settings.isEmpty():
        QTest.keySequence(window, settings)
        dialog = window.findChild(SettingsDialog)
        assert dialog is not None and dialog.isVisible()
        dialog.reject()
    quit_key = window.actions_by_name["quit"].shortcut()
    if not quit_key.isEmpty():
        quits = []
        monkeypatch.setattr(QApplication, "quit", lambda: quits.append(1))
        QTest.keySequence(window, quit_key)
        assert quits == [1]


def test_history_right_click_menu_offers_the_toolbars_actions(window, qtbot):
    runs = []
    for name in ("first", "second"):
        run = paths.runs_dir() / name
        run.mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({"status": "completed", "started": 1e9}))
        runs.append(run)
    window.go("history")
    view = window.history
    table = view.table
    row = view.row_of(runs[1])
    pos = table.visualRect(table.model().index(row, 0)).center()
    event = QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, pos, table.viewport().mapToGlobal(pos)
    )
    QApplication.sendEvent(table.viewport(), event)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5000)
    menu = QApplication.activePopupWidget()
    shown = [a for a in menu.actions() if not a.isSeparator()]
    assert shown == [view.action(n) for n in ("open", "resume", "serve", "export", "compare")] + [
        view.action("delete")
    ]
    assert view.selected_runs() == [runs[1]]  # the row right-clicked is the one acted on
    with qtbot.waitSignal(view.open_run, timeout=1000) as opened:
        next(a for a in shown if a.text() == "Open").trigger()
    menu.close()
    assert opened.args == [runs[1]] and window.current_name() == "train"


def test_chat_bubble_menu_copies(qtbot):
    from PySide6.QtWidgets import QWidget

    from mlxstudio.gui.widgets.chat_view import Bubble

    host = QWidget()
    qtbot.addWidget(host)
    bubble = Bubble("assistant", "Paris is the **capital**.", host.palette(), host)
    menu = bubble.context_menu()
    assert [a.text() for a in menu.actions()] == ["Copy message"]  # nothing selected
    menu.actions()[0].trigger()
    assert QApplication.clipboard().text() == "Paris is the **capital**."  # as written
    bubble.label.setSelection(0, 5)
    menu = bubble.context_menu()
    assert [a.text() for a in menu.actions()] == ["Copy selection", "Copy message"]
    menu.actions()[0].trigger()
    assert QApplication.clipboard().text() == "Paris"


def test_plot_menu_export_opens_the_export_dialog(window, qtbot):
    window.go("train")
    plot = window.train_page.plots.plots[0]
    window.train_page.plots.show_events([{"event": "train", "step": 1, "train_loss": 2.0}], 10)
    assert window.train_page.plots.showing_curves()
    qtbot.waitExposed(plot)
    centre = plot.viewport().rect().center()
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.RightButton, pos=centre)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5000)
    menu = QApplication.activePopupWidget()
    export = next(a for a in menu.actions() if a.text() == "Export...")
    menu.close()
    export.trigger()
    dialog = plot.scene().exportDialog
    assert dialog is not None and dialog.isVisible()
    formats = [dialog.ui.formatList.item(i).text() for i in range(dialog.ui.formatList.count())]
    assert "Image File (PNG, TIF, JPG, ...)" in formats
    dialog.close()
