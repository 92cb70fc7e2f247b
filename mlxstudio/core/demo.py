"""The headless main job: install the demo model, fine-tune it on the sample data, ask it."""

from __future__ import annotations

from collections.abc import Callable

from mlxstudio.core import paths
from mlxstudio.core.config import load_config
from mlxstudio.core.generate import answer, load_for_inference
from mlxstudio.core.models.demo import install_demo
from mlxstudio.core.train.console import printer
from mlxstudio.core.train.job import RunResult
from mlxstudio.core.train.sft import run_sft

DEMO_QUESTION = "What is the capital of Japan?"  # held out: in test.jsonl, not train.jsonl


def run_demo(iters: int | None = None, log: Callable[[str], None] = print) -> RunResult:
    """Fine-tune the demo model to answer like a pirate, and show before and after."""
    model_path = install_demo(progress=log)
    cfg = load_config(paths.resources_dir() / "configs" / "demo.yaml")
    cfg.model = str(model_path)
    cfg.data = str(paths.resources_dir() / "sample_data")
    if iters:
        cfg.iters = iters

    model, tokenizer = load_for_inference(model_path)
    log(f"\nQ: {DEMO_QUESTION}\nBase model:       {answer(model, tokenizer, DEMO_QUESTION)}\n")
    del model

    losses: list[tuple[int, float]] = []

    show = printer(log)

    def on_event(event: dict) -> None:
        show(event)
        if event["event"] == "train":
            losses.append((event["step"], event["train_loss"]))

    result = run_sft(cfg, on_event=on_event, log=log)
    if losses:
        curve = "  ".join(f"{step}:{loss:.2f}" for step, loss in losses)
        log(f"\nTraining loss by step: {curve}")
    if result.first_val_loss is not None and result.last_val_loss is not None:
        log(f"Validation loss: {result.first_val_loss:.3f} -> {result.last_val_loss:.3f}")

    model, tokenizer = load_for_inference(model_path, adapter=result.run_dir)
    log(f"\nQ: {DEMO_QUESTION}\nFine-tuned model: {answer(model, tokenizer, DEMO_QUESTION)}")
    log(f"\nRun directory: {result.run_dir}")
    log(f"Serve it:  mlxstudio serve {model_path.name} --adapter {result.run_dir}")
    return result
