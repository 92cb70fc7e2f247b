"""LoRA SFT on the tiny model: the run directory, its events, and mlx-lm compatibility."""

from __future__ import annotations

import json

import pytest

from mlxstudio.core import runs
from mlxstudio.core.config import load_config
from mlxstudio.core.errors import UserError
from mlxstudio.core.train.sft import run_sft


def test_run_directory_and_events(tiny_model, chat_data, studio_home, make_config):
    seen = []
    result = run_sft(make_config(), on_event=seen.append, log=lambda m: None)
    run = result.run_dir
    assert result.status == "completed"
    assert run == studio_home / "runs" / "tiny"
    for name in (
        "config.yaml",
        "run.json",
        "metrics.jsonl",
        "adapters.safetensors",
        "adapter_config.json",
        "0000006_adapters.safetensors",
        "0000012_adapters.safetensors",
    ):
        assert (run / name).is_file(), name
    events = list(runs.read_events(run))
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "finished"
    assert seen == events  # live events and the file agree
    train = [e for e in events if e["event"] == "train"]
    assert [e["step"] for e in train] == [2, 4, 6, 8, 10, 12]
    for key in (
        "train_loss",
        "learning_rate",
        "tokens_per_second",
        "trained_tokens",
        "peak_memory_gb",
        "elapsed_s",
    ):
        assert all(isinstance(e[key], (int, float)) for e in train), key
    val = [e for e in events if e["event"] == "val"]
    # before training, then after every steps_per_eval steps and at the end
    assert [e["step"] for e in val] == [0, 6, 12]
    assert val[-1]["val_loss"] < val[0]["val_loss"]  # it learned
    assert runs.read_meta(run)["status"] == "completed"
    assert load_config(run / "config.yaml").model == str(tiny_model.resolve())
    adapter_cfg = json.loads((run / "adapter_config.json").read_text())
    assert adapter_cfg["fine_tune_type"] == "lora" and adapter_cfg["num_layers"] == 2


def test_adapters_load_in_mlx_lm(tiny_model, chat_data, make_config):
    from mlx_lm import generate, load

    result = run_sft(make_config(iters=2, steps_per_eval=100), log=lambda m: None)
    model, tokenizer = load(str(tiny_model), adapter_path=str(result.run_dir))
    assert isinstance(generate(model, tokenizer, "What is", max_tokens=3), str)


def test_name_taken_gets_suffix(tiny_model, chat_data, make_config):
    cfg = make_config(iters=1, steps_per_eval=100)
    first = run_sft(cfg, log=lambda m: None).run_dir
    second = run_sft(cfg, log=lambda m: None).run_dir
    assert second.name == "tiny-2" and first != second


def test_bad_data_line_is_named(tiny_model, chat_data, make_config):
    with (chat_data / "train.jsonl").open("a") as fh:
        fh.write('{"messages": [oops]}\n')
    with pytest.raises(UserError, match=r"train.jsonl:17: invalid JSON"):
        run_sft(make_config(), log=lambda m: None)


def test_record_without_known_fields(tiny_model, chat_data, make_config):
    (chat_data / "train.jsonl").write_text('{"question": "a", "answer": "b"}\n')
    with pytest.raises(UserError, match=r"train.jsonl:1: no 'messages'.*found: question"):
        run_sft(make_config(), log=lambda m: None)


def test_missing_model_and_data(tiny_model, chat_data, tmp_path, make_config):
    with pytest.raises(UserError, match="model 'nope' not found"):
        run_sft(make_config(model="nope"), log=lambda m: None)
    with pytest.raises(UserError, match="no such dataset folder"):
        run_sft(make_config(data=str(tmp_path / "none")), log=lambda m: None)
