"""`mlxstudio doctor` notices the CPU library in place of the CUDA one (mlx-cpu and
mlx-cuda-13 ship the same file), checked against the CUDA package's own RECORD."""

from __future__ import annotations

import base64
import hashlib

from mlxstudio.core.mlx_install import LIBRARY, library_problem


def install(site, name: str, version: str, library: bytes) -> None:
    """A package installed as pip leaves it: its files and a dist-info with their hashes."""
    (site / "mlx" / "lib").mkdir(parents=True, exist_ok=True)
    (site / LIBRARY).write_bytes(library)
    digest = base64.urlsafe_b64encode(hashlib.sha256(library).digest()).rstrip(b"=").decode()
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = f"{LIBRARY},sha256={digest},{len(library)}\n{info.name}/RECORD,,\n"
    (info / "RECORD").write_text(record)


def test_the_cpu_library_over_the_cuda_one_is_named_with_the_fix(tmp_path):
    assert library_problem([str(tmp_path)]) is None  # no CUDA package: nothing to check
    install(tmp_path, "mlx-cuda-13", "0.32.4", b"the CUDA build")
    assert library_problem([str(tmp_path)]) is None
    install(tmp_path, "mlx-cpu", "0.32.4", b"the CPU build")  # installed last: it wins
    problem = library_problem([str(tmp_path)])
    assert "mlx-cuda-13 0.32.4 is installed" in problem
    assert 'pip install --force-reinstall --no-deps "mlx-cuda-13==0.32.4"' in problem


def test_this_machine_has_no_cuda_package(capsys):
    from mlxstudio.cli import main

    assert library_problem() is None
    assert main(["doctor"]) == 0
    assert "backend: cpu" in capsys.readouterr().out
