"""RunConfig: mlx-lm's lora_config.yaml keys accepted as-is; bad input named precisely."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlxstudio.core.config import ConfigError, RunConfig, dump_config, load_config

# mlx-lm's own example lora_config.yaml (trimmed of comments), plus Second-Me's LoRA settings.
MLX_LM_EXAMPLE = """\
model: "mlx_model"
train: true
fine_tune_type: lora
optimizer: adamw
data: "/path/to/training/data"
seed: 0
num_layers: 16
batch_size: 4
iters: 1000
val_batches: 25
learning_rate: 1e-5
steps_per_report: 10
steps_per_eval: 200
resume_adapter_file: null
adapter_path: "adapters"
save_every: 100
test: false
test_batches: 100
max_seq_length: 2048
grad_checkpoint: false
grad_accumulation_steps: 1
mask_prompt: false
lr_schedule:
  name: cosine_decay
  warmup: 100
  warmup_init: 1e-7
  arguments: [1e-5, 1000, 1e-7]
lora_parameters:
  keys: ["self_attn.q_proj", "self_attn.v_proj"]
  rank: 32
  alpha: 64
  dropout: 0.1
  scale: 10.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_mlx_lm_example_loads_unchanged(tmp_path):
    cfg = load_config(write(tmp_path, MLX_LM_EXAMPLE))
    assert cfg.learning_rate == pytest.approx(1e-5)  # YAML 1.1 would read "1e-5" as text
    assert cfg.optimizer == "adamw"
    assert cfg.lora_parameters["rank"] == 32
    assert cfg.lr_schedule["arguments"] == [1e-5, 1000, 1e-7]


def test_round_trip(tmp_path):
    cfg = load_config(write(tmp_path, MLX_LM_EXAMPLE))
    out = tmp_path / "again.yaml"
    dump_config(cfg, out)
    assert load_config(out) == cfg


def test_unknown_key_names_it_line_and_nearest(tmp_path):
    path = write(tmp_path, "model: m\nbatch_size: 2\nlerning_rate: 0.001\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert f"{path}:3" in msg and "'lerning_rate'" in msg and "'learning_rate'" in msg


def test_unknown_lora_key(tmp_path):
    with pytest.raises(ConfigError, match="'rnak' in 'lora_parameters'.*'rank'"):
        load_config(write(tmp_path, "lora_parameters:\n  rnak: 8\n"))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("batch_size: four\n", "'batch_size' must be an integer, got 'four'"),
        ("learning_rate: fast\n", "'learning_rate' must be a number"),
        ("train: 1\n", "'train' must be true or false"),
        ("fine_tune_type: qlora\n", "'fine_tune_type' must be one of lora, dora, full"),
        ("iters: 0\n", "'iters' must be at least 1"),
        ("lora_parameters:\n  rank: eight\n", "'lora_parameters.rank' must be an integer"),
        ("learning_rate: 0\n", "'learning_rate' must be above 0, got 0"),
        ("keep_last_checkpoints: -1\n", "'keep_last_checkpoints' must not be negative"),
        ("lora_parameters:\n  dropout: 1.0\n", "'lora_parameters.dropout' must be below 1"),
        ("memory_guard: 1.5\n", "'memory_guard' must be at most 1, got 1.5"),
        ("grad_clip: 0\n", "'grad_clip' must be above 0"),
    ],
)
def test_wrong_types_are_named(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        load_config(write(tmp_path, text))


def test_integer_learning_rate_is_a_float(tmp_path):
    assert load_config(write(tmp_path, "learning_rate: 1\n")).learning_rate == 1.0


@pytest.mark.parametrize(
    "text, fragment",
    [("", "empty"), ("model: [unclosed\n", "invalid YAML"), ("- a\n- b\n", "mapping")],
)
def test_bad_files(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_defaults_match_mlx_lm():
    from mlx_lm.lora import CONFIG_DEFAULTS

    ours = RunConfig()
    for key, value in CONFIG_DEFAULTS.items():
        if key in ("model", "train", "data", "adapter_path", "config", "optimizer_config"):
            continue  # ours: no hub default model/data; runs/<name>; training is the point
        assert getattr(ours, key) == value, key


# -- every key honoured or refused (issue 15, item 9) -------------------------------------


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("trust_remote_code: true\n", "runs no code shipped with a model"),
        ("hf_dataset:\n  path: billsum\n", "set 'data:' to that folder"),
        ("config: other.yaml\n", "cannot name another config"),
    ],
)
def test_keys_we_cannot_honour_are_refused_with_the_reason(tmp_path, text, fragment):
    path = write(tmp_path, "model: m\n" + text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    key = text.split(":")[0]
    assert f"{path}:2: '{key}' is not supported" in msg and fragment in msg
    assert "remove the key" in msg or "set 'data:'" in msg  # what to do


def test_refused_keys_at_their_defaults_load(tmp_path):
    text = "report_to: null\nproject_name: null\ntrust_remote_code: false\nhf_dataset: null\n"
    text += "config: null\n"
    cfg = load_config(write(tmp_path, text))
    assert cfg.report_to is None and cfg.trust_remote_code is False


def test_a_hub_dataset_name_in_data_is_refused_where_data_is_opened(tmp_path, monkeypatch):
    from mlxstudio.core.errors import UserError
    from mlxstudio.core.rl.data import data_files
    from mlxstudio.core.train.data_check import check_data_folder

    monkeypatch.chdir(tmp_path)
    # a relative folder may exist only where the run starts: reading the config never asks
    assert load_config(write(tmp_path, "data: mlx-community/wikisql\n")).data
    for open_data in (check_data_folder, data_files):
        with pytest.raises(UserError) as err:
            open_data("mlx-community/wikisql")
        msg = str(err.value)
        assert "'data' is 'mlx-community/wikisql': no such folder here" in msg, open_data
        assert "save them as train.jsonl and valid.jsonl in a folder" in msg
    (tmp_path / "mlx-community" / "wikisql").mkdir(parents=True)  # a local folder so named
    with pytest.raises(UserError, match="no train.jsonl"):
        check_data_folder("mlx-community/wikisql")
    with pytest.raises(UserError, match="data not found"):  # a file name is no hub name
        data_files("corpus/train.jsonl")


def test_clear_cache_threshold_is_for_the_token_stages(tmp_path):
    cfg = load_config(write(tmp_path, "clear_cache_threshold: 2e9\n"))
    assert cfg.clear_cache_threshold == 2e9
    assert load_config(write(tmp_path, "stage: pretrain\nclear_cache_threshold: 1\n"))
    path = write(tmp_path, "stage: dpo\nclear_cache_threshold: 1000\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert f"{path}:2: 'clear_cache_threshold' is honoured only by stages sft, pretrain" in msg
    assert "not 'dpo'; remove the key" in msg
    assert load_config(write(tmp_path, "stage: dpo\nclear_cache_threshold: 0\n")).stage == "dpo"


# -- one source of truth: the field metadata ----------------------------------------------


def test_every_key_is_described_and_its_default_is_valid():
    from mlxstudio.core.config import settings
    from mlxstudio.core.settings import check_value

    described = settings()
    assert list(described) == [f.name for f in dataclasses.fields(RunConfig)]
    for name, spec in described.items():
        assert spec.help.strip(), name
        if spec.default is not None and spec.default != "":
            check_value("defaults", name, spec.default, spec)  # raises if a limit is wrong
        for sub, sub_spec in (spec.keys or {}).items():
            assert sub_spec.help.strip(), f"{name}.{sub}"


def test_types_come_from_the_annotations():
    from mlxstudio.core.config import settings

    described = settings()
    assert described["grad_clip"].kinds == (float, int) and described["grad_clip"].optional
    assert described["batch_size"].kinds == (int,) and not described["batch_size"].optional
    assert described["hf_dataset"].kinds == (dict, list)
    assert described["lora_parameters"].keys["rank"].min == 1
    assert described["stage"].choices == ("sft", "rl", "grpo", "dpo", "reward", "pretrain")


def test_readme_config_table_is_current():
    from mlxstudio.core.config_table import README, markdown_table, with_table

    text = README.read_text(encoding="utf-8")
    assert "| `lora_parameters.rank` | an integer | `8` | at least 1 |" in markdown_table()
    assert with_table(text) == text, "run: python -m mlxstudio.core.config_table"
