"""Starting and stopping servers: bad folders and ports, adapters, float32 on CPU, network
opt-in, child processes, and no orphan server when the parent dies."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from servehelpers import FEW, serve_in_thread, stop

from mlxstudio.core.errors import UserError
from mlxstudio.core.serve.client import chat, list_models
from mlxstudio.core.serve.server import ModelServer, check_host, serve, start_server


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


def test_network_needs_an_explicit_opt_in(tiny_model):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_host(host, allow_network=False)
    with pytest.raises(UserError, match="serving on 0.0.0.0 .*add --allow-network"):
        ModelServer(str(tiny_model), host="0.0.0.0", port=0)
    check_host("0.0.0.0", allow_network=True)


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
    srv, thread = serve_in_thread(tiny_model, adapter=str(run_dir))
    try:
        assert list_models(srv.url) == ["tiny-llama+run-1"]
        tuned = chat(srv.url, "The capital of France", temperature=0, max_tokens=FEW)
    finally:
        stop(srv, thread)
    assert tuned != base


def test_quantized_model_is_served_in_float32_on_cpu(tiny_model, tmp_path):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    from mlx_lm import convert

    quantized = tmp_path / "tiny-q4"
    convert(str(tiny_model), mlx_path=str(quantized), quantize=True, q_group_size=32, q_bits=4)
    srv, thread = serve_in_thread(quantized)
    try:
        assert chat(srv.url, "Hi", max_tokens=FEW) is not None
        model = srv._generator.model_provider.model
    finally:
        stop(srv, thread)
    still_quantized = any(isinstance(m, nn.QuantizedLinear) for _, m in model.named_modules())
    if sys.platform == "darwin":
        assert still_quantized
    else:  # 4-bit matmuls are 40-90x slower than float32 on the CPU backend
        assert not still_quantized
        assert {v.dtype for _, v in tree_flatten(model.parameters())} == {mx.float32}


# --- child processes --------------------------------------------------------------------


def test_start_server_in_a_child_without_hf_cache(tiny_model, tmp_path, monkeypatch):
    # mlx-lm's own /v1/models calls scan_cache_dir(), which fails on a missing cache folder.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-hf-home" / "hub"))
    monkeypatch.setenv("MLXSTUDIO_API_KEY", "inherited")  # must not leak into the child
    with start_server(str(tiny_model), timeout=60) as srv:
        assert srv.url == f"http://127.0.0.1:{srv.port}/v1"
        assert list_models(srv.url) == ["tiny-llama"]
        assert isinstance(chat(srv.url, "Hi", max_tokens=FEW), str)
    assert srv.process.poll() is not None, "the server outlived stop()"
    assert not srv.log_path.exists()


def test_start_server_with_an_api_key(tiny_model):
    with start_server(str(tiny_model), api_key="k-123", timeout=60) as srv:
        assert "k-123" not in " ".join(srv.process.args)  # argv is visible to every user
        with pytest.raises(UserError, match="401"):
            list_models(srv.url)
        assert list_models(srv.url, api_key="k-123") == ["tiny-llama"]


def test_start_server_reports_why_the_child_died(tiny_model, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "model_type": "no-such-arch"}))
    with pytest.raises(UserError, match="exit code .*cannot load model"):
        start_server(str(broken), timeout=60)


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie nobody reaps, e.g. under a container's init, is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_dead(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _kill_parent_and_check_child(code: str, *args: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = parent.stdout.readline()
        assert line.startswith("child "), f"the parent did not start its child: {line!r}"
        child = int(line.split()[1])
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)  # no cleanup code runs in the parent
        parent.wait(10)
        try:
            assert _wait_dead(child, 10), "the server outlived its parent"
        finally:
            if _alive(child):
                os.kill(child, signal.SIGKILL)
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_orphan_server_when_the_parent_is_killed(tiny_model):
    code = """
        import sys, time
        from mlxstudio.core.serve.server import start_server
        srv = start_server(sys.argv[1], timeout=60)
        print("child", srv.process.pid, srv.url, flush=True)
        time.sleep(600)
    """
    _kill_parent_and_check_child(code, str(tiny_model))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_watchdog_alone_ends_an_orphan():
    # macOS has no PR_SET_PDEATHSIG: the getppid() watchdog must suffice on its own.
    code = """
        import os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", (
            "import sys, time\\n"
            "from mlxstudio.core.serve.lifeline import _watch\\n"
            "_watch(int(sys.argv[1]), 0.1)\\n"
            "time.sleep(600)\\n"
        ), str(os.getpid())])
        print("child", child.pid, flush=True)
        child.wait()
    """
    _kill_parent_and_check_child(code)


def test_serve_refuses_a_parent_that_is_already_gone(tiny_model):
    proc = subprocess.run(
        [sys.executable, "-m", "mlxstudio", "serve", str(tiny_model), "--parent-pid", "999999999"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "mlxstudio: error: the process that started this server (999999999) has ended"
    )
