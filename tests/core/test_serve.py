"""Serving the tiny model over HTTP: mlx-lm's server behind our fixes, and our chat client."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mlxstudio.core.errors import UserError
from mlxstudio.core.serve import server as server_mod
from mlxstudio.core.serve.client import base_url, chat, list_models, stream_chat
from mlxstudio.core.serve.server import ModelServer, serve, start_server

FEW = 6  # max_tokens: the tiny model's words are noise; we only check the plumbing


def _serve_in_thread(model: Path, **kwargs) -> tuple[ModelServer, threading.Thread]:
    srv = ModelServer(str(model), port=0, **kwargs)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    return srv, thread


def _stop(srv: ModelServer, thread: threading.Thread) -> None:
    srv.shutdown()
    thread.join(10)
    srv.close()
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def server(tiny_model):
    before = set(threading.enumerate())
    srv, thread = _serve_in_thread(tiny_model)
    yield srv
    _stop(srv, thread)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not leftover, f"threads left running: {leftover}"


@pytest.fixture
def openai_client(server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server.url, api_key="not-needed", max_retries=0)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def adapter_dir(tiny_model, tmp_path) -> Path:
    """A LoRA adapter for the tiny model in mlx-lm's format, with weights large enough to
    change what it says."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = load(str(tiny_model))
    model.freeze()
    lora = {"rank": 4, "scale": 20.0, "dropout": 0.0}
    linear_to_lora_layers(model, 2, lora)
    mx.random.seed(1)
    weights = {
        k: mx.random.normal(v.shape) if k.endswith("lora_b") else v
        for k, v in tree_flatten(model.trainable_parameters())
    }
    out = tmp_path / "run-1" / "adapters"  # the layout of a run directory
    out.mkdir(parents=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), weights)
    config = {"fine_tune_type": "lora", "num_layers": 2, "lora_parameters": lora}
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out


@pytest.fixture
def serve_command(monkeypatch):
    """Until `mlxstudio serve` exists in the CLI, launch serve() the way it will."""
    probe = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "serve", "--help"], capture_output=True, text=True
    )
    if probe.returncode == 0 and "--port" in probe.stdout:
        return
    code = (
        "import sys\n"
        "from mlxstudio.core.errors import UserError\n"
        "from mlxstudio.core.serve.server import serve\n"
        "model, adapter, port = sys.argv[1], sys.argv[2] or None, int(sys.argv[3])\n"
        "try:\n"
        "    serve(model, adapter=adapter, port=port, on_ready=lambda u: print('Serving at', u))\n"
        "except UserError as e:\n"
        "    sys.exit(f'error: {e}')\n"
    )
    monkeypatch.setattr(
        server_mod,
        "_serve_command",
        lambda model, adapter, port: [sys.executable, "-c", code, model, adapter or "", str(port)],
    )


# --- the official openai client against the in-process server -------------------------


def test_openai_chat_and_stream(openai_client):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    reply = openai_client.chat.completions.create(
        model="anything", messages=messages, max_tokens=FEW, temperature=0.7
    )
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.usage.completion_tokens <= FEW

    stream = openai_client.chat.completions.create(
        model="anything", messages=messages, max_tokens=FEW, stream=True
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta]
    assert "".join(p for p in pieces if p)


def test_openai_completions(openai_client):
    reply = openai_client.completions.create(model="x", prompt="The capital", max_tokens=FEW)
    assert isinstance(reply.choices[0].text, str)


def test_models_lists_the_served_model(openai_client, server):
    assert [m.id for m in openai_client.models.list()] == ["tiny-llama"]
    assert openai_client.models.retrieve("tiny-llama").id == server.model_id == "tiny-llama"


# --- our client -------------------------------------------------------------------------


def test_chat_stream_and_list_models(server):
    assert list_models(server.url) == ["tiny-llama"]
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    answer = chat(server.url, "Hello?", system="Be brief.", history=history, max_tokens=FEW)
    assert isinstance(answer, str) and answer
    assert "".join(stream_chat(server.url, "Hello?", max_tokens=FEW, temperature=0))


def test_client_accepts_url_without_v1(server):
    bare = server.url.removesuffix("/v1")
    assert base_url(bare + "/") == server.url
    assert base_url(bare.removeprefix("http://")) == server.url
    assert list_models(bare) == ["tiny-llama"]


def test_any_requested_model_is_the_served_one(server):
    # mlx-lm would try to download "gpt-4o" from the hub; we serve what we loaded.
    greedy = chat(server.url, "Hi", temperature=0, max_tokens=FEW)
    assert chat(server.url, "Hi", temperature=0, max_tokens=FEW, model="gpt-4o") == greedy


def test_server_error_message_reaches_the_user(server):
    with pytest.raises(UserError, match="max_tokens must be at least 1"):
        chat(server.url, "Hi", max_tokens=0)


def test_connection_refused(free_port):
    with pytest.raises(UserError, match="no server answers at .*mlxstudio serve MODEL"):
        chat(f"http://127.0.0.1:{free_port}", "Hi")


def test_timeout():
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        with pytest.raises(UserError, match="did not answer within 0.5 s"):
            chat(url, "Hi", timeout=0.5)


# --- starting servers -------------------------------------------------------------------


def test_port_in_use(tiny_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port} is already in use on 127.0.0.1"):
            serve(str(tiny_model), port=port)
        with pytest.raises(UserError, match=f"port {port} is already in use"):
            start_server(str(tiny_model), port=port)


def test_missing_model_folder(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        serve(str(tmp_path / "nope"), port=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        start_server(str(tmp_path / "empty"))


def test_unloadable_model_fails_at_start_not_on_first_request(tiny_model, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").unlink()
    before = set(threading.enumerate())
    with pytest.raises(UserError, match="cannot load model"):
        ModelServer(str(broken), port=0)
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


def test_adapter_folder_without_weights(tiny_model, tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(UserError, match="no adapters.safetensors"):
        serve(str(tiny_model), adapter=str(tmp_path / "run"), port=0)


def test_adapter_changes_the_answer(tiny_model, adapter_dir, server):
    base = chat(server.url, "The capital of France", temperature=0, max_tokens=FEW)
    run_dir = adapter_dir.parent  # a run directory works as well as its adapters/ folder
    srv, thread = _serve_in_thread(tiny_model, adapter=str(run_dir))
    try:
        assert list_models(srv.url) == ["tiny-llama+run-1"]
        tuned = chat(srv.url, "The capital of France", temperature=0, max_tokens=FEW)
    finally:
        _stop(srv, thread)
    assert tuned != base


def test_quantized_model_is_served_in_float32_on_cpu(tiny_model, tmp_path):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    from mlx_lm import convert

    quantized = tmp_path / "tiny-q4"
    convert(str(tiny_model), mlx_path=str(quantized), quantize=True, q_group_size=32, q_bits=4)
    srv, thread = _serve_in_thread(quantized)
    try:
        assert chat(srv.url, "Hi", max_tokens=FEW) is not None
        model = srv._generator.model_provider.model
    finally:
        _stop(srv, thread)
    still_quantized = any(isinstance(m, nn.QuantizedLinear) for _, m in model.named_modules())
    if sys.platform == "darwin":
        assert still_quantized
    else:  # 4-bit matmuls are 40-90x slower than float32 on the CPU backend
        assert not still_quantized
        assert {v.dtype for _, v in tree_flatten(model.parameters())} == {mx.float32}


def test_start_server_in_a_child_without_hf_cache(tiny_model, tmp_path, monkeypatch, serve_command):
    # mlx-lm's own /v1/models calls scan_cache_dir(), which fails on a missing cache folder.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-hf-home" / "hub"))
    with start_server(str(tiny_model), timeout=60) as srv:
        assert srv.url == f"http://127.0.0.1:{srv.port}/v1"
        assert list_models(srv.url) == ["tiny-llama"]
        assert isinstance(chat(srv.url, "Hi", max_tokens=FEW), str)
    assert srv.process.poll() is not None
    assert not srv.log_path.exists()


def test_start_server_reports_why_the_child_died(tiny_model, tmp_path, serve_command):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "model_type": "no-such-arch"}))
    with pytest.raises(UserError, match="exit code .*cannot load model"):
        start_server(str(broken), timeout=60)
