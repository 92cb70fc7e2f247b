"""Screenshots of every page, light and dark, at 1280x800 and 1024x640, to open and look at;
and the window really fits the smaller size (no page forces it wider or taller)."""

from __future__ import annotations

import pytest
from screens import screenshot

from mlxstudio.gui.main_window import HISTORY, PAGES

SIZES = ((1280, 800), (1024, 640))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_in_both_schemes_and_sizes(window, qtbot, chat_data, installed_tiny, scheme):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.style import apply_style

    app = QApplication.instance()
    apply_style(app, scheme)
    try:
        window.data_page.open_path(chat_data)
        qtbot.waitUntil(lambda: window.state.data_dir is not None, timeout=60_000)
        window.model_page.refresh()
        qtbot.waitUntil(lambda: window.state.longest_example is not None, timeout=120_000)
        lightness = app.palette().color(QPalette.ColorRole.Window).lightness()
        assert (lightness < 100) if scheme == "dark" else (lightness > 150)
        for width, height in SIZES:
            window.resize(width, height)
            for name in (*PAGES, HISTORY):
                window.go(name)
                qtbot.wait(50)
                hints = {type(p).__name__: p.minimumSizeHint() for p in window.pages}
                assert window.width() == width and window.height() == height, (name, hints)
                screenshot(window, f"page-{name}-{scheme}-{width}x{height}")
    finally:
        apply_style(app)
