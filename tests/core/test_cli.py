"""The `mlxstudio` command: bad input gets one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from mlxstudio.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlxstudio", *args], capture_output=True, text=True, timeout=300
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mlxstudio: error: ")
    return lines[0]


def test_missing_config_file(tmp_path):
    line = one_line_error(run_cli("train", str(tmp_path / "nope.yaml")))
    assert "nope.yaml: no such file" in line


def test_unknown_key_names_nearest(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: m\nnum_layer: 4\n")
    line = one_line_error(run_cli("train", str(cfg)))
    assert "c.yaml:2" in line and "'num_layer'" in line and "'num_layers'" in line


def test_wrong_type(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("batch_size: [1, 2]\n")
    assert "'batch_size' must be an integer" in one_line_error(run_cli("train", str(cfg)))


def test_missing_gguf(tmp_path):
    line = one_line_error(run_cli("models", "import-gguf", str(tmp_path / "x.gguf")))
    assert "x.gguf" in line


def test_unknown_model_for_serve():
    assert "model 'no-such-model' not found" in one_line_error(run_cli("serve", "no-such-model"))


def test_port_in_use(tiny_model):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_line_error(run_cli("serve", str(tiny_model), "--port", str(port)))
    assert f"port {port}" in line and "in use" in line


def test_chat_without_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = one_line_error(run_cli("chat", "--url", f"http://127.0.0.1:{port}/v1", "hi"))
    assert "no server answers" in line


def test_models_list_empty_then_present(tiny_model, studio_home, capsys):
    assert main(["models", "list"]) == 0
    assert "No models" in capsys.readouterr().out
    import shutil

    shutil.copytree(tiny_model, studio_home / "models" / "tiny-llama")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny-llama" in out and "llama" in out and "yes" in out


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])
    assert exit_info.value.code == 2
