"""Checks before serving: which model and adapter folders to load, and what to call them."""

from __future__ import annotations

import json
from pathlib import Path

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError
from mlxstudio.core.runs import read_meta

ADAPTER_WEIGHTS = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def resolve_model(model: str) -> Path:
    """The model folder for a path, or a name under the studio's models folder."""
    path = Path(model).expanduser()
    if not path.exists() and not path.is_absolute() and (paths.models_dir() / model).is_dir():
        path = paths.models_dir() / model
    if not path.exists():
        raise UserError(f"model folder {model} does not exist")
    if not path.is_dir():
        raise UserError(f"{model} is a file; serve needs a model folder (with config.json)")
    if not (path / "config.json").is_file():
        raise UserError(f"{model} has no config.json, so it is not an MLX model folder")
    return path.resolve()


def resolve_adapter(adapter: str) -> Path:
    """The adapter folder for an adapter folder, a run directory, or adapters.safetensors."""
    path = Path(adapter).expanduser()
    if path.is_file() and path.name == ADAPTER_WEIGHTS:
        path = path.parent
    if not path.is_dir():
        raise UserError(f"adapter folder {adapter} does not exist")
    # A run directory keeps its adapter in a subfolder: try `adapters/`, then a lone match.
    for candidate in (path, path / "adapters"):
        if (candidate / ADAPTER_WEIGHTS).is_file():
            folder = candidate
            break
    else:
        found = sorted(p for p in path.iterdir() if (p / ADAPTER_WEIGHTS).is_file())
        if not found:
            raise UserError(
                f"no {ADAPTER_WEIGHTS} in {adapter}; point --adapter at a run or adapter folder"
            )
        if len(found) > 1:
            raise UserError(f"{adapter} holds several adapters; point --adapter at one of them")
        folder = found[0]
    if not (folder / ADAPTER_CONFIG).is_file():
        raise UserError(f"{folder} has {ADAPTER_WEIGHTS} but no {ADAPTER_CONFIG}")
    return folder.resolve()


def has_adapters(run: Path | None) -> bool:
    """Whether a run (or adapter folder) holds adapters that can be served."""
    if run is None:
        return False
    try:
        resolve_adapter(str(run))
    except UserError:
        return False
    return True


def run_base_model(run_dir: Path) -> Path | None:
    """The model folder a run was trained from (its run.json's, else its adapter config's),
    when it is still on this machine."""
    names = [read_meta(run_dir).get("model")]
    try:
        config = json.loads((Path(run_dir) / ADAPTER_CONFIG).read_text("utf-8"))
        names.append(config.get("model"))
    except (OSError, ValueError):
        pass
    for name in names:
        if name and Path(name).is_dir():
            return Path(name)
    return None


def model_id(model: Path, adapter: Path | None) -> str:
    """A short name for what is served: the model folder's name, plus the adapter's run name."""
    if adapter is None:
        return model.name
    label = adapter.parent.name if adapter.name == "adapters" else adapter.name
    return f"{model.name}+{label}"


def one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = " ".join(lines[:3]) + (" ..." if len(lines) > 3 else "")
    return text or type(error).__name__
