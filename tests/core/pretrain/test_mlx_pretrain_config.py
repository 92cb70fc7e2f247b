"""MLX-Pretrain's YAML configs: detected, checked like ours (file:line, did you mean), and
mapped onto a RunConfig plus a run folder holding the converted data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mlxstudio.core.config import ConfigError, load_config
from mlxstudio.core.errors import UserError
from mlxstudio.core.mlx_pretrain.configs import load_run_config, resolve_pretrained
from mlxstudio.core.mlx_pretrain.schema import is_mlx_pretrain


def quiet(message: str) -> None:
    pass


def edited(source: Path, tmp_path: Path, old: str, new: str) -> Path:
    """A copy of a shipped config (beside it, so its relative paths hold) with one edit."""
    text = source.read_text()
    assert old in text, old
    out = tmp_path / source.name
    out.write_text(text.replace(old, new, 1))
    # relative paths in the shipped files are relative to their folder
    out.write_text(out.read_text().replace('"../../', f'"{source.parent}/../../'))
    return out


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_detection(mlx_pretrain_dir, tmp_path):
    for name in ("sft-config.yaml", "model-config.yaml"):
        assert is_mlx_pretrain(yaml.safe_load((mlx_pretrain_dir / name).read_text()))
    flat = {"model": "m", "data": "d", "lora_parameters": {"rank": 8}}
    assert not is_mlx_pretrain(flat)
    path = tmp_path / "lora.yaml"
    path.write_text(yaml.safe_dump({**flat, "iters": 7}))
    assert load_run_config(path) == load_config(path)  # mlx-lm files: unchanged


def test_sft_config_maps_onto_a_run(mlx_pretrain_dir, tiny_model, studio_home):
    cfg = load_run_config(
        mlx_pretrain_dir / "sft-config.yaml", pretrained_model=str(tiny_model), log=quiet
    )
    run_dir = studio_home / "runs" / "Llama-Tiny-SFT"
    assert cfg.adapter_path == str(run_dir) and cfg.name == "Llama-Tiny-SFT"
    assert (cfg.stage, cfg.model) == ("sft", str(tiny_model.resolve()))
    assert (cfg.fine_tune_type, cfg.num_layers) == ("full", -1)  # sft.py trains every weight
    assert cfg.max_seq_length == 256 and cfg.batch_size == 4
    assert cfg.learning_rate == pytest.approx(1e-3) and cfg.grad_clip == 1.0
    assert cfg.optimizer == "adamw" and cfg.optimizer_config == {"adamw": {"weight_decay": 0.01}}
    assert cfg.iters == 18  # 3 epochs x (24 examples // batch 4)
    assert cfg.lr_schedule == {
        "name": "cosine_decay",
        "arguments": [1e-3, 16, pytest.approx(1e-4)],
        "warmup": 2,  # 10% of 18 steps
        "warmup_init": 0.0,
    }
    assert (cfg.steps_per_report, cfg.save_every, cfg.steps_per_eval) == (2, 6, 6)
    assert cfg.seed == 42 and cfg.keep_last_checkpoints == 0
    data = Path(cfg.data)
    assert data == run_dir / "dataset"
    train = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    assert len(train) == 24 and len((data / "valid.jsonl").read_text().splitlines()) == 8
    assert train[0]["text"] == (  # joined exactly as sft.py joins them
        "You are a helpful, harmless, and honest AI assistant.\n### Instruction:\n"
        "What is the capital of France?\n\n### Response:The capital of France is Paris."
    )
    assert (run_dir / "mlx_pretrain_config.yaml").read_text() == (
        mlx_pretrain_dir / "sft-config.yaml"
    ).read_text()
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert meta["training_info"] == {"steps_per_epoch": 6, "total_steps": 18, "epochs": 3}
    assert meta["sft_specific"]["prompt_format"].startswith("### Instruction:")


def test_model_config_maps_onto_a_pretraining_run(mlx_pretrain_dir, studio_home, corpus):
    cfg = load_run_config(mlx_pretrain_dir / "model-config.yaml", log=quiet)
    run_dir = studio_home / "runs" / "Llama-Tiny"
    assert cfg.stage == "pretrain" and cfg.data == str(corpus.resolve())
    assert cfg.dimensions == {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_layers": 2,
        "num_attention_heads": 4,
        "num_kv_heads": 2,
        "rms_norm_eps": pytest.approx(1e-5),
        "rope_theta": 10000,
        "rope_traditional": False,
        "tie_word_embeddings": True,
        "attention_bias": False,
        "mlp_bias": False,
    }
    assert cfg.vocab_size == 259  # normal_vocab_size 256 (bytes) + 3 special tokens
    windows = json.loads((run_dir / "dataset" / "corpus.json").read_text())["train_windows"]
    assert cfg.iters == 4 * (windows // 4)  # epochs x steps per epoch
    assert cfg.lr_schedule == {
        "name": "cosine_decay",
        "arguments": [1e-3, cfg.iters, pytest.approx(1e-4)],
    }
    assert (run_dir / "tokenizer.json").is_file()  # prepared before the job starts


@pytest.mark.parametrize(
    "old, new, needle, message",
    [
        (
            "learning_rate: 1.0e-3",
            "lerning_rate: 1.0e-3",
            "lerning_rate",
            "did you mean 'learning_rate'",
        ),
        ("batch_size: 4", 'batch_size: "four"', "batch_size", "must be an integer"),
        ("validation_interval: 6", "validaton_interval: 6", "validaton", "in 'logging.steps'"),
        (
            '  input_field: "instruction"',
            '  weight_path: "w.safetensors"',
            "weight_path",
            "--pretrained_model",
        ),
        ('type: "cosine_with_warmup"', 'type: "step"', "type:", "one of cosine"),
        ("seed: 42", "seed: 42\n  dvice: cpu", "dvice", "did you mean 'device'"),
        ('input_file: "../../', 'input_file: "nowhere/', "input_file", "no such file"),
    ],
)
def test_mistakes_are_named_with_their_line(
    mlx_pretrain_dir, tiny_model, tmp_path, old, new, needle, message
):
    path = edited(mlx_pretrain_dir / "sft-config.yaml", tmp_path, old, new)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_run_config(path, pretrained_model=str(tiny_model), log=quiet)
    assert str(err.value).startswith(f"{path}:{line_of(path, needle)}:")


def test_sft_needs_a_pretrained_model(mlx_pretrain_dir):
    with pytest.raises(ConfigError, match="--pretrained_model"):
        load_run_config(mlx_pretrain_dir / "sft-config.yaml", log=quiet)


def test_overwrite_false_keeps_an_earlier_run(mlx_pretrain_dir, tiny_model, tmp_path):
    path = edited(
        mlx_pretrain_dir / "sft-config.yaml", tmp_path, "overwrite: true", "overwrite: false"
    )
    first = load_run_config(path, pretrained_model=str(tiny_model), log=quiet)
    (Path(first.adapter_path) / "run.json").write_text("{}")  # the job started
    with pytest.raises(ConfigError, match="overwrite: true"):
        load_run_config(path, pretrained_model=str(tiny_model), log=quiet)
    renamed = load_run_config(path, pretrained_model=str(tiny_model), name="other", log=quiet)
    assert Path(renamed.adapter_path).name == "other"


def test_epochs_or_iters_and_validation_off(mlx_pretrain_dir, tiny_model, tmp_path):
    path = edited(mlx_pretrain_dir / "sft-config.yaml", tmp_path, "epochs: 3", "# no epochs")
    text = path.read_text().replace("batch_size: 4", "batch_size: 4\n    iters: 5")
    path.write_text(text.replace("validation_interval: 6", "validation_interval: 0"))
    cfg = load_run_config(path, pretrained_model=str(tiny_model), log=quiet)
    assert cfg.iters == 5 and cfg.steps_per_eval == 5  # 0: no interval, only start and end


def test_rl_configs_are_not_mistaken_for_sft(mlx_pretrain_dir, tiny_model, tmp_path):
    path = edited(
        mlx_pretrain_dir / "sft-config.yaml",
        tmp_path,
        "  input_field:",
        "  kl_coef: 0.1\n  input_field:",
    )
    # rl.py's keys make it an RL config, whose records need a reward: SFT data has none
    with pytest.raises(
        UserError, match=r"sft-config.yaml:\d+: no usable records.*first problem: .*MLX-Pretrain RL"
    ):
        load_run_config(path, pretrained_model=str(tiny_model), log=quiet)


def test_pretrained_model_forms(tiny_model, studio_home, tmp_path):
    runs_dir = studio_home / "runs"
    (runs_dir / "base").mkdir(parents=True)
    for f in tiny_model.iterdir():
        (runs_dir / "base" / f.name).write_bytes(f.read_bytes())
    expected = (runs_dir / "base").resolve()
    assert resolve_pretrained(str(runs_dir / "base")) == expected  # a path
    assert resolve_pretrained("base") == expected  # a run name
    assert resolve_pretrained("runs/base") == expected  # as MLX-Pretrain users write it
    (runs_dir / "base" / "model.safetensors").unlink()
    with pytest.raises(UserError, match="no weights yet"):
        resolve_pretrained("base")
    adapter = tmp_path / "lora-run"
    adapter.mkdir()
    (adapter / "adapters.safetensors").write_bytes(b"")
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match="mlxstudio fuse"):
        resolve_pretrained(str(adapter))
    with pytest.raises(UserError, match="not found"):
        resolve_pretrained("nothing-here")


def test_flat_config_takes_pretrained_model(tiny_model, tmp_path):
    path = tmp_path / "lora.yaml"
    path.write_text("model: somewhere\ndata: d\n")
    assert load_run_config(path, pretrained_model=str(tiny_model)).model == str(
        tiny_model.resolve()
    )
    path.write_text("stage: pretrain\ndata: d\n")
    with pytest.raises(ConfigError, match="builds a new model"):
        load_run_config(path, pretrained_model=str(tiny_model))


def test_a_run_never_replaces_its_own_base(mlx_pretrain_dir, tiny_model, studio_home):
    base = studio_home / "runs" / "base"
    base.mkdir(parents=True)
    for f in tiny_model.iterdir():
        (base / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ConfigError, match="pretrained model's run"):
        load_run_config(
            mlx_pretrain_dir / "sft-config.yaml", pretrained_model="base", name="base", log=quiet
        )
    assert (base / "model.safetensors").is_file()
