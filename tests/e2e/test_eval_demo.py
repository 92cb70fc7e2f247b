"""The demo run, evaluated: the pirate fine-tune lowers the test loss well below the base
model's and its answers come closer to the test answers (token F1)."""

from __future__ import annotations

import json

import pytest
from test_demo_pipeline import cli

pytestmark = pytest.mark.e2e


def test_demo_run_beats_its_base_on_the_test_split(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e-eval")
    cli(home, "models", "install-demo")
    cli(home, "demo")
    (run_dir,) = sorted((home / "runs").iterdir())
    ended = json.loads((run_dir / "run.json").read_text())["eval"]  # made as the run ended
    assert ended["tuned"]["test_loss"] < ended["base"]["test_loss"]

    report = json.loads(cli(home, "eval", str(run_dir), "--json").stdout)
    base, tuned = report["base"], report["tuned"]
    print(json.dumps({"base": base, "tuned": tuned}, indent=1))  # the figures, for the notes
    assert set(base) == set(tuned)
    assert tuned["examples"] == base["examples"] == 8
    assert tuned["test_loss"] < 0.6 * base["test_loss"]
    assert tuned["token_f1"] > base["token_f1"]
