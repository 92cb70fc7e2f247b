"""Prompts kept with a run: the chat log of the playground (one line per turn, each tagged
with its conversation), the saved list of test prompts, and answering that list with a
model in one go (answers as JSONL in the run directory)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from mlxstudio.core.errors import UserError

CHAT_LOG = "chats.jsonl"  # one line per answered chat turn
TEST_PROMPTS = "test_prompts.txt"  # the saved list, one prompt a line
ANSWERS_DIR = "test_prompts"  # answers-TIME.jsonl, one file per run of the list


def run_folder(path: Path) -> Path:
    """The run directory for a run directory or its adapters/ folder."""
    path = Path(path)
    return path.parent if path.name == "adapters" else path


def append_chat(run_dir: Path, record: dict) -> Path:
    """Add one chat turn (prompt, answer, settings, speed) to the run's chat log."""
    path = run_folder(run_dir) / CHAT_LOG
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}) + "\n")
    return path


def read_chats(run_dir: Path) -> list[dict]:
    """The run's chat log (skipping a torn last line from a crash)."""
    path = run_folder(run_dir) / CHAT_LOG
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def new_chat_id() -> str:
    """A fresh conversation's id: sortable by time, unique without coordination."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def read_conversation(run_dir: Path, chat_id: str | None = None) -> list[dict]:
    """The turns of one conversation in the run's chat log: chat_id's, or else the latest
    (the last turn's). Turns logged before conversations had ids count as one."""
    records = read_chats(run_dir)
    if not records:
        return []
    wanted = records[-1].get("chat") if chat_id is None else chat_id
    return [r for r in records if r.get("chat") == wanted]


def conversation_messages(turns: list[dict]) -> list[dict]:
    """The OpenAI-style messages that continue a conversation: its system prompt (from
    its first turn), then each question and answer."""
    messages = []
    system = turns[0].get("system") if turns else None
    if system:
        messages.append({"role": "system", "content": system})
    for turn in turns:
        messages.append({"role": "user", "content": str(turn.get("prompt", ""))})
        messages.append({"role": "assistant", "content": str(turn.get("answer", ""))})
    return messages


def read_prompts(path: Path) -> list[str]:
    """Prompts from a .txt (one a line; blank lines and '#' comments skipped), a .jsonl
    (a "prompt", "question" or "instruction" field per line) or a .json list."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such prompts file")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(items, list):
            raise UserError(f"{path}: expected a JSON list of prompts")
        prompts = [_prompt(item, path, i + 1) for i, item in enumerate(items)]
    elif path.suffix == ".jsonl":
        prompts = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            prompts.append(_prompt(item, path, number))
    else:
        lines = (line.strip() for line in text.splitlines())
        prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise UserError(f"{path}: no prompts in it")
    return prompts


def _prompt(item: object, path: Path, number: int) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("prompt", "question", "instruction"):
            if isinstance(item.get(key), str):
                return item[key]
    raise UserError(f"{path}:{number}: expected a string or a 'prompt' field")


def write_prompts(path: Path, prompts: list[str]) -> Path:
    """Save a prompt list as text, one a line (newlines inside a prompt become spaces)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(p.split()) + "\n" for p in prompts if p.strip()), "utf-8")
    return path


def answers_path(run_dir: Path) -> Path:
    """Where a new set of answers goes: RUN/test_prompts/answers-YYYYmmdd-HHMMSS.jsonl."""
    return run_folder(run_dir) / ANSWERS_DIR / f"answers-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"


def run_test_prompts(
    model_path: Path,
    adapter: Path | None,
    prompts: list[str],
    out: Path,
    *,
    system: str | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int = 128,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Answer every prompt with the model (and adapter); write one JSON line per answer to
    `out` as each finishes, so a crash keeps the answers so far. Returns the records."""
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    from mlxstudio.core.generate import load_for_inference
    from mlxstudio.core.serve.loading import resolve_adapter

    say = progress or (lambda _msg: None)
    adapter_dir = resolve_adapter(str(adapter)) if adapter else None
    say(f"Loading {model_path.name}" + (f" with adapters from {adapter_dir}" if adapter else ""))
    model, tokenizer = load_for_inference(model_path, adapter_dir)
    sampler = make_sampler(temp=temperature, top_p=top_p)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    with out.open("w", encoding="utf-8") as fh:
        for number, prompt in enumerate(prompts, 1):
            messages = [{"role": "system", "content": system}] if system else []
            messages.append({"role": "user", "content": prompt})
            tokens = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
            text, last = "", None
            for last in stream_generate(
                model, tokenizer, tokens, max_tokens=max_tokens, sampler=sampler
            ):
                text += last.text
            record = {
                "prompt": prompt,
                "answer": text.strip(),
                "model": model_path.name,
                "adapter": str(adapter_dir) if adapter_dir else None,
                "system": system,
                "temperature": temperature,
                "top_p": top_p,
                "max_tokens": max_tokens,
                "tokens": last.generation_tokens if last else 0,
                "tokens_per_second": round(last.generation_tps, 1) if last else 0.0,
            }
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            records.append(record)
            say(f"[{number}/{len(prompts)}] {prompt[:60]}")
    return records
