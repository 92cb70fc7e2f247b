"""bench_rl.py's copy of mlx-lm-lora already on the machine (a GPU machine has no registry)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_rl  # noqa: E402


def make_wheel(folder: Path, version: str = "5.10.2") -> Path:
    """A pure-Python wheel as pip builds one: the package and its dist-info, zipped."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"mlx_lm_lora-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mlx_lm_lora/__init__.py", f"__version__ = '{version}'\n")
        zf.writestr("mlx_lm_lora/trainer/__init__.py", "")
        zf.writestr(f"mlx_lm_lora-{version}.dist-info/METADATA", "Name: mlx-lm-lora\n")
    return wheel


def imported_version(path: Path) -> str:
    """The version a fresh interpreter imports with `path` first on sys.path."""
    code = "import mlx_lm_lora; print(mlx_lm_lora.__version__)"
    env = {"PYTHONPATH": str(path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.mark.parametrize("given", ["wheel", "folder"])
def test_a_wheel_or_its_folder_is_unpacked_into_the_target(tmp_path, given):
    wheel = make_wheel(tmp_path / "wheels")
    copy = wheel if given == "wheel" else wheel.parent
    target = bench_rl.install(tmp_path / "site", copy)
    assert target == tmp_path / "site"
    assert imported_version(target) == "5.10.2"


def test_several_wheels_are_refused_rather_than_one_guessed(tmp_path):
    make_wheel(tmp_path / "wheels", "5.9.0")
    make_wheel(tmp_path / "wheels", "5.10.2")
    with pytest.raises(SystemExit, match="5.10.2.*5.9.0|5.9.0.*5.10.2"):
        bench_rl.install(tmp_path / "site", tmp_path / "wheels")


def test_an_unpacked_copy_is_used_where_it_is(tmp_path):
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(make_wheel(tmp_path / "wheels")) as zf:
        zf.extractall(unpacked)
    assert bench_rl.install(tmp_path / "site", unpacked) == unpacked
    assert not (tmp_path / "site").exists()


def test_a_folder_without_the_package_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no mlx_lm_lora-"):
        bench_rl.install(tmp_path / "site", tmp_path / "empty")
