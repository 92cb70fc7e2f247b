"""The files MLX Studio opens (dropped on the window or the Dock icon, or `mlxstudio gui
FILE`), and what it does with each. The app bundle's document types are built from this."""

from __future__ import annotations

from pathlib import Path

# extension -> (what the app does with it, human name, uniform type identifier)
OPENABLE: dict[str, tuple[str, str, str]] = {
    ".jsonl": ("data", "JSON Lines dataset", "org.mlxstudio.jsonl"),
    ".json": ("data", "JSON dataset", "public.json"),
    ".csv": ("data", "CSV dataset", "public.comma-separated-values-text"),
    ".txt": ("data", "Text corpus", "public.plain-text"),
    ".gguf": ("model", "GGUF model", "org.mlxstudio.gguf"),
}


def role_of(path: Path) -> str:
    """'model' for a GGUF file, 'data' for everything else (datasets, folders of them)."""
    entry = OPENABLE.get(path.suffix.lower())
    return entry[0] if entry else "data"
