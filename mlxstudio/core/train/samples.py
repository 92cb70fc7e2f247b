"""A few fixed prompts answered at intervals, so the user sees the model change."""

from __future__ import annotations

from collections.abc import Callable

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig


def make_sampler(
    model, tokenizer, cfg: RunConfig, emit: Callable[[ev.Event], object]
) -> Callable[[int], None] | None:
    """A function answering cfg.sample_prompts greedily at a step, or None if there are none."""
    if not cfg.sample_prompts:
        return None

    def sample(step: int) -> None:
        from mlx_lm import generate

        model.eval()
        for prompt in cfg.sample_prompts:
            text = str(prompt)
            if getattr(tokenizer, "chat_template", None):
                messages = [{"role": "user", "content": text}]
                text = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
            response = generate(model, tokenizer, text, max_tokens=cfg.sample_max_tokens)
            emit(ev.Sample(step=step, prompt=str(prompt), response=response.strip()))
        model.train()

    return sample
