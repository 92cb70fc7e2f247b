"""report_to: TensorBoard event files and an offline W&B run, fed by the job's events."""

from __future__ import annotations

import sys

import pytest
from tb_events import read_scalars

from mlxstudio.core import runs
from mlxstudio.core.config import ConfigError, config_from_dict
from mlxstudio.core.errors import UserError
from mlxstudio.core.train.sft import run_sft


def quiet(message: str) -> None:
    pass


def test_tensorboard_gets_every_train_and_val_figure(make_config):
    pytest.importorskip("tensorboardX")
    result = run_sft(make_config(report_to="tensorboard", test=False), log=quiet)
    assert result.status == "completed"
    scalars = read_scalars(result.run_dir / "tensorboard")
    events = list(runs.read_events(result.run_dir))
    trains = [e for e in events if e["event"] == "train"]
    vals = [e for e in events if e["event"] == "val"]
    assert scalars["train/train_loss"] == [
        (e["step"], pytest.approx(e["train_loss"], rel=1e-6)) for e in trains
    ]
    assert scalars["val/val_loss"] == [
        (e["step"], pytest.approx(e["val_loss"], rel=1e-6)) for e in vals
    ]
    for tag in ("train/learning_rate", "train/tokens_per_second", "train/peak_memory_gb"):
        assert len(scalars[tag]) == len(trains), tag
    assert "train/step" not in scalars and "train/total_steps" not in scalars


def test_wandb_writes_an_offline_run_when_not_logged_in(make_config, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc: not logged in
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    cfg = make_config(report_to="wandb", project_name="tiny-project", iters=4, steps_per_eval=4)
    result = run_sft(cfg, log=quiet)
    assert result.status == "completed"
    offline = list((result.run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1, list((result.run_dir / "wandb").iterdir())
    (log,) = offline[0].glob("run-*.wandb")
    data = log.read_bytes()  # W&B's record log: the history keys appear as strings
    assert b"train/train_loss" in data and b"val/val_loss" in data and b"tiny-project" in data


def test_report_to_takes_a_comma_list_and_names_what_is_not_built_in():
    assert config_from_dict({"report_to": "tensorboard, wandb"}).report_to == "tensorboard, wandb"
    assert config_from_dict({"project_name": "p"}).project_name == "p"
    with pytest.raises(ConfigError, match="'swanlab', which is not built in: use tensorboard"):
        config_from_dict({"report_to": "tensorboard,swanlab"})


def test_a_missing_package_says_what_to_install(make_config, monkeypatch, studio_home):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if it were not installed
    with pytest.raises(UserError, match=r"needs tensorboardX.*mlxstudio\[tracking\]"):
        run_sft(make_config(report_to="tensorboard"), log=quiet)
    assert not list(studio_home.glob("runs/*"))  # said before any run folder was made


def test_the_evaluation_and_test_loss_become_tags():
    from mlxstudio.core.tracking import figures

    record = {"event": "eval", "time": 1.0, "elapsed_s": 2.0, "data": "test.jsonl"}
    record |= {"base": {"test_loss": 2.5, "exact_match": 0.0}, "tuned": {"test_loss": 1.5}}
    assert figures(record) == {
        "eval/base/test_loss": 2.5,
        "eval/base/exact_match": 0.0,
        "eval/tuned/test_loss": 1.5,
    }
    assert figures({"event": "test", "test_loss": 1.2, "test_ppl": 3.3}) == {
        "test/test_loss": 1.2,
        "test/test_ppl": 3.3,
    }
    assert figures({"event": "checkpoint", "step": 4, "val_loss": 1.0}) == {}
