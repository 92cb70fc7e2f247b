"""The model that writes the questions and answers: a local MLX model (the default: nothing
leaves the machine) or an OpenAI-compatible server the user names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from mlxstudio.core.errors import UserError

API_KEY_ENV = "OPENAI_API_KEY"
TOKENS_PER_PAIR = 160  # a question and a short answer, with room; COT answers get twice that


class Writer(Protocol):
    name: str

    def write(self, messages: list[dict], max_tokens: int, attempt: int) -> str:
        """The model's answer; attempt 0 is greedy, retries sample for a different answer."""
        ...


class LocalWriter:
    """An MLX model loaded in this process; its answer is started with "Q:" for it."""

    def __init__(self, model: Path) -> None:
        from mlxstudio.core.generate import load_for_inference

        self.name = Path(model).name
        self.model, self.tokenizer = load_for_inference(Path(model))

    def write(self, messages: list[dict], max_tokens: int, attempt: int) -> str:
        import mlx.core as mx
        from mlx_lm import generate
        from mlx_lm.sample_utils import make_sampler

        prompt = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        mx.random.seed(attempt)
        sampler = make_sampler(temp=0.0 if attempt == 0 else 0.8, top_p=0.95)
        text = generate(
            self.model, self.tokenizer, prompt + "Q:", max_tokens=max_tokens, sampler=sampler
        )
        return "Q:" + text


class UrlWriter:
    """A chat-completions server: only when the user gives its address (data leaves here)."""

    def __init__(self, url: str, model: str | None = None, api_key_env: str = API_KEY_ENV):
        from mlxstudio.core.serve.client import base_url

        self.url, self.model = url, model
        self.name = f"{model or 'the model'} at {base_url(url)}"
        self.api_key = os.environ.get(api_key_env) or None

    def write(self, messages: list[dict], max_tokens: int, attempt: int) -> str:
        from mlxstudio.core.serve.client import chat

        system, user = messages[0]["content"], messages[-1]["content"]
        return chat(
            self.url,
            user,
            system=system,
            temperature=0.2 if attempt == 0 else 0.9,
            max_tokens=max_tokens,
            model=self.model,
            api_key=self.api_key,
        )


def local_models() -> list:
    """Installed chat models MLX can load (list of ModelEntry), the largest first."""
    from mlxstudio.core.models.discover import discover

    usable = [
        e
        for e in discover()
        if e.format in ("mlx", "safetensors") and e.has_chat_template and e.trainable
    ]
    return sorted(usable, key=lambda e: (e.parameters or 0, e.size_bytes), reverse=True)


def default_choice(models: list | None = None):
    """The largest installed chat model (ModelEntry) that fits in half the memory as it will
    compute (float32 on the CPU); None when none does."""
    from mlxstudio.core.platform import compute_dtype_name
    from mlxstudio.core.train.memory_guard import system_memory

    memory = system_memory()
    as_float32 = compute_dtype_name() == "float32"

    def fits(entry) -> bool:
        needed = 4 * (entry.parameters or 0) if as_float32 else entry.size_bytes
        return memory is None or needed <= memory.total // 2

    return next((e for e in (local_models() if models is None else models) if fits(e)), None)


def default_model() -> Path:
    """default_choice's folder; the demo model (installed now if need be) when there is none."""
    from mlxstudio.core.models.demo import install_demo

    choice = default_choice()
    return choice.path if choice else install_demo()


def open_writer(model: str | None, url: str | None, api_key_env: str = API_KEY_ENV) -> Writer:
    if url:
        return UrlWriter(url, model, api_key_env)
    if model:
        from mlxstudio.core.models.discover import describe_path

        entry = describe_path(Path(model))  # a folder, or a name in the app's model folder
        if entry.format == "gguf":
            raise UserError(
                f"{model}: a GGUF file; import it first (mlxstudio models import) and give "
                "the imported folder"
            )
        return LocalWriter(entry.path)
    return LocalWriter(default_model())
