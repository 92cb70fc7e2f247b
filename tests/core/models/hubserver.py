"""A local stand-in for the Hugging Face hub: its model-info and resolve endpoints, with
Range requests, served from a folder of repos on 127.0.0.1 (no network in tests).

As the real hub, the model-info listing gives file names only, unless asked with
`?blobs=true` (huggingface_hub's files_metadata=True): then each file's size, and for LFS
files (the weights) an `lfs` entry with the content's sha256."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")  # what .gitattributes sends to LFS


class Hub:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self.cut_after: int | None = None  # bytes to send of a file before dropping
        self.ignore_range = False
        self.delay = 0.0  # seconds between 4 KB pieces of a file (to cancel mid-way)
        self.ranges: list[tuple[str, str]] = []  # (file, Range header) of ranged requests
        self.corrupt: dict[str, int] = {}  # file name -> how many more times to damage it

    def add(self, repo: str, folder: Path) -> None:
        shutil.copytree(folder, self.root / repo)


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            hub.requests.append(unquote(self.path))
            url = urlsplit(self.path)
            path = unquote(url.path)
            if path.startswith("/api/models/"):
                repo = path.removeprefix("/api/models/").split("/revision/")[0]
                folder = hub.root / repo
                if not folder.is_dir():
                    return self._send(404, b'{"error": "Repository not found"}')
                blobs = parse_qs(url.query).get("blobs", ["false"])[0].lower() == "true"
                files = sorted(p for p in folder.rglob("*") if p.is_file())
                body = {
                    "id": repo,
                    "sha": "0123abcd",
                    "siblings": [_sibling(p, folder, blobs) for p in files],
                }
                return self._send(200, json.dumps(body).encode())
            owner, name, kind, _rev, *rest = path.lstrip("/").split("/")
            file = hub.root / owner / name / "/".join(rest)
            if kind != "resolve" or not file.is_file():
                return self._send(404, b"Entry not found")
            data = file.read_bytes()
            if hub.corrupt.get(file.name):
                hub.corrupt[file.name] -= 1
                data = data[:-1] + bytes([data[-1] ^ 0xFF])  # same size, other content
            start = 0
            rng = self.headers.get("Range")
            if rng:
                hub.ranges.append((file.name, rng))
            if rng and not hub.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
            status = 206 if start else 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if hub.cut_after is not None and len(body) > hub.cut_after:
                self.wfile.write(body[: hub.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return None
            if hub.delay:
                for i in range(0, len(body), 4096):
                    self.wfile.write(body[i : i + 4096])
                    time.sleep(hub.delay)
                return None
            self.wfile.write(body)
            return None

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _sibling(path: Path, folder: Path, blobs: bool) -> dict:
    entry: dict = {"rfilename": str(path.relative_to(folder))}
    if not blobs:
        return entry
    data = path.read_bytes()
    entry |= {"size": len(data), "blobId": hashlib.sha1(data).hexdigest()}
    if path.suffix in LFS_SUFFIXES:
        sha = hashlib.sha256(data).hexdigest()
        entry["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
    return entry


def start_hub(root: Path, monkeypatch) -> tuple[Hub, object]:
    """Serve repos under `root` on 127.0.0.1; HF_ENDPOINT points at it. Returns (hub, stop)."""
    root.mkdir(parents=True, exist_ok=True)
    state = Hub(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return state, stop
