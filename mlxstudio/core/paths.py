"""Where MLX Studio keeps its data: one per-user folder, overridable with MLXSTUDIO_HOME."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_HOME = "MLXSTUDIO_HOME"
ENV_MODELS = "MLXSTUDIO_MODELS_DIR"  # the app's Settings set these for itself and its jobs
ENV_RUNS = "MLXSTUDIO_RUNS_DIR"


def home() -> Path:
    """The per-user data folder (models/ and runs/ live under it)."""
    override = os.environ.get(ENV_HOME)
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "MLX Studio"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mlxstudio"


def models_dir() -> Path:
    override = os.environ.get(ENV_MODELS)
    return Path(override).expanduser() if override else home() / "models"


def runs_dir() -> Path:
    override = os.environ.get(ENV_RUNS)
    return Path(override).expanduser() if override else home() / "runs"


def resources_dir() -> Path:
    """The shipped resources (sample data, default configs, icons), wherever this runs from:
    a source checkout, a pip install (share/mlxstudio/), or the .app bundle (Resources/)."""
    candidates = (
        Path(__file__).resolve().parents[2] / "resources",
        Path(sys.prefix) / "share" / "mlxstudio" / "resources",
        Path(sys.prefix) / "resources",
    )
    for path in candidates:
        if (path / "configs").is_dir():
            return path
    return candidates[0]
