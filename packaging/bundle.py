"""What goes into the macOS app bundle: Info.plist values and py2app options.

Pure data + functions, so tests on Linux can check them without py2app (macOS only).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "MLX Studio"
BUNDLE_ID = "org.mlxstudio.MLXStudio"
MIN_MACOS = "14.0"  # MLX's wheels need macOS 14 or newer on Apple silicon
ICON_SOURCE = ROOT / "resources" / "icons" / "mlxstudio.png"
ICNS = ROOT / "build" / "MLXStudio.icns"
ENTRY = ROOT / "packaging" / "app_main.py"


def version() -> str:
    """The package version, read from mlxstudio/__init__.py without importing it."""
    text = (ROOT / "mlxstudio" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not match:
        raise RuntimeError("no __version__ in mlxstudio/__init__.py")
    return match.group(1)


def _openable() -> dict[str, tuple[str, str, str]]:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "file_types", ROOT / "mlxstudio" / "file_types.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.OPENABLE


def document_types() -> list[dict]:
    """CFBundleDocumentTypes: one entry per file type the app opens (file_types.OPENABLE)."""
    types = []
    for ext, (role, name, uti) in _openable().items():
        types.append(
            {
                "CFBundleTypeName": name,
                "CFBundleTypeRole": "Viewer" if role == "data" else "Editor",
                "LSHandlerRank": "Alternate",  # open with us on request, don't take over .json
                "LSItemContentTypes": [uti],
                "CFBundleTypeExtensions": [ext.lstrip(".")],
            }
        )
    return types


def exported_types() -> list[dict]:
    """UTIs we declare ourselves (no system UTI exists for .jsonl and .gguf)."""
    declared = []
    for ext, (_role, name, uti) in _openable().items():
        if uti.startswith("org.mlxstudio."):
            declared.append(
                {
                    "UTTypeIdentifier": uti,
                    "UTTypeDescription": name,
                    "UTTypeConformsTo": ["public.data"],
                    "UTTypeTagSpecification": {"public.filename-extension": [ext.lstrip(".")]},
                }
            )
    return declared


def info_plist(menubar_only: bool = False) -> dict:
    v = version()
    return {
        "CFBundleName": APP_NAME,
        "CFBundleDisplayName": APP_NAME,
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleShortVersionString": v,
        "CFBundleVersion": v,
        "CFBundleDocumentTypes": document_types(),
        "UTExportedTypeDeclarations": exported_types(),
        "LSMinimumSystemVersion": MIN_MACOS,
        "LSArchitecturePriority": ["arm64"],
        "NSHighResolutionCapable": True,
        "NSRequiresAquaSystemAppearance": False,  # follow the system's dark mode
        "LSUIElement": menubar_only,  # True: no Dock icon, only the menu-bar item
        "NSHumanReadableCopyright": "MIT licence",
    }


def resources() -> list[str]:
    """Folders copied into Contents/Resources (sample data, configs, icons)."""
    return [str(ROOT / "resources")]


def py2app_options(menubar_only: bool = False) -> dict:
    return {
        "argv_emulation": False,  # Qt receives Dock drops as QFileOpenEvent itself
        "iconfile": str(ICNS),
        "plist": info_plist(menubar_only),
        # Whole packages: MLX's compiled Metal library (mlx/lib/mlx.metallib) and the
        # mlx-lm model modules are found at run time, not by import analysis.
        "packages": [
            "mlxstudio",
            "mlx",
            "mlx_lm",
            "gguf",  # GGUF import/export; its quantizers are looked up by type name
            "pyqtgraph",
            "qtawesome",  # its icon fonts are data files, found at run time
            "qtpy",
            "transformers",
            "tokenizers",
            "safetensors",
            "jinja2",
            "yaml",
            "numpy",
            "pypdf",  # data generate: imported late, when a folder holds PDFs
            "matplotlib",  # Save as image / `mlxstudio plot`: imported late; mpl-data fonts
        ],
        "includes": ["PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"],
        "excludes": ["tkinter", "torch", "PyQt5", "PyQt6"],
        "resources": resources(),
    }
