"""A tiny trained run with a test split, shared by the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_run import make_tiny_run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A finished tiny SFT run whose data has a test split (evaluated as it ends)."""
    return make_tiny_run(tmp_path_factory.mktemp("eval-run"))
