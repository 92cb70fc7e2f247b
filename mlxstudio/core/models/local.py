"""Models on this machine: the app's model folder, and resolving a name to a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError


@dataclass
class LocalModel:
    name: str
    path: Path
    model_type: str
    quantization: str
    size_bytes: int
    has_chat_template: bool


def _describe(path: Path) -> LocalModel | None:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    quant = config.get("quantization") or {}
    bits = f"{quant['bits']}-bit" if isinstance(quant, dict) and "bits" in quant else None
    dtype = config.get("torch_dtype") or config.get("dtype") or "?"
    template = False
    tok_cfg = path / "tokenizer_config.json"
    if tok_cfg.exists():
        try:
            template = bool(json.loads(tok_cfg.read_text(encoding="utf-8")).get("chat_template"))
        except ValueError:
            template = False
    template = template or (path / "chat_template.jinja").exists()
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return LocalModel(
        name=path.name,
        path=path,
        model_type=str(config.get("model_type", "?")),
        quantization=bits or str(dtype),
        size_bytes=size,
        has_chat_template=template,
    )


def list_models(folder: Path | None = None) -> list[LocalModel]:
    """Model folders (those with a config.json) in the app's model folder, sorted by name."""
    folder = folder or paths.models_dir()
    if not folder.is_dir():
        return []
    found = (_describe(p) for p in sorted(folder.iterdir()) if (p / "config.json").is_file())
    return [m for m in found if m is not None]


def resolve_model(ref: str) -> Path:
    """A model reference (folder path, or a name in the app's model folder) -> its folder."""
    if not ref:
        raise UserError("no model given; set 'model:' in the config or pass a model folder")
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path}: not a model folder (no config.json)")
        return path.resolve()
    if path.is_file() and path.suffix == ".gguf":
        raise UserError(
            f"{path}: a GGUF file; import it first with `mlxstudio models import-gguf {path}`"
        )
    local = paths.models_dir() / ref
    if (local / "config.json").is_file():
        return local.resolve()
    hint = " (install the demo model with `mlxstudio models install-demo`)"
    names = [m.name for m in list_models()]
    if names:
        hint = f" (local models: {', '.join(names)})"
    raise UserError(
        f"model '{ref}' not found: not a folder nor a model in {paths.models_dir()}{hint}"
    )
