"""The memory estimate: arithmetic checks, the Llama-2-7B reference, verdicts and advice."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mlxstudio.core.config import RunConfig
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.memory import ModelShape, TrainSettings, estimate

LLAMA2_7B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "intermediate_size": 11008,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "torch_dtype": "float16",
    "quantization": {"group_size": 64, "bits": 4},
}


def test_llama2_7b_parameter_count():
    assert ModelShape.from_config(LLAMA2_7B).params() == pytest.approx(6.74e9, rel=0.005)


def test_llama2_7b_qlora_within_25_percent_of_mlx_lm_measurement():
    est = estimate(
        ModelShape.from_config(LLAMA2_7B),
        TrainSettings(rank=8, num_layers=16, batch_size=1, max_seq_length=512),
    )
    assert est.peak_gb == pytest.approx(8.7, rel=0.25)
    assert est.weights_gb == pytest.approx(3.79, rel=0.02)  # 4-bit + fp16 scale/bias per 64


def test_lora_parameter_count_matches_mlx_lm(tiny_model):
    import mlx_lm

    from mlxstudio.core.train.trainable import apply_fine_tune_type

    model, _ = mlx_lm.load(str(tiny_model))
    cfg = RunConfig(num_layers=2, lora_parameters={"rank": 4, "scale": 10.0})
    for method in ("lora", "dora", "full"):
        model, _ = mlx_lm.load(str(tiny_model))
        real = apply_fine_tune_type(model, replace(cfg, fine_tune_type=method))
        shape = ModelShape.from_folder(tiny_model)
        settings = TrainSettings(fine_tune_type=method, rank=4, num_layers=2)
        from mlxstudio.core.models.memory import trainable_params

        assert trainable_params(shape, settings) == real, method


def test_float32_compute_dequantizes():
    shape = ModelShape.from_config(LLAMA2_7B)
    q = estimate(shape, TrainSettings(batch_size=1, max_seq_length=512))
    f = estimate(shape, TrainSettings(batch_size=1, max_seq_length=512, compute_dtype="float32"))
    assert f.weights_gb == pytest.approx(6.74e9 * 4 / 1e9, rel=0.01)
    assert f.peak_gb > 2 * q.peak_gb


def test_settings_move_the_estimate_the_right_way():
    shape = ModelShape.from_config(LLAMA2_7B)
    base = TrainSettings(batch_size=4, max_seq_length=1024)
    peak = estimate(shape, base).peak_gb
    assert estimate(shape, replace(base, batch_size=8)).peak_gb > peak
    assert estimate(shape, replace(base, max_seq_length=2048)).peak_gb > peak
    assert estimate(shape, replace(base, grad_checkpoint=True)).peak_gb < peak
    assert estimate(shape, replace(base, num_layers=-1)).peak_gb > peak
    assert estimate(shape, replace(base, rank=64)).peak_gb > peak
    assert estimate(shape, replace(base, fine_tune_type="full")).peak_gb > peak


def test_verdict_and_advice():
    shape = ModelShape.from_config(LLAMA2_7B)
    s = TrainSettings(batch_size=4, max_seq_length=2048)
    peak = estimate(shape, s).peak_gb
    assert estimate(shape, s, available_gb=peak * 2).verdict == "fits"
    assert estimate(shape, s, available_gb=peak * 1.1).verdict == "tight"
    small = estimate(shape, s, available_gb=peak * 0.7)
    assert small.verdict == "will not fit"
    assert small.advice and any("checkpointing" in a or "batch" in a for a in small.advice)
    tiny = estimate(shape, s, available_gb=1.0)
    assert "too large" in tiny.advice[-1]
    combined = estimate(shape, TrainSettings(batch_size=16, max_seq_length=8192), 12.0).advice
    assert combined[0].startswith("together: gradient checkpointing on, batch size")


def test_from_run_config_resolves_auto_dtype():
    cfg = RunConfig(fine_tune_type="dora", batch_size=2, lora_parameters={"rank": 16})
    s = TrainSettings.from_run_config(cfg, compute_dtype="float32")
    assert (s.fine_tune_type, s.rank, s.batch_size, s.compute_dtype) == ("dora", 16, 2, "float32")
    cfg = replace(cfg, compute_dtype="model")
    assert TrainSettings.from_run_config(cfg).compute_dtype is None


def test_preference_and_grpo_rows_count_in_the_activations():
    """DPO's backward pass runs chosen and rejected together; GRPO's takes batch_size
    answers at a time (each its prompt plus up to max_new_tokens), whatever the group size,
    while its sampling holds the whole group's KV cache."""
    shape = ModelShape.from_config(SMOLLM2)
    sft = RunConfig(batch_size=2, max_seq_length=512)
    grpo = replace(sft, stage="grpo", group_size=6, max_new_tokens=16)
    dpo = replace(sft, stage="dpo")
    est = {
        name: estimate(shape, TrainSettings.from_run_config(c, "float32", 40))
        for name, c in (("sft", sft), ("dpo", dpo), ("grpo", grpo))
    }
    assert est["dpo"].activations_gb == pytest.approx(2 * est["sft"].activations_gb)
    # 40 tokens pad to 64 positions; 40 + 16 also to 64: rows of the same length
    assert est["grpo"].activations_gb == pytest.approx(est["sft"].activations_gb)
    longer = replace(grpo, max_new_tokens=64)  # rows of 40 + 64 tokens, as SFT's of 104
    settings = TrainSettings.from_run_config(longer, "float32", 40)
    sft_104 = estimate(shape, TrainSettings.from_run_config(sft, "float32", 104))
    assert estimate(shape, settings).activations_gb == pytest.approx(sft_104.activations_gb)
    # sampling: 2 prompts x 6 answers, 256 cached positions each (mlx-lm's cache step),
    # keys and values of 3 KV heads x 64 dims at 30 layers, float32
    assert est["grpo"].sampling_gb == pytest.approx(2 * 6 * 256 * 2 * 30 * 3 * 64 * 4 / 1e9)
    assert est["sft"].sampling_gb == est["dpo"].sampling_gb == 0
    bigger = estimate(
        shape, TrainSettings.from_run_config(replace(grpo, group_size=24), "float32", 40)
    )
    assert bigger.sampling_gb == pytest.approx(4 * est["grpo"].sampling_gb)
    assert bigger.peak_gb > est["grpo"].peak_gb  # the cache outgrew the backward pass


def test_config_without_shape_keys(tmp_path):

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(UserError, match="lacks 'hidden_size'"):
        ModelShape.from_folder(tmp_path)
    with pytest.raises(UserError, match="no config.json"):
        ModelShape.from_folder(tmp_path / "nope")


def test_cli_estimate(tiny_model, capsys):
    from mlxstudio.cli import main

    assert main(["models", "estimate", str(tiny_model), "--memory", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "Peak:" in out and "will not fit" in out and "to fit:" in out
    assert main(["models", "estimate", str(tiny_model), "--json", "--batch-size", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["peak_gb"] > 0 and data["verdict"] in ("fits", "tight", "will not fit")


def test_cli_estimate_from_a_grpo_config(tiny_model, tmp_path, capsys):
    from mlxstudio.cli import main

    config = tmp_path / "grpo.yaml"
    config.write_text(
        f"model: {tiny_model}\ndata: {tmp_path}\nstage: grpo\ngroup_size: 8\n"
        "max_new_tokens: 32\nbatch_size: 2\nmax_seq_length: 128\nnum_layers: -1\n"
    )
    assert main(["models", "estimate", "--config", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    shape = ModelShape.from_folder(tiny_model)
    kv = 2 * shape.layers * shape.kv_heads * shape.head_dim * 4  # float32 here
    assert data["sampling_gb"] == pytest.approx(2 * 8 * 256 * kv / 1e9)
    assert main(["models", "estimate", "--config", str(config)]) == 0
    assert "sampling" in capsys.readouterr().out
    assert main(["models", "estimate"]) != 0
    assert "name a model folder" in capsys.readouterr().err


SMOLLM2 = {
    "model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30,
    "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
    "vocab_size": 49152, "tie_word_embeddings": True,
    "quantization": {"group_size": 32, "bits": 4},
}  # fmt: skip
# Peaks `mlxstudio train` measured here (float32 on the CPU; benchmarks/bench_memory.py).
MEASURED = [
    (dict(rank=8, num_layers=16, batch_size=1, max_seq_length=512), 1.517),
    (dict(rank=8, num_layers=-1, batch_size=2, max_seq_length=256), 1.850),
    (dict(rank=16, num_layers=8, batch_size=1, max_seq_length=1024), 2.122),
    (dict(fine_tune_type="dora", num_layers=16, batch_size=2, max_seq_length=256), 1.619),
    (dict(fine_tune_type="full", num_layers=4, batch_size=1, max_seq_length=512), 1.243),
    (dict(num_layers=-1, batch_size=2, max_seq_length=256, grad_checkpoint=True), 1.056),
]


@pytest.mark.parametrize("settings,measured", MEASURED)
def test_smollm2_estimates_match_measured_peaks(settings, measured):
    s = TrainSettings(compute_dtype="float32", **settings)
    assert estimate(ModelShape.from_config(SMOLLM2), s).peak_gb == pytest.approx(measured, rel=0.25)


def test_grpo_demo_estimate_matches_its_measured_peak():
    """The GRPO demo (resources/configs/grpo_demo.yaml: batch 2 x 6 answers of up to 16
    tokens after prompts of at most 42) peaked at 1.194 GB in the window (2026-12-02); 0.992 GB
    once its log-probs read the answers only; 0.687 GB once its backward pass took two
    answers at a time (CLI, 4 steps, the same rewards; 2026-12-03). Its sampling's KV cache
    (0.14 GB) is then the larger part."""
    from mlxstudio.core import paths
    from mlxstudio.core.config import load_config

    cfg = load_config(paths.resources_dir() / "configs" / "grpo_demo.yaml")
    s = TrainSettings.from_run_config(cfg, "float32", longest_example=42)
    assert (s.rows_per_example, s.new_tokens, s.answers) == (1, 16, 6)
    est = estimate(ModelShape.from_config(SMOLLM2), s)
    assert est.sampling_gb > est.activations_gb + est.logits_gb
    assert est.peak_gb == pytest.approx(0.687, rel=0.15)
