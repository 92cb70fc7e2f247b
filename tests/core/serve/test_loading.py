"""What the window asks of a run before serving it: has it adapters, which base model."""

from __future__ import annotations

import json

from mlxstudio.core.serve.loading import has_adapters, run_base_model


def test_has_adapters(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert not has_adapters(None) and not has_adapters(run)
    (run / "adapters.safetensors").write_bytes(b"")
    assert not has_adapters(run)  # weights without their config cannot be loaded
    (run / "adapter_config.json").write_text("{}")
    assert has_adapters(run)


def test_run_base_model_prefers_the_run_record_then_the_adapter_config(tmp_path):
    model, other = tmp_path / "model", tmp_path / "other"
    model.mkdir()
    other.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    assert run_base_model(run) is None  # nothing recorded
    (run / "adapter_config.json").write_text(json.dumps({"model": str(other)}))
    assert run_base_model(run) == other
    (run / "run.json").write_text(json.dumps({"model": str(model)}))
    assert run_base_model(run) == model
    (run / "run.json").write_text(json.dumps({"model": str(tmp_path / "deleted")}))
    assert run_base_model(run) == other  # the recorded model is gone: the config's
