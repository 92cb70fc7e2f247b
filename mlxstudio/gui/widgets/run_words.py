"""A training job's messages in the window's words: settings by the names the window gives
them, never a config key, a command-line flag or an `mlxstudio ...` command."""

from __future__ import annotations

import re

# config key -> the setting's label in the window (LoRA settings page)
SETTING_LABELS = {
    "batch_size": "Batch size",
    "max_seq_length": "Max tokens",
    "learning_rate": "Learning rate",
    "num_layers": "Layers",
    "iters": "Steps",
    "grad_accumulation_steps": "Accumulate",
    "steps_per_eval": "Validate every",
    "save_every": "Save every",
    "rank": "Rank",
    "optimizer": "Optimizer",
}

# Whole phrases first: they name a change the window makes with a control.
_PHRASES = (
    (r",? ?or set grad_checkpoint: ?true", ", or turn on Gradient checkpointing"),
    (r",? ?or use fine_tune_type: ?lora", ", or choose LoRA as the method"),
    (r", set bias_correction: true in optimizer_config\.\w+", ", or turn on Steady start"),
    (r",? ?or set grad_clip \(e\.g\. [\d.]+\)", ""),  # no control for it in the window
    (r"`?mlxstudio train --resume[^`;,)]*`?", "Resume run"),
    (r"`?mlxstudio [a-z-]+[^`;,)]*`?", "the app"),
    (r"(?:,? or)?\s?\(?--[a-z][\w-]*(?: [A-Z_]+)?\)?", ""),  # "…, or --flag" goes whole
)
_KEYS = re.compile(r"\b(" + "|".join(SETTING_LABELS) + r")\b")


def plain_words(message: str) -> str:
    """Rewrite a job's message for the window (see the module's docstring)."""
    text = message
    for pattern, replacement in _PHRASES:
        text = re.sub(pattern, replacement, text)
    names_a_setting = _KEYS.search(text) is not None
    text = _KEYS.sub(lambda m: f"“{SETTING_LABELS[m.group(1)]}”", text).strip()
    if names_a_setting:
        text += " (LoRA settings page)"
    return text


def log_words(line: str) -> str:
    """A line of a job's log for the window: no command or flag ("Continue it with:
    mlxstudio train --resume …" becomes the button to press). Setting names stay as they
    are: a log may quote them."""
    text = line
    for pattern, replacement in _PHRASES:
        text = re.sub(pattern, replacement, text)
    if text != line and re.fullmatch(r"\s*Continue it with:\s*Resume run\.?\s*", text):
        return "Press Resume run to continue it."
    return text


def killed_message(run: str, step: int, signal_number: int, resumable: bool) -> str:
    """A job killed by the system: most often memory ran out (MLX aborts the process)."""
    then = "then press Resume run" if resumable else "then press Start again"
    return (
        f"Run {run} was stopped by the system at step {step} (signal {signal_number}), most "
        f"often because memory ran out. Lower “Batch size” or “Max tokens”, or turn on "
        f"Gradient checkpointing (LoRA settings page); {then}."
    )
