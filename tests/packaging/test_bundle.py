"""The macOS bundle's setup, checked on Linux (py2app itself runs only on macOS), and the
Linux launcher."""

from __future__ import annotations

import configparser
import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))

import bundle  # noqa: E402

import mlxstudio  # noqa: E402
from mlxstudio.file_types import OPENABLE, role_of  # noqa: E402


def test_plist_is_valid_and_typed():
    plist = bundle.info_plist()
    plistlib.loads(plistlib.dumps(plist))  # only plist-serialisable types
    assert plist["CFBundleShortVersionString"] == mlxstudio.__version__
    assert plist["CFBundleIdentifier"] == "org.mlxstudio.MLXStudio"
    assert plist["NSHighResolutionCapable"] is True
    assert plist["LSUIElement"] is False
    assert bundle.info_plist(menubar_only=True)["LSUIElement"] is True
    major, minor = map(int, plist["LSMinimumSystemVersion"].split("."))
    assert (major, minor) >= (14, 0)  # what MLX's wheels require


def test_document_types_match_what_the_app_opens():
    declared = {ext for t in bundle.document_types() for ext in t["CFBundleTypeExtensions"]}
    assert declared == {e.lstrip(".") for e in OPENABLE} == {"jsonl", "json", "csv", "txt", "gguf"}
    for entry in bundle.document_types():
        assert isinstance(entry["LSItemContentTypes"], list) and entry["CFBundleTypeName"]
    exported = {t["UTTypeIdentifier"] for t in bundle.exported_types()}
    assert exported == {"org.mlxstudio.jsonl", "org.mlxstudio.gguf"}
    assert role_of(Path("m.GGUF")) == "model" and role_of(Path("d.jsonl")) == "data"


def test_every_bundled_file_exists():
    options = bundle.py2app_options()
    for path in options["resources"]:
        assert Path(path).is_dir(), path
    assert bundle.ICON_SOURCE.is_file() and bundle.ENTRY.is_file()
    assert (ROOT / "resources" / "sample_data" / "train.jsonl").is_file()
    assert (ROOT / "resources" / "configs" / "demo.yaml").is_file()
    assert Path(options["iconfile"]).name == "MLXStudio.icns"  # built by build_macos.sh
    for script in ("setup_py2app.py", "build_macos.sh", "app_main.py"):
        assert (ROOT / "packaging" / script).is_file()
    compile((ROOT / "packaging" / "setup_py2app.py").read_text(), "setup_py2app.py", "exec")


def test_metal_library_and_model_code_are_whole_packages():
    packages = bundle.py2app_options()["packages"]
    assert {"mlx", "mlx_lm", "mlxstudio", "qtawesome", "qtpy"} <= set(packages)  # fonts: data


def test_linux_desktop_file():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "packaging" / "linux" / "mlxstudio.desktop")
    entry = parser["Desktop Entry"]
    assert entry["Exec"].startswith("mlxstudio gui") and entry["Type"] == "Application"
    assert entry["Icon"] == "mlxstudio"
    assert "share/applications" in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, str(ROOT / "packaging" / "app_main.py")],
        [sys.executable, "-m", "mlxstudio", "gui"],
    ],
)
def test_entry_points_open_the_window(command, studio_home):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MLXSTUDIO_SMOKE_TEST="1")
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "window shown: MLX Studio" in proc.stdout


def test_every_resource_file_is_installed_with_the_package():
    """A pip install (not editable) must carry every shipped resource (data-files)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    covered = {Path(p) for patterns in data_files.values() for g in patterns for p in ROOT.glob(g)}
    shipped = {p for p in (ROOT / "resources").rglob("*") if p.is_file()}
    missing = sorted(str(p.relative_to(ROOT)) for p in shipped - covered)
    assert not missing, f"add these to [tool.setuptools.data-files]: {missing}"
