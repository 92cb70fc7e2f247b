"""Screenshots of pages, saved under tests/artifacts/screens/ to open and look at."""

from __future__ import annotations

from pathlib import Path

SCREENS = Path(__file__).resolve().parents[1] / "artifacts" / "screens"


def screenshot(widget, name: str) -> Path:
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()  # layouts settle (a wrapped label's height) before the grab
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not save {path}"
    return path
