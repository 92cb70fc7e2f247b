"""Checkpoints a run can resume from, written so that a kill at any moment loses nothing.

run_dir/checkpoints/NNNNNNN/   adapters.safetensors   trainable weights (mlx-lm's format)
                               optimizer.safetensors  optimizer state (moments, step)
                               gradients.safetensors  accumulated gradients, if mid-accumulation
                               state.json             step, data position, counters, file hashes
run_dir/NNNNNNN_adapters.safetensors   a hard link to the checkpoint's adapters (mlx-lm layout)
run_dir/adapters.safetensors           the latest weights, replaced atomically

A checkpoint is built in a hidden folder and renamed into place, and state.json (written
last) holds a SHA-256 of every file: a torn or corrupted checkpoint is detected and the
previous one used instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxstudio.core.errors import UserError

CHECKPOINTS = "checkpoints"
STATE = "state.json"


class CheckpointError(UserError):
    pass


@dataclass
class Loaded:
    step: int
    path: Path
    adapters: dict[str, Any]
    optimizer: dict[str, Any]
    gradients: dict[str, Any] | None  # flat: path -> array
    state: dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_tensors(path: Path, tensors: dict[str, Any]) -> None:
    import mlx.core as mx

    mx.save_safetensors(str(path), tensors)
    _fsync(path)


def write_adapters(run_dir: Path, weights: dict[str, Any]) -> Path:
    """Replace run_dir/adapters.safetensors atomically (readers never see half a file)."""
    out = run_dir / "adapters.safetensors"
    tmp = run_dir / ".adapters.tmp.safetensors"
    save_tensors(tmp, weights)
    os.replace(tmp, out)
    return out


def save_checkpoint(
    run_dir: Path,
    step: int,
    adapters: dict[str, Any],
    optimizer: dict[str, Any],
    state: dict[str, Any],
    gradients: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint `step` atomically; returns its folder."""
    root = run_dir / CHECKPOINTS
    root.mkdir(exist_ok=True)
    final = root / f"{step:07d}"
    tmp = root / f".tmp-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    parts = {"adapters.safetensors": adapters, "optimizer.safetensors": optimizer}
    if gradients:
        parts["gradients.safetensors"] = gradients
    hashes = {}
    for name, tensors in parts.items():
        save_tensors(tmp / name, tensors)
        hashes[name] = _sha256(tmp / name)
    state = {**state, "step": step, "files": hashes}
    (tmp / STATE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    _fsync(tmp / STATE)
    if final.exists():  # the same step saved again (a resumed run): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync(root)
    link = run_dir / f"{step:07d}_adapters.safetensors"
    link.unlink(missing_ok=True)
    try:
        os.link(final / "adapters.safetensors", link)
    except OSError:  # file systems without hard links
        shutil.copyfile(final / "adapters.safetensors", link)
    return final


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of each checkpoint, oldest first; half-written ones are skipped."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(p.name), p) for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(found)


def load_checkpoint(path: Path) -> Loaded:
    """Read and verify one checkpoint; CheckpointError says what is wrong with it."""
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    try:
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: unreadable {STATE} ({err})") from None
    tensors: dict[str, Any] = {}
    for name, digest in state.get("files", {}).items():
        file = path / name
        if not file.is_file() or _sha256(file) != digest:
            raise CheckpointError(f"{file}: missing or corrupted (checksum differs)")
        try:
            tensors[name] = mx.load(str(file))
        except Exception as err:  # noqa: BLE001 - any unreadable file means a bad checkpoint
            raise CheckpointError(f"{file}: unreadable ({err})") from None
    if "adapters.safetensors" not in tensors or "optimizer.safetensors" not in tensors:
        raise CheckpointError(f"{path}: incomplete checkpoint")
    grads = tensors.get("gradients.safetensors")
    return Loaded(
        step=int(state["step"]),
        path=path,
        adapters=tensors["adapters.safetensors"],
        optimizer=tree_unflatten(list(tensors["optimizer.safetensors"].items())),
        gradients=grads,
        state=state,
    )


def latest_checkpoint(run_dir: Path, warn=None) -> Loaded | None:
    """The newest checkpoint that verifies; older ones are tried when the newest is broken."""
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            return load_checkpoint(path)
        except CheckpointError as err:
            if warn:
                warn(f"checkpoint skipped: {err}; trying the previous one")
    return None


def prune_checkpoints(run_dir: Path, keep_last: int, keep: set[int]) -> list[int]:
    """Delete checkpoints other than the last `keep_last` (0: keep all) and the steps in
    `keep` (the best); returns the steps deleted."""
    existing = list_checkpoints(run_dir)
    if keep_last <= 0:
        return []
    survivors = {step for step, _ in existing[-keep_last:]} | keep
    deleted = []
    for step, path in existing:
        if step not in survivors:
            shutil.rmtree(path, ignore_errors=True)
            (Path(run_dir) / f"{step:07d}_adapters.safetensors").unlink(missing_ok=True)
            deleted.append(step)
    return deleted
