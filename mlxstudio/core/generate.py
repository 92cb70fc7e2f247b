"""One-off answers from a local model (optionally with a run's adapters), in-process."""

from __future__ import annotations

from pathlib import Path

from mlxstudio.core.platform import compute_dtype_name


def load_for_inference(model_path: Path, adapter: Path | None = None):
    """Load model + tokenizer; on the CPU backend compute in float32 (much faster there)."""
    import mlx.core as mx
    from mlx_lm.tuner.utils import load_adapters
    from mlx_lm.utils import dequantize_model, load

    model, tokenizer = load(str(model_path))
    dtype = compute_dtype_name()
    if dtype:
        model = dequantize_model(model)
        model.set_dtype(getattr(mx, dtype))
    if adapter is not None:
        model = load_adapters(model, str(adapter))
    model.eval()
    return model, tokenizer


def answer(
    model, tokenizer, question: str, *, system: str | None = None, max_tokens: int = 64
) -> str:
    """Greedy answer to one chat question, through the model's chat template."""
    from mlx_lm import generate

    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": question})
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    return generate(model, tokenizer, prompt, max_tokens=max_tokens).strip()
