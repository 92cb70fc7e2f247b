"""The look: icons for every name, a really dark dark palette, and screenshots of the Model
and LoRA pages in light and dark at two window sizes (tests/artifacts/screens/)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QPushButton
from screens import screenshot  # tests/gui/screens.py

from mlxstudio.gui.icons import icon, names
from mlxstudio.gui.style import apply_style, current_scheme, make_primary, set_message

SIZES = ((1280, 800), (1024, 640))


@pytest.fixture
def styled(qtbot, studio_home):
    """Make a main window under a forced scheme (icons and palette built in it)."""
    from mlxstudio.gui.main_window import MainWindow

    made = []

    def make(scheme: str):
        apply_style(QApplication.instance(), scheme)
        win = MainWindow()
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.data_page.shutdown()
        win.train_page.shutdown(timeout_ms=20000)
        win.serve_page.shutdown()
    apply_style(QApplication.instance(), "light")


def test_every_icon_name_draws(qapp):
    apply_style(qapp, "light")
    for name in names():
        image = icon(name).pixmap(24, 24).toImage()
        assert not image.isNull(), name
        inked = (image.pixelColor(x, y).alpha() > 0 for x in range(24) for y in range(24))
        assert any(inked), name
    with pytest.raises(KeyError):
        icon("no-such-icon")
    for name in ("goal", "data", "model", "settings", "train", "serve", "history", "start"):
        assert name in names()


def test_dark_palette_is_dark_and_icons_follow(qapp):
    apply_style(qapp, "dark")
    pal = qapp.palette()
    assert pal.color(QPalette.ColorRole.Window).lightness() < 100
    assert pal.color(QPalette.ColorRole.Base).lightness() < 100
    assert pal.color(QPalette.ColorRole.WindowText).lightness() > 180
    assert current_scheme() == "dark"
    start = icon("start")  # made once, painted in each scheme's text colour
    dark_fg = start.pixmap(32, 32).toImage().pixelColor(16, 16)
    apply_style(qapp, "light")
    light_fg = start.pixmap(32, 32).toImage().pixelColor(16, 16)
    assert dark_fg.lightness() > 180 and light_fg.lightness() < 80
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 200


def test_primary_and_levels(qapp, qtbot):
    from PySide6.QtWidgets import QLabel

    apply_style(qapp, "light")
    button = make_primary(QPushButton("Start"), "start")
    qtbot.addWidget(button)
    assert button.property("primary") is True and not button.icon().isNull()
    label = QLabel()
    qtbot.addWidget(label)
    set_message(label, "Broken", "error")
    assert label.property("level") == "error"
    set_message(label, "", "error")  # empty text: no stray icon
    assert label.property("level") == ""
    with pytest.raises(ValueError):
        set_message(label, "x", "fatal")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screens_model_and_lora(styled, installed_tiny, tmp_path, scheme):
    win = styled(scheme)
    assert current_scheme() == scheme
    win.state.set_data(tmp_path)
    win.model_page.refresh()
    win.state.set_longest_example(120)
    assert win.model_page.gauge.verdict == "fits"
    for width, height in SIZES:
        win.resize(width, height)
        for page in ("model", "settings"):
            win.go(page)
            QApplication.processEvents()
            assert win.size().toTuple() == (width, height), page  # no page forces it wider
            path = screenshot(win, f"look_{page}_{scheme}_{width}x{height}")
            assert path.stat().st_size > 10_000
    win.lora_page.preset.setCurrentText("Quick test")
    win.resize(1280, 800)
    win.go("settings")
    screenshot(win, f"look_settings_quick_{scheme}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_check_boxes_are_visible_in_every_state(qapp, qtbot, scheme):
    """Fusion's dark unchecked box was dark on dark: every state is drawn by the sheet,
    with a visible border, and checked boxes carry a white check on the accent."""
    from PySide6.QtWidgets import QCheckBox

    apply_style(qapp, scheme)
    try:
        field = qapp.palette().color(QPalette.ColorRole.Base)
        shots = {}
        for checked in (False, True):
            box = QCheckBox("Allow")
            box.setChecked(checked)
            qtbot.addWidget(box)
            box.show()
            shots[checked] = box.grab().toImage()
        # The indicator sits in the box's left 20 px: its border must stand out.
        unchecked = shots[False]
        h = unchecked.height()
        contrast = max(
            abs(unchecked.pixelColor(x, y).lightness() - field.lightness())
            for x in range(20)
            for y in range(h)
        )
        assert contrast > 60, contrast
        checked = shots[True]
        colours = [checked.pixelColor(x, y) for x in range(20) for y in range(h)]
        assert any(c.blue() > 200 and c.red() < 60 for c in colours)  # the accent fill
        assert any(c.lightness() > 240 for c in colours)  # the white check mark
    finally:
        apply_style(qapp, "light")


def test_chosen_preset_has_the_accent_border(styled):
    win = styled("dark")
    win.resize(1280, 800)
    win.go("settings")
    win.lora_page.preset.setCurrentText("Quick test")
    QApplication.processEvents()
    button = win.lora_page.preset.buttons["Quick test"]
    image = button.grab().toImage()
    edge = image.pixelColor(1, image.height() // 2)
    assert edge.blue() > 200 and edge.red() < 60, edge.name()
    other = win.lora_page.preset.buttons["Balanced"].grab().toImage()
    assert other.pixelColor(1, other.height() // 2).blue() < 150
