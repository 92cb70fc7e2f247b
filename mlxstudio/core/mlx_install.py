"""Which MLX library is in place. mlx-cpu and mlx-cuda-13 both ship mlx/lib/libmlx.so and
the package pip installs last wins, so `pip install '.[cuda]'` can leave the CPU library
in place of the CUDA one; `mlxstudio doctor` checks the file against the CUDA package's
own record (pip's RECORD hashes) and says how to put it back."""

from __future__ import annotations

import base64
import hashlib
from importlib import metadata
from pathlib import Path

CUDA_PACKAGES = ("mlx-cuda-13", "mlx-cuda-12", "mlx-cuda")
LIBRARY = "mlx/lib/libmlx.so"


def library_problem(path: list[str] | None = None) -> str | None:
    """What is wrong with the installed MLX library, or None. `path`: where to look for
    installed packages (default: sys.path)."""
    found = metadata.distributions(path=path) if path is not None else metadata.distributions()
    packages = {(d.metadata["Name"] or "").lower(): d for d in found}
    cuda = next((packages[n] for n in CUDA_PACKAGES if n in packages), None)
    if cuda is None:
        return None
    entry = next((f for f in cuda.files or () if f.as_posix() == LIBRARY and f.hash), None)
    if entry is None:
        return None
    library = Path(str(cuda.locate_file(entry)))
    if library.is_file() and _sha256(library) == entry.hash.value:
        return None
    name, version = cuda.metadata["Name"], cuda.version
    return (
        f"{name} {version} is installed, but {LIBRARY} is not its own (mlx-cpu ships one "
        f"too, and the last package installed wins), so MLX cannot use the GPU; put the "
        f'CUDA one back: pip install --force-reinstall --no-deps "{name}=={version}"'
    )


def _sha256(file: Path) -> str:
    """The file's digest as pip's RECORD writes it (urlsafe base64, no padding)."""
    digest = hashlib.sha256()
    with file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
