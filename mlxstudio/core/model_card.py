"""A model card (README.md) written from a run: what was trained on what, how, and how it
went, with the Hub's metadata block (huggingface_hub's ModelCard) on top.

The sections: the base model and method, the data (the split files and their example
counts), the settings that shaped the run, its final figures from metrics.jsonl (first ->
last validation loss, and the stage's own: reward and KL, margin and accuracy), the test
loss, and the evaluation against the base model (core/eval/card.py) when the run has one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.eval.card import eval_section

STAGE_WORDS = {
    "sft": "supervised fine-tuning (SFT)",
    "pretrain": "pretraining",
    "rl": "reinforcement learning with PPO",
    "grpo": "reinforcement learning with GRPO",
    "dpo": "preference optimisation (DPO family)",
    "reward": "reward-model training",
}
METHOD_WORDS = {"lora": "LoRA", "dora": "DoRA", "full": "full fine-tuning"}
ALWAYS_SHOWN = ("stage", "fine_tune_type", "iters", "batch_size", "learning_rate")
# Where files were, how often it reported or saved: nothing a reader of the card can use
NOT_SHOWN = {
    "model", "data", "adapter_path", "name", "resume_adapter_file", "valid_data",
    "sample_prompts", "sample_every", "sample_max_tokens", "report_to", "project_name",
    "steps_per_report", "steps_per_eval", "save_every", "keep_last_checkpoints", "train",
    "memory_guard", "clear_cache_threshold", "test_batches", "val_batches",
}  # fmt: skip
# (event kind, field, words): final figures, first -> last, when the run logged them
FIGURES = (
    ("val", "val_loss", "Validation loss"),
    ("train", "train_loss", "Training loss"),
    ("train", "reward_mean", "Mean reward"),
    ("val", "reward_mean", "Held-out mean reward"),
    ("train", "kl", "KL to the reference model"),
    ("val", "margin", "Held-out chosen - rejected margin"),
    ("val", "accuracy", "Held-out preference accuracy"),
    ("train", "margin", "Chosen - rejected margin"),
    ("train", "accuracy", "Preference accuracy"),
)
SPLITS = ("train", "valid", "test")


def run_config(run_dir: Path) -> dict:
    """The run's settings as it was trained (config.yaml; adapter_config.json of an older
    run)."""
    for name in (runs.CONFIG, "adapter_config.json"):
        path = Path(run_dir) / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            return data or {}
    raise UserError(f"{run_dir}: not a run folder (no {runs.CONFIG}); pass a run's folder")


def final_figures(run_dir: Path) -> list[tuple[str, float, float]]:
    """(words, first, last) of each figure the run logged, the last write of each step kept
    (a resumed run trains some steps again)."""
    last: dict[tuple[str, int], dict] = {}
    for event in runs.read_events(run_dir):
        if event.get("event") in ("train", "val") and isinstance(event.get("step"), int):
            last[(event["event"], event["step"])] = event
    rows = []
    for kind, field, words in FIGURES:
        values = [
            e[field]
            for (k, _), e in sorted(last.items(), key=lambda item: item[0][1])
            if k == kind and isinstance(e.get(field), int | float)
        ]
        if values:
            rows.append((words, float(values[0]), float(values[-1])))
    return rows


def test_loss(run_dir: Path) -> float | None:
    found = [e for e in runs.read_events(run_dir) if e.get("event") == "test"]
    return float(found[-1]["test_loss"]) if found else None


def data_summary(data: str) -> list[str]:
    """One line per split file of the data folder, with its example count."""
    folder = Path(data).expanduser()
    if folder.is_file():
        return [f"- `{folder.name}`: {count_lines(folder)} examples"]
    if not folder.is_dir():
        return [f"- `{folder.name}` (not found on this computer when the card was written)"]
    lines = []
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        if path.is_file():
            lines.append(f"- `{split}.jsonl`: {count_lines(path)} examples")
    if not lines:  # pretraining text, or another layout: name the files
        files = sorted(p.name for p in folder.iterdir() if p.is_file())
        lines.append(f"- {len(files)} files: " + ", ".join(f"`{f}`" for f in files[:8]))
    return lines


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def shown_settings(config: dict) -> list[tuple[str, object]]:
    """The settings that shaped the run: the main ones, then each other one not left at its
    default."""
    from mlxstudio.core.config import RunConfig

    defaults = {
        f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        for f in dataclasses.fields(RunConfig)
    }
    out = [(key, config[key]) for key in ALWAYS_SHOWN if key in config]
    for key, value in config.items():
        if key in ALWAYS_SHOWN or key in NOT_SHOWN or key not in defaults:
            continue
        if value != defaults[key]:
            out.append((key, value))
    return out


def method_words(config: dict) -> str:
    stage = str(config.get("stage") or "sft")
    kind = str(config.get("fine_tune_type") or "lora")
    how = METHOD_WORDS.get(kind, kind)
    if kind in ("lora", "dora"):
        lora = config.get("lora_parameters") or {}
        layers = config.get("num_layers")
        which = "all layers" if layers == -1 else f"the last {layers} layers"
        how += f" (rank {lora.get('rank', 8)}, scale {lora.get('scale', 20.0)}) on {which}"
    return f"{STAGE_WORDS.get(stage, stage)}, {how}"


def card_text(
    run_dir: Path,
    *,
    title: str,
    base_name: str,
    base_repo: str | None,
    license: str,
    adapter_only: bool,
) -> str:
    """The whole README.md for a model (or adapter) published from `run_dir`."""
    from huggingface_hub import ModelCardData

    run_dir = Path(run_dir)
    config = run_config(run_dir)
    meta = runs.read_meta(run_dir)
    stage = str(config.get("stage") or meta.get("stage") or "sft")
    tags = ["mlx", "mlxstudio", stage, str(config.get("fine_tune_type") or "lora")]
    data = ModelCardData(
        license=license,
        library_name="mlx",
        pipeline_tag="text-generation",
        base_model=base_repo,
        tags=tags,
    )
    lines = [f"# {title}", ""]
    base = f"[{base_repo}](https://huggingface.co/{base_repo})" if base_repo else f"`{base_name}`"
    what = "LoRA adapters for" if adapter_only else "A fine-tuned version of"
    lines += [f"{what} {base}, trained with MLX Studio by {method_words(config)}.", ""]
    lines += usage(adapter_only, base_repo or base_name, title)
    lines += ["## Data", "", f"From `{Path(str(config.get('data', ''))).name}`:", ""]
    lines += data_summary(str(config.get("data", ""))) + [""]
    lines += ["## Settings", "", "| Setting | Value |", "|---|---|"]
    lines += [f"| `{k}` | `{json.dumps(v)}` |" for k, v in shown_settings(config)] + [""]
    figures = final_figures(run_dir)
    step = meta.get("step")
    if figures or step:
        lines += ["## Training", ""]
        if step:
            lines += [f"Trained {step} steps ({meta.get('status', 'unknown')}).", ""]
        if figures:
            lines += ["| | First | Last |", "|---|---|---|"]
            lines += [f"| {w} | {a:.4g} | {b:.4g} |" for w, a, b in figures] + [""]
        if (loss := test_loss(run_dir)) is not None:
            lines += [f"Test loss: {loss:.4g}", ""]
    summary = meta.get("eval")
    if summary and "tuned" in summary:
        lines += [eval_section(summary)]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines).rstrip() + "\n"


def usage(adapter_only: bool, base: str, repo: str) -> list[str]:
    if adapter_only:
        code = [
            "from mlx_lm import generate, load",
            "from huggingface_hub import snapshot_download",
            "",
            f'model, tokenizer = load("{base}", adapter_path=snapshot_download("{repo}"))',
        ]
    else:
        code = ["from mlx_lm import generate, load", "", f'model, tokenizer = load("{repo}")']
    code.append('print(generate(model, tokenizer, prompt="Hello", max_tokens=64))')
    return ["## Use", "", "```python", *code, "```", ""]
