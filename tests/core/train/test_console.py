"""What `mlxstudio train` prints for people: one line per event that matters."""

from __future__ import annotations

from mlxstudio.core.train.console import describe, printer


def test_lines_for_people():
    train = {
        "event": "train",
        "step": 20,
        "total_steps": 40,
        "train_loss": 0.4123,
        "learning_rate": 2e-4,
        "tokens_per_second": 1234.5,
        "peak_memory_gb": 0.87,
    }
    assert describe(train) == ("  step    20/40  loss 0.412  lr 2.0e-04  1,234 tok/s  0.87 GB")
    rl = dict(train, reward_mean=0.5, kl=0.01)
    assert "reward 0.500  kl 0.010" in describe(rl)
    assert describe({"event": "val", "step": 0, "total_steps": 40, "val_loss": 4.8}) == (
        "  step     0/40  validation loss 4.800"
    )
    assert describe({"event": "start", "run_dir": "x", "model": "m"}) is None
    assert describe({"event": "error", "message": "boom", "step": None}) is None
    assert "stopped: interrupted" in describe(
        {"event": "stopped", "step": 3, "message": "interrupted"}
    )


def test_printer_is_an_event_sink():
    lines: list[str] = []
    sink = printer(lines.append)
    sink({"event": "val", "step": 1, "val_loss": 1.0})
    sink({"event": "finished", "status": "completed"})
    assert lines == ["  step     1  validation loss 1.000"]
