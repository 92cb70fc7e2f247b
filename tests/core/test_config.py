"""RunConfig: mlx-lm's lora_config.yaml keys accepted as-is; bad input named precisely."""

from __future__ import annotations

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
hf_dataset:
  path: "billsum"
  prompt_feature: "text"
  completion_feature: "summary"
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
    assert cfg.hf_dataset["path"] == "billsum"


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
