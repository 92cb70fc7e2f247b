"""A run's curves without Qt (core/curves.py): the panels of each stage, the last write of
each step of a resumed run, and clear errors for what is not a run."""

from __future__ import annotations

import json

import pytest

from mlxstudio.core import paths
from mlxstudio.core.curves import KL, POLICY_LOSS, REWARD, image_panels, read_curves
from mlxstudio.core.curves_image import save_curves
from mlxstudio.core.errors import UserError


def write_run(name: str, events: list[dict], stage: str = "sft"):
    run = paths.runs_dir() / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": "completed", "stage": stage}))
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run


def test_a_resumed_run_keeps_the_last_write_of_each_step(studio_home):
    events = [{"event": "train", "step": s, "train_loss": 3.0 - s} for s in (1, 2, 3)]
    events += [{"event": "train", "step": s, "train_loss": 9.0 + s} for s in (2, 3, 4)]  # resumed
    events.append({"event": "val", "step": 4, "val_loss": 1.5, "kl": 0.2})
    curves = read_curves(write_run("resumed", events, stage="rl").name)  # by its name
    assert curves.stage == "rl"
    assert curves.series("train", "train_loss") == ([1, 2, 3, 4], [2.0, 11.0, 12.0, 13.0])
    assert curves.series("val", "kl") == ([4], [0.2])
    assert curves.series("train", "reward_mean") == ([], [])


def test_panels_follow_the_stages():
    titles = [p[0] for p in image_panels(["sft"])]
    assert titles == ["Loss", "Learning rate", "Throughput", "Peak memory"]
    rl = image_panels(["sft", "rl"])
    assert rl[0] == POLICY_LOSS and REWARD in rl and KL in rl and len(rl) == 6
    assert len(image_panels(["dpo"])) == 6  # margin and accuracy too


def test_what_cannot_be_plotted_says_why(studio_home, tmp_path):
    with pytest.raises(UserError, match="not a run folder"):
        read_curves(tmp_path)
    with pytest.raises(UserError, match="no such run"):
        read_curves("missing")
    empty = write_run("empty", [{"event": "start"}])
    with pytest.raises(UserError, match="no training step recorded yet"):
        read_curves(empty)
    run = write_run("ok", [{"event": "train", "step": 1, "train_loss": 1.0}])
    with pytest.raises(UserError, match=r"must end in \.png"):
        save_curves([run], tmp_path / "x.jpg")
    out = save_curves([run], tmp_path / "deep" / "x.svg")  # other formats, folders made
    assert out.read_text().startswith("<?xml")


def test_grpo_panels_show_the_held_out_reward_the_right_way_up():
    """GRPO's val_loss is its held-out reward's negative: the Reward panel plots the reward,
    the Loss panel leaves the negative out, and the words say reward, not loss."""
    from mlxstudio.core.curves import PANELS_BY_STAGE, val_words

    fields = {(t, k, f) for t, _, curves in PANELS_BY_STAGE["grpo"] for k, f, _, _ in curves}
    assert ("Reward", "val", "reward_mean") in fields
    assert not any(f == "val_loss" for _, _, f in fields)
    assert not any(k == "val" for t, k, _ in fields if t == "KL to reference")
    assert val_words("grpo", -0.438, -0.5) == "held-out reward 0.438 → 0.500"
    assert val_words("sft", 2.3, 1.2, arrow="->") == "validation loss 2.300 -> 1.200"
