"""Serve one model over mlx-lm's OpenAI-compatible HTTP API, in this process or a child.

serve() blocks in this process (the `mlxstudio serve` command); start_server() runs that
command as a child process, so an MLX crash cannot take the caller (the GUI) down.

We reuse mlx-lm's ModelProvider, ResponseGenerator and APIHandler (backend.py) and fix
what does not suit an app: the model is loaded before the socket listens, so a bad model
fails at start rather than on the first request; every request is served by the model we
started with (mlx-lm loads whatever a request's "model" names, dropping the adapter);
/v1/models does not scan the Hugging Face cache (that crashes when the cache folder is
missing); the generation thread exits cleanly; on the CPU backend we serve in float32.
We add what a studio needs: an optional API key, a 404 for models we do not serve,
loopback-only unless the caller opts into the network, and a child that dies with its
parent (lifeline.py).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

from mlxstudio.core.errors import UserError
from mlxstudio.core.platform import with_fast_blas
from mlxstudio.core.serve.client import list_models
from mlxstudio.core.serve.loading import model_id, resolve_adapter, resolve_model

__all__ = ["ModelServer", "ServerProcess", "check_host", "serve", "start_server"]

# The environment variable that carries an API key to a server (not argv: `ps` shows that).
API_KEY_ENV = "MLXSTUDIO_API_KEY"


def serve(
    model: str,
    *,
    adapter: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    api_key: str | None = None,
    allow_network: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve MODEL (with an optional adapter) at host:port until interrupted (Ctrl-C).

    port=0 picks a free port. on_ready(url) is called once the model is loaded and the
    socket listens; url is the API base, e.g. http://127.0.0.1:8080/v1.
    """
    with ModelServer(
        model,
        adapter=adapter,
        host=host,
        port=port,
        api_key=api_key,
        allow_network=allow_network,
    ) as server:
        if on_ready is not None:
            on_ready(server.url)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


class ModelServer:
    """A loaded model behind a listening socket; serve_forever() answers requests.

    Constructing it validates the folders, binds the port, loads the model and listens,
    raising UserError on any failure. Use shutdown() from another thread to stop
    serve_forever(), and close() (or a with-block) to release the port and the model.
    """

    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        api_key: str | None = None,
        allow_network: bool = False,
    ) -> None:
        check_host(host, allow_network)
        model_path = resolve_model(model)
        adapter_path = resolve_adapter(adapter) if adapter else None
        self.model_id = model_id(model_path, adapter_path)
        # Bind before loading so a taken port fails in a second, not after a long load.
        self._httpd = _bind(host, port)
        self._httpd.api_key = api_key or None
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://{_url_host(host)}:{self.port}/v1"
        self._generator = None
        try:
            # MLX is imported here, not at module import: the CLI may re-exec with OpenBLAS.
            from mlx_lm.models.cache import LRUPromptCache
            from mlx_lm.server import get_system_fingerprint

            from mlxstudio.core.serve import backend

            args = backend.mlx_lm_args(model_path, adapter_path)
            provider = backend.PinnedModelProvider(args)
            self._generator = backend.StudioResponseGenerator(
                provider, LRUPromptCache(args.prompt_cache_size)
            )
            provider.wait_loaded(self._generator)
            self._httpd.model_entry = {
                "id": self.model_id,
                "object": "model",
                "created": int(time.time()),
                "owned_by": "mlxstudio",
                "path": str(model_path),
                "adapter": str(adapter_path) if adapter_path else None,
            }
            self._httpd.RequestHandlerClass = functools.partial(
                backend.StudioHandler,
                self._generator,
                system_fingerprint=get_system_fingerprint(),
            )
            self._httpd.server_activate()
        except BaseException:
            self.close()
            raise

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop serve_forever() from another thread and wait for it to return.

        Only call it once serve_forever() runs or is about to: otherwise it waits forever.
        """
        self._httpd.shutdown()

    def close(self) -> None:
        self._httpd.server_close()
        if self._generator is not None:
            self._generator.stop_and_join()
            self._generator = None

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_server(
    model: str,
    *,
    adapter: str | None = None,
    port: int = 0,
    api_key: str | None = None,
    timeout: float = 120,
) -> ServerProcess:
    """Start `mlxstudio serve` in a child process on 127.0.0.1; return once it answers.

    The child exits when this process dies (see lifeline.py); on Linux, also when the
    calling thread ends, so call it from a thread that outlives the server.

    For port=0 we pick a free port here and pass it on (another program could take it in
    the moment between; the child then fails with "port in use" and we say so). The child's
    stderr goes to `log_path`; if it exits before answering, its last lines are the error.
    """
    model_path = resolve_model(model)
    adapter_path = resolve_adapter(adapter) if adapter else None
    probe = _bind("127.0.0.1", port)  # a free-port pick, or a quick "port in use" check
    port = probe.server_address[1]
    probe.server_close()
    fd, log_name = tempfile.mkstemp(prefix="mlxstudio-serve-", suffix=".log")
    env = with_fast_blas(os.environ)
    env[API_KEY_ENV] = api_key or ""  # never a key inherited from our own environment
    with os.fdopen(fd, "wb") as log_file:
        process = subprocess.Popen(
            _serve_command(str(model_path), str(adapter_path) if adapter_path else None, port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env=env,
        )
    server = ServerProcess(process, port, Path(log_name), api_key=api_key)
    try:
        server.wait_ready(timeout, model_id(model_path, adapter_path))
    except BaseException:
        server.stop()
        raise
    return server


class ServerProcess:
    """A `mlxstudio serve` child process; stop() it, or use it as a context manager."""

    def __init__(
        self, process: subprocess.Popen, port: int, log_path: Path, api_key: str | None = None
    ) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}/v1"
        self.log_path = log_path
        self.api_key = api_key

    def wait_ready(self, timeout: float, expected_id: str | None = None) -> None:
        """Poll /v1/models until the server answers; UserError if it exits or times out.

        With expected_id, only an answer listing that model counts (not another program
        that took the port first).
        """
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise UserError(f"the server stopped (exit code {code}): {self._log_tail()}")
            with contextlib.suppress(UserError):  # refused while the model loads
                models = list_models(self.url, timeout=5, api_key=self.api_key)
                if expected_id is None or expected_id in models:
                    return
            if time.monotonic() > deadline:
                raise UserError(f"the server did not answer within {timeout:g} s")
            time.sleep(0.2)

    def stop(self, timeout: float = 10) -> None:
        """Terminate the server (kill it if it does not exit within timeout); idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)

    def _log_tail(self, lines: int = 10) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "no error output"
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return "\n".join(tail) if tail else "no error output"

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve_command(model: str, adapter: str | None, port: int) -> list[str]:
    command = [sys.executable, "-m", "mlxstudio", "serve", model, "--port", str(port)]
    command += ["--parent-pid", str(os.getpid())]
    return command + (["--adapter", adapter] if adapter else [])


def check_host(host: str, allow_network: bool) -> None:
    """UserError unless host is this machine only, or the caller opted into the network."""
    if allow_network or _is_loopback(host):
        return
    raise UserError(
        f"serving on {host} lets other machines on the network use this model; "
        "add --allow-network if that is what you want (default: 127.0.0.1, this machine only)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _HTTPServer(ThreadingHTTPServer):
    allow_reuse_port = False  # two servers must never share a port
    request_queue_size = 128  # the stdlib's 5 makes bursts of clients wait for SYN retries
    model_entry: dict
    api_key: str | None = None

    def __init__(self, address: tuple, family: int) -> None:
        self.address_family = family
        super().__init__(address, None, bind_and_activate=False)


def _bind(host: str, port: int) -> _HTTPServer:
    """A server bound to host:port but not yet listening (so clients get refused meanwhile)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UserError(f"cannot serve on host {host}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    httpd = _HTTPServer(address, family)
    try:
        httpd.server_bind()
    except OSError as e:
        httpd.server_close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} is already in use on {host}; "
                "choose another with --port N, or --port 0 for a free one"
            ) from None
        raise UserError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
    return httpd


def _url_host(host: str) -> str:
    """The host to put in a URL for clients on this machine."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
