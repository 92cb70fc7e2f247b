"""Our subclasses of mlx-lm's server pieces. Imports MLX: load lazily (see server.py)."""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import threading
import urllib.parse
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten
from mlx_lm.generate import DEFAULT_QUANTIZED_KV_START
from mlx_lm.server import APIHandler, ModelProvider, ResponseGenerator
from mlx_lm.utils import dequantize_model

from mlxstudio.core.errors import UserError
from mlxstudio.core.platform import compute_dtype_name
from mlxstudio.core.serve.loading import one_line

log = logging.getLogger("mlxstudio.serve")

# mlx-lm's name for "the model the server was started with".
DEFAULT_MODEL = "default_model"

# Don't dequantize to float32 if that would take more than this share of the machine's RAM.
_MAX_RAM_SHARE = 0.6


def mlx_lm_args(model: Path, adapter: Path | None) -> argparse.Namespace:
    """The options mlx_lm.server's main() would parse, at its defaults."""
    return argparse.Namespace(
        model=str(model),
        adapter_path=str(adapter) if adapter else None,
        draft_model=None,
        num_draft_tokens=3,
        trust_remote_code=False,
        chat_template="",
        use_default_chat_template=False,
        chat_template_args={},
        allowed_origins=["*"],
        temp=0.0,
        top_p=1.0,
        top_k=0,
        min_p=0.0,
        max_tokens=512,
        decode_concurrency=32,
        prompt_concurrency=8,
        prefill_step_size=2048,
        prompt_cache_size=10,
        prompt_cache_bytes=None,
        kv_bits=None,
        kv_group_size=64,
        quantized_kv_start=DEFAULT_QUANTIZED_KV_START,
        pipeline=False,
    )


class PinnedModelProvider(ModelProvider):
    """mlx-lm's ModelProvider, always serving the startup model, in the compute dtype.

    mlx-lm loads whatever a request's "model" field names (a hub repo or any path on
    disk), and drops the adapter when it does; a studio server serves one model.
    """

    def __init__(self, cli_args: argparse.Namespace) -> None:
        super().__init__(cli_args)
        self._loaded = threading.Event()
        self._load_error: Exception | None = None

    def load_default(self) -> None:
        # Runs first thing on mlx-lm's generation thread, so the model lives on that thread.
        try:
            super().load_default()
        except Exception as e:
            # Keep the thread quiet; wait_loaded() reports the error and the caller stops it.
            self._load_error = e
        finally:
            self._loaded.set()

    def load(self, model_path, adapter_path=None, draft_model_path=None):
        return super().load("default_model", None, "default_model")

    def _load(self, model_path, adapter_path=None, draft_model_path=None) -> None:
        super()._load(model_path, adapter_path, draft_model_path)
        self.model = to_compute_dtype(self.model)

    def wait_loaded(self, generator: ResponseGenerator) -> None:
        """Block until the generation thread has loaded the model; UserError if it failed."""
        while not self._loaded.wait(0.2):
            if not generator.generation_available():
                break
        if self._load_error is not None or self.model is None:
            error = self._load_error or RuntimeError("the generation thread died")
            raise UserError(f"cannot load model {self.cli_args.model}: {one_line(error)}")


class StudioResponseGenerator(ResponseGenerator):
    """mlx-lm's generation thread, made to exit cleanly.

    Since MLX made streams thread-local, a thread that used MLX must call clear_streams()
    before it ends, or the process may abort at exit ("terminate called without an active
    exception"); mlx-lm's server does not, so even a clean Ctrl-C of it can abort.
    """

    def _run_generate(self) -> None:
        try:
            super()._run_generate()
        finally:
            clear_streams = getattr(mx, "clear_streams", None)  # absent in older MLX
            if clear_streams is not None:
                clear_streams()


class StudioHandler(APIHandler):
    """mlx-lm's API handler, with an optional API key, a check of the requested model, and
    a /v1/models that does not scan the Hugging Face cache.

    mlx-lm's /v1/models sends 200 headers, then calls scan_cache_dir(), which raises when
    the cache folder does not exist: the client gets an empty 200 answer. Expects the
    server object to carry `model_entry` (the one model served) and `api_key` (or None).
    """

    def do_GET(self) -> None:
        if self._authorized():
            super().do_GET()

    def do_POST(self) -> None:
        if self._authorized():
            super().do_POST()

    def handle_completion(self, request, stop_words) -> None:
        # mlx-lm would load whatever "model" names; we answer only for the one we serve.
        if not self._serves(self.requested_model):
            served = self.server.model_entry["id"]
            self._send_error(
                404,
                f"model {self.requested_model!r} is not served here; use {served!r}",
                "model_not_found",
            )
            return
        super().handle_completion(request, stop_words)

    def handle_models_request(self) -> None:
        entry = self.server.model_entry
        wanted = urllib.parse.unquote(self.path.split("?")[0][len("/v1/models") :].strip("/"))
        if not wanted:
            self._send_json(200, {"object": "list", "data": [entry]})
        elif self._serves(wanted):
            self._send_json(200, entry)
        else:
            self._send_error(404, f"model {wanted!r} is not served here", "model_not_found")

    def _serves(self, name: str) -> bool:
        entry = self.server.model_entry
        return name.strip("/") in (entry["id"], entry["path"].strip("/"), DEFAULT_MODEL)

    def _authorized(self) -> bool:
        key = self.server.api_key
        if not key:
            return True
        given = self.headers.get("Authorization", "")
        token = given[len("Bearer ") :].strip() if given.startswith("Bearer ") else ""
        # Constant-time comparison: the key must not leak through response timing.
        if hmac.compare_digest(token.encode(), key.encode()):
            return True
        what = "wrong API key" if token else "missing API key"
        self._send_error(
            401, f"{what}: send the header 'Authorization: Bearer KEY'", "invalid_api_key"
        )
        return False

    def _send_error(self, status: int, message: str, code: str) -> None:
        # OpenAI's error shape, which its clients turn into a readable exception.
        error = {"message": message, "type": "invalid_request_error", "code": code}
        self._send_json(status, {"error": error})

    def _send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self._set_completion_headers(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        # The stdlib prints one line per request to stderr; route it through logging.
        log.info("%s %s", self.address_string(), format % args)


def to_compute_dtype(model: nn.Module) -> nn.Module:
    """Cast the model to the platform's compute dtype (float32 on CPU; unchanged on Metal).

    On the CPU backend quantized and half-precision matmuls are far slower than float32
    (measured here: a 4-bit SmolLM2-135M-shaped model decodes 0.2 tokens/s, its float32
    copy 17), so we dequantize and upcast, unless float32 weights would not fit in RAM.
    """
    if compute_dtype_name() != "float32":
        return model
    params = tree_flatten(model.parameters())
    quantized = any(name.endswith(".scales") for name, _ in params)
    floats = [v.dtype for _, v in params if mx.issubdtype(v.dtype, mx.floating)]
    if not quantized and all(dtype == mx.float32 for dtype in floats):
        return model
    needed, ram = _float32_bytes(model, params), _ram_bytes()
    if ram and needed > _MAX_RAM_SHARE * ram:
        log.warning(
            "serving in the model's own dtype (slow on CPU): float32 needs %.1f of %.1f GB RAM",
            needed / 1e9,
            ram / 1e9,
        )
        return model
    model = dequantize_model(model)
    model.set_dtype(mx.float32)
    mx.eval(model.parameters())
    return model


def _float32_bytes(model: nn.Module, params: list) -> int:
    modules = dict(model.named_modules())
    total = 0
    for name, value in params:
        # Quantized weights are packed into uint32: 32 // bits values per element.
        bits = getattr(modules.get(name.rpartition(".")[0]), "bits", None)
        per_element = 32 // bits if bits and value.dtype == mx.uint32 else 1
        total += value.size * per_element * 4
    return total


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
