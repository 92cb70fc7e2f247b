"""The catalog of recommended MLX-community models, shipped as resources/catalog.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError

CATALOG_FILE = "catalog.yaml"


@dataclass(frozen=True)
class CatalogEntry:
    repo: str
    parameters: str
    quantization: str
    size_gb: float
    licence: str
    note: str = ""

    @property
    def name(self) -> str:
        return self.repo.split("/")[-1]


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """The catalog's entries, in file order (smallest first)."""
    path = path or paths.resources_dir() / CATALOG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        raise UserError(f"{path}: the model catalog is missing from this install") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({err})") from None
    entries = []
    for i, item in enumerate(data.get("models") or []):
        try:
            entries.append(
                CatalogEntry(
                    repo=str(item["repo"]),
                    parameters=str(item["parameters"]),
                    quantization=str(item["quantization"]),
                    size_gb=float(item["size_gb"]),
                    licence=str(item["licence"]),
                    note=str(item.get("note", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"{path}: entry {i + 1} lacks or mistypes {err}") from None
    return entries
