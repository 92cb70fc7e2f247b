"""End to end on the real SmolLM2-135M-Instruct: import, answer, fine-tune, fuse, serve, chat.

The headless main job (`mlxstudio demo`) produces the run that the later steps use, so the
README's first command is proven by the same test that proves the pipeline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlxstudio.core import runs
from mlxstudio.core.models.demo import DEMO_NAME

pytestmark = pytest.mark.e2e


def cli(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLXSTUDIO_HOME=str(home))
    env.pop("MLXSTUDIO_BLAS_CHECKED", None)
    proc = subprocess.run(
        [sys.executable, "-m", "mlxstudio", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, f"mlxstudio {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(scope="module")
def demo_model(home) -> Path:
    cli(home, "models", "install-demo")
    path = home / "models" / DEMO_NAME
    assert (path / "config.json").is_file()
    return path


@pytest.fixture(scope="module")
def demo_run(home, demo_model) -> tuple[Path, str]:
    proc = cli(home, "demo")
    run_dirs = sorted((home / "runs").iterdir())
    assert len(run_dirs) == 1
    return run_dirs[0], proc.stdout


def test_imported_model_answers_a_fact(demo_model):
    from mlxstudio.core.generate import answer, load_for_inference

    model, tokenizer = load_for_inference(demo_model)
    assert "Paris" in answer(model, tokenizer, "What is the capital of France?")


def test_models_list_shows_demo(home, demo_model):
    out = cli(home, "models", "list").stdout
    assert DEMO_NAME in out and "4-bit" in out


def test_demo_fine_tunes_and_validation_loss_falls(demo_run):
    run_dir, stdout = demo_run
    events = list(runs.read_events(run_dir))
    train = [e for e in events if e["event"] == "train"]
    val = [e for e in events if e["event"] == "val"]
    assert train[-1]["step"] >= 20
    assert val[-1]["val_loss"] < val[0]["val_loss"]
    assert train[-1]["train_loss"] < train[0]["train_loss"]
    assert "Fine-tuned model:" in stdout and "Validation loss:" in stdout
    answer = stdout.split("Fine-tuned model:")[1].splitlines()[0]
    assert answer.strip(), "the fine-tuned model gave an empty answer"
    for name in ("adapters.safetensors", "adapter_config.json", "config.yaml", "run.json"):
        assert (run_dir / name).is_file()


def test_mlx_lm_generate_loads_our_adapter(demo_model, demo_run):
    run_dir, _ = demo_run
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlx_lm",
            "generate",
            "--model",
            str(demo_model),
            "--adapter-path",
            str(run_dir),
            "--prompt",
            "What is the capital of Japan?",
            "--max-tokens",
            "12",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "==========" in proc.stdout  # mlx_lm's frame around the generated text


def test_fuse_serve_and_chat(home, demo_run, tmp_path):
    from openai import OpenAI

    from mlxstudio.core.serve.server import start_server

    run_dir, _ = demo_run
    fused = tmp_path / "fused"
    cli(home, "fuse", str(run_dir), "--out", str(fused))
    assert (fused / "config.json").is_file()
    with start_server(str(fused)) as server:
        client = OpenAI(base_url=server.url, api_key="not-needed")
        model_ids = [m.id for m in client.models.list().data]
        assert model_ids
        reply = client.chat.completions.create(
            model=model_ids[0],
            max_tokens=24,
            temperature=0.0,
            messages=[{"role": "user", "content": "What is the capital of Japan?"}],
        )
        assert reply.choices[0].message.content.strip()
        stream = client.chat.completions.create(
            model=model_ids[0],
            max_tokens=24,
            stream=True,
            messages=[{"role": "user", "content": "Name a color."}],
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert streamed.strip()
        out = cli(
            home,
            "chat",
            "--url",
            server.url,
            "--system",
            "You are terse.",
            "--temperature",
            "0.7",
            "What is two plus two?",
        ).stdout
        assert out.strip()
