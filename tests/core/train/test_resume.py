"""Stop, pause, resume, checkpoints, and failure handling, in-process on the tiny model."""

from __future__ import annotations

import threading

import pytest

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.train import checkpoint as ckpt
from mlxstudio.core.train.control import Control
from mlxstudio.core.train.sft import run_sft


def quiet(message: str) -> None:
    pass


def train_losses(run_dir, after: int = -1) -> dict[int, float]:
    """step -> loss; a step trained twice (before and after a resume) keeps the last."""
    return {
        e["step"]: e["train_loss"]
        for e in runs.read_events(run_dir)
        if e["event"] == "train" and e["step"] > after
    }


def stop_at(control: Control, step: int):
    def sink(event: dict) -> None:
        if event["event"] == "train" and event["step"] >= step:
            control.stop()

    return sink


def test_stop_then_resume_continues_the_curve(make_config):
    settings = dict(
        iters=12, save_every=4, lora_parameters={"rank": 4, "scale": 10.0, "dropout": 0.1}
    )
    reference = run_sft(make_config(name="ref", **settings), log=quiet)
    control = Control()
    first = run_sft(
        make_config(name="cut", **settings),
        on_event=stop_at(control, 6),
        control=control,
        log=quiet,
    )
    assert first.status == "stopped" and first.step == 6 and first.exit_code == 130
    assert [s for s, _ in ckpt.list_checkpoints(first.run_dir)] == [4, 6]
    events = list(runs.read_events(first.run_dir))
    assert [e["event"] for e in events][-2:] == ["stopped", "finished"]

    second = run_sft(None, resume_dir=first.run_dir, log=quiet)
    assert second.status == "completed" and second.step == 12
    starts = [e for e in runs.read_events(first.run_dir) if e["event"] == "start"]
    assert starts[-1]["resumed_from_step"] == 6
    expected, got = train_losses(reference.run_dir), train_losses(first.run_dir)
    assert sorted(got) == sorted(expected) == [2, 4, 6, 8, 10, 12]
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step
    assert runs.read_meta(first.run_dir)["status"] == "completed"


def test_resume_mid_accumulation_matches(make_config):
    settings = dict(iters=9, save_every=3, steps_per_report=1, grad_accumulation_steps=2)
    reference = run_sft(make_config(name="ref", **settings), log=quiet)
    control = Control()
    cut = run_sft(
        make_config(name="cut", **settings),
        on_event=stop_at(control, 5),
        control=control,
        log=quiet,
    )
    assert cut.step == 5  # an odd step: gradients half accumulated are saved too
    run_sft(None, resume_dir=cut.run_dir, log=quiet)
    expected, got = train_losses(reference.run_dir), train_losses(cut.run_dir)
    for step in range(6, 10):
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step


def test_corrupted_last_checkpoint_falls_back(make_config):
    control = Control()
    cut = run_sft(
        make_config(iters=12, save_every=4),
        on_event=stop_at(control, 10),
        control=control,
        log=quiet,
    )
    steps = [s for s, _ in ckpt.list_checkpoints(cut.run_dir)]
    assert steps[-1] == 10
    broken = cut.run_dir / "checkpoints" / "0000010" / "optimizer.safetensors"
    broken.write_bytes(broken.read_bytes()[:100])  # a torn write
    seen: list[dict] = []
    result = run_sft(None, resume_dir=cut.run_dir, on_event=seen.append, log=quiet)
    assert result.status == "completed"
    warnings = [e["message"] for e in seen if e["event"] == "warning"]
    assert any("0000010" in w and "corrupted" in w for w in warnings)
    start = next(e for e in seen if e["event"] == "start")
    assert start["resumed_from_step"] == 8


def test_keep_last_k_and_best(make_config):
    result = run_sft(
        make_config(iters=12, save_every=2, steps_per_eval=2, keep_last_checkpoints=2), log=quiet
    )
    saved = [e for e in runs.read_events(result.run_dir) if e["event"] == "checkpoint"]
    best = min(saved, key=lambda e: e["val_loss"])
    kept = {s for s, _ in ckpt.list_checkpoints(result.run_dir)}
    assert kept == {10, 12, best["step"]}
    assert runs.read_meta(result.run_dir)["best_checkpoint"] == best["step"] == result.best_step
    links = {int(p.name[:7]) for p in result.run_dir.glob("*_adapters.safetensors")}
    assert links == kept
    state = ckpt.load_checkpoint(result.run_dir / "checkpoints" / "0000012")
    assert state.state["position"]["epoch"] >= 1  # 16 examples / batch 4: 4 batches an epoch


def test_continue_from_an_adapter(make_config):
    first = run_sft(make_config(name="a", iters=6, steps_per_eval=6), log=quiet)
    second = run_sft(
        make_config(name="b", iters=2, resume_adapter_file=str(first.run_dir)), log=quiet
    )
    assert second.first_val_loss == pytest.approx(first.last_val_loss, rel=1e-5)
    with pytest.raises(UserError, match="rank"):
        run_sft(
            make_config(
                name="c",
                resume_adapter_file=str(first.run_dir),
                lora_parameters={"rank": 2, "scale": 10.0},
            ),
            log=quiet,
        )


def test_pause_and_continue(make_config):
    control = Control()

    def sink(event: dict) -> None:
        if event["event"] == "train" and event["step"] == 4:
            control.pause()
            threading.Timer(0.3, control.resume).start()

    seen: list[dict] = []
    result = run_sft(
        make_config(iters=8, steps_per_eval=100),
        on_event=lambda e: (seen.append(e), sink(e)),
        control=control,
        log=quiet,
    )
    assert result.status == "completed"
    kinds = [(e["event"], e.get("step")) for e in seen]
    assert ("paused", 4) in kinds and ("resumed", 4) in kinds
    assert kinds.index(("paused", 4)) < kinds.index(("resumed", 4))


def test_nan_loss_stops_with_a_message(make_config, monkeypatch):
    import mlx.core as mx
    from mlx_lm.tuner import trainer

    real_loss = trainer.default_loss

    def nan_loss(model, batch, lengths):
        loss, ntoks = real_loss(model, batch, lengths)
        return loss * mx.array(float("nan")), ntoks

    monkeypatch.setattr(trainer, "default_loss", nan_loss)
    seen: list[dict] = []
    result = run_sft(make_config(steps_per_eval=100), on_event=seen.append, log=quiet)
    assert result.status == "diverged" and result.exit_code == 2
    error = next(e for e in seen if e["event"] == "error")
    assert error["code"] == "diverged" and "nan" in error["message"]
    assert "learning_rate" in error["message"]
    # plain Adam's early steps are 3-6x the learning rate: its bias correction is offered
    assert "set bias_correction: true in optimizer_config.adam" in error["message"]
    assert seen[-1]["event"] == "finished" and seen[-1]["status"] == "diverged"
    assert not (result.run_dir / "checkpoints").exists()  # NaN weights are never saved


def test_out_of_memory_names_the_setting(make_config, monkeypatch):
    import mlx.core as mx

    real_eval, calls = mx.eval, {"n": 0}

    def failing_eval(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("[malloc] Unable to allocate 123456789 bytes")
        return real_eval(*args)

    seen: list[dict] = []
    monkeypatch.setattr(mx, "eval", failing_eval)
    with pytest.raises(UserError, match=r"out of memory at step \d+.*batch_size \(now 4\)"):
        run_sft(make_config(steps_per_eval=100), on_event=seen.append, log=quiet)
    monkeypatch.undo()
    error = next(e for e in seen if e["event"] == "error")
    assert error["code"] == "out_of_memory" and "max_seq_length" in error["message"]
    assert seen[-1]["status"] == "failed"
