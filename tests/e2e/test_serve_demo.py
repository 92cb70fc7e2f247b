"""Serving the real SmolLM2-135M-Instruct: the official openai client (chat, streamed
chat, models), the API key, 20 concurrent requests, 4xx answers with a message, no
orphan server after stop or after the parent is killed, and export to GGUF + Modelfile."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlxstudio.core.models.demo import install_demo

pytestmark = pytest.mark.e2e
KEY = "e2e-key"


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory) -> Path:
    import os

    home = tmp_path_factory.mktemp("serve-home")
    old = os.environ.get("MLXSTUDIO_HOME")
    os.environ["MLXSTUDIO_HOME"] = str(home)
    try:
        return install_demo()
    finally:
        if old is None:
            os.environ.pop("MLXSTUDIO_HOME")
        else:
            os.environ["MLXSTUDIO_HOME"] = old


@pytest.fixture(scope="module")
def server(demo_model):
    from mlxstudio.core.serve.server import start_server

    with start_server(str(demo_model), api_key=KEY, timeout=300) as srv:
        yield srv
    assert srv.process.poll() is not None, "the server outlived stop()"


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.url, api_key=KEY, max_retries=0, timeout=300)


def test_openai_client_chat_stream_and_models(client):
    assert [m.id for m in client.models.list().data] == ["SmolLM2-135M-Instruct"]
    question = [{"role": "user", "content": "What is the capital of France?"}]
    reply = client.chat.completions.create(
        model="SmolLM2-135M-Instruct", messages=question, max_tokens=24, temperature=0.0
    )
    assert "Paris" in reply.choices[0].message.content
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="SmolLM2-135M-Instruct",
        messages=question,
        max_tokens=48,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    seconds = time.monotonic() - started
    assert "Paris" in "".join(pieces)
    print(
        f"\nstreamed {usage.completion_tokens} tokens at {usage.completion_tokens / seconds:.1f}/s"
    )


def test_api_key_is_enforced(server):
    from openai import AuthenticationError, OpenAI

    for key in ("wrong", "x"):
        with pytest.raises(AuthenticationError, match="wrong API key"):
            OpenAI(base_url=server.url, api_key=key, max_retries=0).models.list()


def test_twenty_concurrent_requests_all_answered(client):
    def ask(i: int) -> str:
        reply = client.chat.completions.create(
            model="SmolLM2-135M-Instruct",
            messages=[{"role": "user", "content": f"Say the number {i}."}],
            max_tokens=8,
        )
        return reply.choices[0].message.content

    started = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(ask, range(20)))
    print(f"\n20 concurrent requests answered in {time.monotonic() - started:.1f} s")
    assert len(answers) == 20 and all(a.strip() for a in answers)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_malformed_json_and_unknown_model_are_4xx_with_a_message(server, client):
    from openai import NotFoundError

    status, body = _post(server.url, b'{"messages": [{"role": "user"')
    assert status == 400 and "Invalid JSON" in body["error"]
    with pytest.raises(NotFoundError, match="'gpt-4o' is not served here"):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
        )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_orphan_after_the_parent_is_killed(demo_model):
    code = textwrap.dedent(
        """
        import sys, time
        from mlxstudio.core.serve.server import start_server
        srv = start_server(sys.argv[1], timeout=300)
        print("child", srv.process.pid, flush=True)
        time.sleep(900)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code, str(demo_model)], stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline().split()[1])
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 15
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the server outlived its killed parent"


def test_export_gguf_and_modelfile(demo_model, tmp_path):
    """An (untrained) adapter on the demo model, exported: the MLX folder answers, and the
    GGUF, read back by our importer, still knows the capital of France."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from mlxstudio.core.export import export
    from mlxstudio.core.generate import answer, load_for_inference
    from mlxstudio.core.models.gguf_import import import_gguf

    model, _ = load(str(demo_model))
    model.freeze()
    lora = {"rank": 4, "scale": 10.0, "dropout": 0.0}
    linear_to_lora_layers(model, 4, lora)
    run = tmp_path / "run"
    run.mkdir()
    mx.save_safetensors(
        str(run / "adapters.safetensors"), dict(tree_flatten(model.trainable_parameters()))
    )
    config = {"fine_tune_type": "lora", "num_layers": 4, "lora_parameters": lora}
    (run / "adapter_config.json").write_text(json.dumps({**config, "model": str(demo_model)}))

    result = export(run, tmp_path / "out", gguf=True)
    assert result.gguf.stat().st_size > 200e6  # 135M parameters in float16
    modelfile = result.modelfile.read_text()
    assert "<|im_start|>" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    back = import_gguf(result.gguf, tmp_path / "back").out
    for folder in (result.mlx_dir, back):
        m, tok = load_for_inference(folder)
        assert "Paris" in answer(m, tok, "What is the capital of France?")
