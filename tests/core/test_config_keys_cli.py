"""`mlxstudio config keys` and `train --help` describe the config from its field metadata;
a refused key stops `mlxstudio train` with one line that says why."""

from __future__ import annotations

import pytest

from mlxstudio.cli import main
from mlxstudio.core.config import settings


def test_config_keys_lists_every_key_from_the_metadata(capsys):
    assert main(["config", "keys"]) == 0
    out = capsys.readouterr().out
    for name in settings():
        assert f"\n{name}  (" in f"\n{out}", name
    assert "lora_parameters.dropout  (a number; default 0; not negative; below 1)" in out
    assert "trust_remote_code  (true or false; default false; refused unless false)" in out


def test_config_keys_for_some_keys(capsys):
    assert main(["config", "keys", "batch_size", "lora_parameters"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("batch_size  (an integer; default 4; at least 1)\n")
    assert settings()["batch_size"].help in out.replace("\n    ", " ")
    assert "lora_parameters.rank" in out and "learning_rate" not in out


def test_config_keys_unknown_key_suggests_the_nearest(capsys):
    assert main(["config", "keys", "lerning_rate"]) == 2
    assert "no config key 'lerning_rate' (did you mean 'learning_rate'?)" in capsys.readouterr().err


def test_train_help_points_at_the_keys(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "mlxstudio config keys" in capsys.readouterr().out


def test_train_refuses_a_refused_key_before_any_work(tmp_path, capsys, studio_home):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: m\ndata: d\ntrust_remote_code: true\n")
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}:3: 'trust_remote_code' is not supported" in err and "remove the key" in err
    assert not list(studio_home.glob("runs/*"))


def test_train_refuses_a_hub_dataset_name_before_any_work(
    tiny_model, tmp_path, capsys, studio_home
):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tiny_model}\ndata: mlx-community/wikisql\n")
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "'data' is 'mlx-community/wikisql': no such folder here" in err
    assert "Hugging Face datasets are not downloaded" in err
    assert not list(studio_home.glob("runs/*"))
