"""The memory gauge: no verdict until the model and the data's token lengths are known, then
an estimate for the rows as mlx-lm pads them, with advice in the window's words."""

from __future__ import annotations

import json

import pytest

from mlxstudio.core.config import RunConfig
from mlxstudio.core.models.memory import ModelShape, TrainSettings, estimate
from mlxstudio.core.train.batches import padded_length

SMOL = {
    "model_type": "llama",
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "vocab_size": 49152,
    "max_position_embeddings": 8192,
    "tie_word_embeddings": True,
    "quantization": {"group_size": 32, "bits": 4, "model.embed_tokens": {"bits": 8}},
}  # fmt: skip  (the demo model's config.json, as install-demo writes it)


def _gauge(qtbot):
    from mlxstudio.gui.state import WizardState
    from mlxstudio.gui.widgets.memory_gauge import MemoryGauge

    state = WizardState()
    gauge = MemoryGauge(state)
    qtbot.addWidget(gauge)
    return state, gauge


def test_measuring_until_both_model_and_lengths_are_known(qtbot, installed_tiny, tmp_path):
    state, gauge = _gauge(qtbot)
    assert gauge.verdict == "measuring" and "choose a model" in gauge.headline.text()
    state.set_model(installed_tiny)
    assert gauge.verdict == "measuring" and gauge.estimate is None
    assert "choose a dataset to estimate memory" in gauge.headline.text()
    state.set_data(tmp_path)
    assert gauge.verdict == "measuring" and gauge.headline.text().endswith("measuring…")
    assert gauge.headline.property("level") == ""  # grey: no colour, no icon
    state.set_longest_example(40)
    assert gauge.verdict == "fits"
    assert "GB predicted peak" in gauge.headline.text()
    assert gauge.headline.property("level") == "ok"
    assert "40 tokens (your longest example)" in gauge.detail.text()
    # new data: lengths unknown again, so no verdict (stale lengths would be a lie)
    state.set_data(tmp_path / "other")
    assert gauge.verdict == "measuring"


def test_advice_names_the_window_controls(qtbot, installed_tiny, tmp_path):
    state, gauge = _gauge(qtbot)
    state.set_model(installed_tiny)
    state.set_data(tmp_path)
    state.update_config(batch_size=64)
    state.set_longest_example(4000)
    gauge.memory_gb = gauge.estimate.peak_gb / 2  # as if on a machine half as big
    gauge.refresh()
    assert gauge.verdict == "will not fit"
    assert gauge.headline.property("level") == "error"
    text = gauge.detail.text()
    assert "To fit:" in text
    assert "Batch size" in text or "Gradient checkpointing" in text or "Layers" in text
    for key in ("batch_size", "max_seq_length", "grad_checkpoint", "num_layers", "--"):
        assert key not in text


def test_demo_model_estimate_before_and_after_lengths():
    """The 135M demo at the default settings: ~30 GB if every row filled Max tokens (what
    the gauge used to show before lengths were known), about 1 GB for real short data."""
    shape = ModelShape.from_config(SMOL)
    cfg = RunConfig(iters=200, steps_per_eval=50, steps_per_report=10)
    worst = estimate(shape, TrainSettings.from_run_config(cfg, compute_dtype="float32"), 25.3)
    assert worst.peak_gb > 25 and worst.verdict == "will not fit"
    rows = padded_length(100, cfg.max_seq_length)
    assert rows == 129  # mlx-lm pads the batch to one plus a multiple of 32
    s = TrainSettings.from_run_config(cfg, compute_dtype="float32")
    real = estimate(shape, TrainSettings(**{**s.__dict__, "max_seq_length": rows}), 25.3)
    assert real.peak_gb < 1.5 and real.verdict == "fits"
    assert padded_length(5000, 2048) == 2048


def test_gauge_on_model_and_lora_pages_agree(window, installed_tiny, tmp_path):
    window.state.set_data(tmp_path)
    window.state.set_longest_example(50)
    window.model_page.refresh()
    assert window.state.model_path == installed_tiny  # the only model, preselected
    model_gauge, lora_gauge = window.model_page.gauge, window.lora_page.gauge
    assert model_gauge.verdict == lora_gauge.verdict == "fits"
    before = lora_gauge.estimate.peak_gb
    window.lora_page.w["batch_size"].setValue(32)
    assert lora_gauge.estimate.peak_gb > before
    assert model_gauge.headline.text() == lora_gauge.headline.text()
    json.dumps(SMOL)  # the fixture config stays plain JSON


def test_grpo_counts_the_sampled_answers_memory(qtbot, installed_tiny, tmp_path):
    """GRPO samples a whole group, then learns batch_size answers at a time: the gauge's
    peak is the larger of the two, and its detail names the sampling's share."""
    state, gauge = _gauge(qtbot)
    state.set_model(installed_tiny)
    state.set_data(tmp_path)
    state.update_config(stage="grpo", group_size=8, max_new_tokens=16, batch_size=2)
    state.set_longest_example(40)
    est = gauge.estimate
    assert est.sampling_gb > 0 and gauge.verdict == "fits"
    assert "× 8 answers" in gauge.detail.text()
    assert f"while sampling, the answers' memory {est.sampling_gb:.2f} GB" in gauge.detail.text()
    state.update_config(group_size=16)  # twice the answers: twice the cache
    assert gauge.estimate.sampling_gb == pytest.approx(2 * est.sampling_gb)
    assert gauge.estimate.activations_gb == pytest.approx(est.activations_gb)
