"""The Data page's fixes, all in the window: refused non-datasets, grouped problems coloured
by level, field mapping, duplicates, BOM and blank lines, one-click preparing, goal hints."""

from __future__ import annotations

import json
import re

from screens import screenshot

CLI_WORDING = re.compile(r"(^|\s)--[a-z]|mlxstudio [a-z]|YAML")


def _checked(qtbot, page) -> None:
    qtbot.waitUntil(lambda: page.checked is not None and not page.is_busy(), timeout=60_000)


def _problem_texts(page) -> list[str]:
    return [page.problem_list.item(i).text() for i in range(page.problem_list.count())]


def test_an_image_is_refused_as_such(window, qtbot, tmp_path):
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    page = window.data_page
    window.open_paths([png])
    _checked(qtbot, page)
    assert "not a dataset: a PNG image" in page.info.text()
    assert "replace photo.png" in page.zone.text() and page.zone.height() == 40  # slim now
    assert page.info.property("level") == "error"
    assert not page.prepare_button.isEnabled() and page.prepare_why.text()
    assert window.state.data_dir is None
    screenshot(window, "data-refused-png")


def test_identical_problems_collapse_and_read_by_level(window, qtbot, tmp_path):
    from mlxstudio.gui.icons import level_colour

    bad = tmp_path / "mixed.jsonl"
    good = json.dumps({"prompt": "Hi", "completion": "Hello"})
    lines = [good] * 39 + ['{"prompt": "caf\xe9", "completion": "x"}'] * 41
    bad.write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    page = window.data_page
    window.go("data")
    page.open_path(bad)
    _checked(qtbot, page)
    texts = _problem_texts(page)
    utf8 = [t for t in texts if "UTF-8" in t]
    assert len(utf8) == 1 and "(41 lines, first at line 40)" in utf8[0], texts
    item = page.problem_list.item(texts.index(utf8[0]))
    assert item.foreground().color() == level_colour("error")
    dupes = [t for t in texts if "duplicate" in t]
    assert dupes and "tick Drop duplicates" in dupes[0]
    dupe_item = page.problem_list.item(texts.index(dupes[0]))
    assert dupe_item.foreground().color() == level_colour("warning")
    assert not any(CLI_WORDING.search(t) for t in texts), texts
    page.problem_list.setCurrentRow(texts.index(utf8[0]))
    assert "line 40" in page.problem_detail.text()
    assert page.tabs.currentIndex() == 1  # errors bring the Problems tab forward
    screenshot(window, "data-problems-grouped")


def test_unknown_fields_are_mapped_in_a_dialog(window, qtbot, tmp_path):
    data = tmp_path / "qa.jsonl"
    rows = [{"question": f"What is {i}?", "answer": f"{i}."} for i in range(20)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = window.data_page
    window.go("data")
    page.open_path(data)
    _checked(qtbot, page)
    assert page.map_button.isVisible()
    assert any("Map fields" in t for t in _problem_texts(page))
    dialog = page.map_fields()
    screenshot(dialog, "data-map-fields")
    assert [dialog.boxes["prompt"].itemText(i) for i in range(2)] == ["question", "answer"]
    dialog.choose("completions", prompt="question", completion="answer")
    dialog.accept()
    # One file, now readable and free of errors: prepared without another click.
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
    assert "Prepared" in page.info.text() and not page.map_button.isVisible()
    train = (window.state.data_dir / "train.jsonl").read_text().splitlines()
    assert json.loads(train[0])["prompt"].startswith("What is")


def test_duplicates_dropped_when_asked(window, qtbot, tmp_path):
    folder = tmp_path / "dupes"
    folder.mkdir()
    rows = [{"prompt": f"Q{i % 10}", "completion": f"A{i % 10}"} for i in range(30)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = window.data_page
    page.open_path(folder)
    _checked(qtbot, page)
    assert window.state.data_dir is not None  # a ready folder: duplicates only warn
    page.dedupe.setChecked(True)
    page.prepare_button.click()
    qtbot.waitUntil(lambda: "Prepared" in page.info.text(), timeout=60_000)
    assert "20 duplicate(s) left out" in page.info.text()
    out = window.state.data_dir
    lines = sum(1 for _ in (out / "train.jsonl").open()) + sum(
        1 for _ in (out / "valid.jsonl").open()
    )
    assert lines == 10


def test_bom_and_blank_lines_are_fixed_by_prepare(window, qtbot, tmp_path):
    folder = tmp_path / "bom"
    folder.mkdir()
    rows = [json.dumps({"prompt": f"Q{i}", "completion": f"A{i}"}) for i in range(12)]
    (folder / "train.jsonl").write_bytes(b"\xef\xbb\xbf" + "\n\n".join(rows).encode() + b"\n")
    page = window.data_page
    page.open_path(folder)
    _checked(qtbot, page)
    texts = _problem_texts(page)
    assert any("Prepare dataset writes a copy without it" in t for t in texts), texts
    assert any("Prepare dataset drops them" in t for t in texts), texts
    assert window.state.data_dir is None  # mlx-lm would fail on it as it is
    page.prepare_button.click()
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
    raw = (window.state.data_dir / "train.jsonl").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\n\n" not in raw


def test_data_of_another_goal_offers_to_switch(window, qtbot):
    from mlxstudio.core import paths

    page = window.data_page
    window.go("data")
    page.open_path(paths.resources_dir() / "sample_data" / "rl" / "preference")
    _checked(qtbot, page)
    assert page.switch_goal.isVisible()
    assert "Prefer better answers" in page.switch_goal.text()
    page.switch_goal.click()
    assert window.state.goal == "prefer" and window.state.config.stage == "dpo"
    assert window.goal_page.cards["prefer"].property("selected")


def test_answers_marked_good_or_bad_choose_kto(window, qtbot, tmp_path):
    """KTO's unpaired records fit the goal Prefer better answers and pick its KTO method:
    DPO could not read them."""
    page = window.data_page
    window.goal_page.choose("prefer")
    assert window.state.config.preference_loss == "sigmoid"
    records = [
        {"prompt": f"Capital of country {i}?", "completion": f"City {i}.", "label": i % 2 == 0}
        for i in range(12)
    ]
    path = tmp_path / "kto.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    window.go("data")
    page.open_path(path)
    _checked(qtbot, page)
    assert not page.switch_goal.isVisible()  # it is this goal's data
    assert window.state.config.preference_loss == "kto"
    assert window.goal_page.chosen_method().key == "kto"
    shown = [page.table.item(r, 1).text() for r in range(page.table.rowCount())]
    assert shown and "[label] good" in shown[0] and "[label] bad" in shown[1]


def test_new_data_leaves_nothing_of_the_old(window, qtbot, chat_data, installed_tiny, tmp_path):
    page = window.data_page
    window.state.set_model(installed_tiny)
    page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.longest_example is not None, timeout=120_000)
    assert "examples · median" in page.token_info.text()
    assert page.histogram.bars is not None
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    page.open_path(other)
    assert window.state.longest_example is None and window.state.data_dir is None
    assert page.histogram.bars is None and "median" not in page.token_info.text()
    assert page.table.rowCount() == 0 and page.problem_list.count() == 0


def test_checking_runs_in_a_child_process_and_cancels(window, qtbot, tmp_path):
    import os

    big = tmp_path / "big.jsonl"
    line = json.dumps({"prompt": "Hello there", "completion": "General Kenobi"}) + "\n"
    big.write_text(line * 400_000)
    page = window.data_page
    page.open_path(big)
    qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=60_000)
    import multiprocessing

    children = multiprocessing.active_children()
    assert children and all(c.pid != os.getpid() for c in children)
    page.cancel()
    assert not page.is_busy()
    assert not any(c.is_alive() for c in children)


def test_new_data_while_checking_shows_only_the_new(window, qtbot, tmp_path, chat_data):
    big = tmp_path / "big.jsonl"
    big.write_text((json.dumps({"prompt": "Hi", "completion": "Yo"}) + "\n") * 300_000)
    page = window.data_page
    page.open_path(big)
    qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=60_000)
    page.open_path(chat_data)  # the first check is cancelled; its signals must not count
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
    qtbot.wait(300)  # any queued signal of the cancelled task has arrived by now
    assert "24 records" in page.info.text() and "Cancelled" not in page.info.text()
    assert page.problem_list.count() == 0 and window.state.data_dir == chat_data.resolve()


def test_cancel_button_leaves_a_usable_page(window, qtbot, tmp_path, studio_home):
    big = tmp_path / "big"
    big.mkdir()
    line = json.dumps({"prompt": "Hello there", "completion": "General Kenobi"}) + "\n"
    (big / "train.jsonl").write_text(line * 300_000)
    (big / "train.jsonl").write_bytes(b"\xef\xbb\xbf" + (big / "train.jsonl").read_bytes())
    page = window.data_page
    window.go("data")
    page.open_path(big)
    _checked(qtbot, page)
    assert page.prepare_button.isEnabled()  # the BOM needs Prepare
    page.prepare_button.click()
    qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=60_000)
    page.cancel_button.click()
    assert not page.is_busy() and not page.progress_box.isVisible()
    assert "cancelled" in page.info.text() and page.prepare_button.isEnabled()
    # The cancelled child cleaned up after itself: no half-written dataset is left.
    datasets = studio_home / "datasets"
    leftovers = list(datasets.glob(".*")) if datasets.exists() else []
    assert leftovers == []


def test_changing_the_goal_after_the_data_flags_the_mismatch(window, qtbot, chat_data):
    page = window.data_page
    window.go("data")
    page.open_path(chat_data)
    qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
    assert not page.switch_goal.isVisibleTo(page) and page.problems() == []
    window.goal_page.choose("prefer")
    assert (
        page.switch_goal.isVisibleTo(page) and "Answer like my examples" in page.switch_goal.text()
    )
    assert page.problems() and "does not fit" in page.problems()[0]
    page.switch_goal.click()
    assert window.state.goal == "answer" and page.problems() == []


def test_core_messages_without_a_fix_lose_their_flags():
    from mlxstudio.gui.widgets.run_words import plain_words

    text = plain_words("/x/out: the folder exists and is not empty; pick a new one or --overwrite")
    assert text.endswith("pick a new one") and "--" not in text
