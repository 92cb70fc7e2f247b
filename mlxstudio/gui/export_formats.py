"""Run history's Export button gets a menu of formats: the MLX folder alone, or with a GGUF
for llama.cpp, Ollama and LM Studio in one of the types the exporter can write here
(core/models/gguf_export.py). The choice is remembered and used by the button itself."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton

from mlxstudio.core.models.gguf_export import quant_choices

# What each GGUF type means to someone choosing one.
GGUF_WORDS = {
    "F16": "full quality, largest",
    "BF16": "full quality, bfloat16",
    "Q8_0": "8-bit, near full quality",
    "Q4_0": "4-bit, smallest",
    "Q4_K_M": "4-bit, llama.cpp's usual choice",
    "Q5_K_M": "5-bit, llama.cpp's k-quant",
}


def format_label(gguf: str | None) -> str:
    if gguf is None:
        return "MLX folder only"
    return f"MLX folder + GGUF {gguf} ({GGUF_WORDS.get(gguf, 'llama.cpp')})"


def attach_export_formats(history) -> QMenu:
    """A format menu on the Export action (a drop-down beside the toolbar button). The chosen
    GGUF type is `history.export_gguf` (None: the MLX folder only), read by export_run."""
    history.export_gguf = None
    export = history.action("export")
    menu = QMenu(history)
    group = QActionGroup(menu)
    for gguf in (None, *quant_choices()):
        item = QAction(format_label(gguf), menu, checkable=True, checked=gguf is None)
        item.setToolTip(
            "Only the fused MLX model (mlx-lm, LM Studio on a Mac)."
            if gguf is None
            else "Also a GGUF file and an Ollama Modelfile, for llama.cpp, Ollama, LM Studio."
        )
        item.triggered.connect(lambda _on=False, g=gguf: choose(g))
        group.addAction(item)
        menu.addAction(item)

    def choose(gguf: str | None) -> None:
        history.export_gguf = gguf
        export.setText("Export…" if gguf is None else f"Export ({gguf})…")
        export.trigger()  # choosing a format is asking for an export in it

    export.setMenu(menu)
    button = history.toolbar.widgetForAction(export)
    if isinstance(button, QToolButton):
        button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
    return menu
