"""A local stand-in for the Hugging Face hub: its model-info and resolve endpoints, with
Range requests, served from a folder of repos on 127.0.0.1 (no network in tests).

As the real hub, the model-info listing gives file names only, unless asked with
`?blobs=true` (huggingface_hub's files_metadata=True): then each file's size, and for LFS
files (the weights) an `lfs` entry with the content's sha256.

Uploads answer as the hub's API does for huggingface_hub's HfApi.whoami, create_repo and
upload_folder (create_commit) over plain LFS (HF_HUB_DISABLE_XET=1: Xet's storage protocol
is not served here):

    GET  /api/whoami-v2                                   -> {"name": user, "type": "user"}
    POST /api/repos/create {name, organization, visibility} -> {"url"}; 409 if it exists
    POST /api/validate-yaml {content, repoType}           -> {"errors": [], "warnings": []}
    POST /api/models/{repo}/preupload/{rev} {files}       -> each file's uploadMode
    POST /{repo}.git/info/lfs/objects/batch               -> an upload href per object
    PUT  /lfs/{oid}                                       (the content; sha256 checked)
    POST /api/models/{repo}/commit/{rev} (ndjson)         -> {"commitUrl", "commitOid"}

Every upload call needs `Authorization: Bearer TOKEN` with a token of `tokens` (401 as the
hub answers otherwise), and a user writes only under their own name (403)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

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
        self.tokens: dict[str, str] = {}  # upload token -> its user's name
        self.private: set[str] = set()  # repos created private
        self.lfs: dict[str, bytes] = {}  # oid -> content uploaded, before its commit
        self.commits: list[dict] = []  # {"repo", "summary", "files"} of each commit

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
            if path == "/api/whoami-v2":
                user = self._user()
                return None if user is None else self._json(200, {"name": user, "type": "user"})
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

        def do_POST(self) -> None:  # noqa: N802
            hub.requests.append("POST " + unquote(self.path))
            path = unquote(urlsplit(self.path).path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            user = self._user()
            if user is None:
                return None
            if path == "/api/repos/create":
                ask = json.loads(body)
                repo = f"{ask.get('organization') or user}/{ask['name']}"
                if repo.split("/")[0] != user:
                    words = "You don't have the rights to create a model under the namespace"
                    return self._json(403, {"error": f"{words} {repo.split('/')[0]}"})
                if (hub.root / repo).is_dir():
                    taken = {"error": "You already created this model repo"}  # and its url,
                    return self._json(409, taken | {"url": f"{self._base()}/{repo}"})  # as the hub
                (hub.root / repo).mkdir(parents=True)
                if ask.get("visibility") == "private" or ask.get("private"):
                    hub.private.add(repo)
                return self._json(200, {"url": f"{self._base()}/{repo}", "name": repo})
            if path == "/api/validate-yaml":
                content = json.loads(body)["content"]
                try:
                    meta = (
                        yaml.safe_load(content.split("---")[1]) if content.startswith("---") else {}
                    )
                except yaml.YAMLError as err:
                    return self._json(400, {"errors": [{"message": str(err)}]})
                warnings = [] if meta else [{"message": "empty metadata"}]
                return self._json(200, {"errors": [], "warnings": warnings})
            if path.endswith(".git/info/lfs/objects/batch"):
                repo = path.removeprefix("/").removesuffix(".git/info/lfs/objects/batch")
                if not self._may_write(user, repo):
                    return None
                objects = [
                    {"oid": o["oid"], "size": o["size"], "authenticated": True,
                     "actions": {"upload": {"href": f"{self._base()}/lfs/{o['oid']}"}}}
                    for o in json.loads(body)["objects"]
                ]  # fmt: skip
                return self._json(200, {"transfer": "basic", "objects": objects})
            repo, _, action = path.removeprefix("/api/models/").rpartition("/")[0].rpartition("/")
            if not self._may_write(user, repo):
                return None
            if action == "preupload":
                files = [
                    {"path": f["path"], "shouldIgnore": False,
                     "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular"}
                    for f in json.loads(body)["files"]
                ]  # fmt: skip
                return self._json(200, {"files": files, "commitOid": "0" * 40})
            if action == "commit":
                return self._commit(repo, body)
            return self._send(404, b"Not found")

        def do_PUT(self) -> None:  # noqa: N802 - an LFS object's content (basic transfer)
            hub.requests.append("PUT " + unquote(self.path))
            oid = urlsplit(self.path).path.rsplit("/", 1)[-1]
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if hashlib.sha256(data).hexdigest() != oid:
                return self._json(400, {"error": "sha256 does not match the oid"})
            hub.lfs[oid] = data
            return self._send(200, b"")

        def _commit(self, repo: str, body: bytes) -> None:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header, written = lines[0]["value"], []
            for line in lines[1:]:
                value = line["value"]
                if line["key"] == "file":
                    data = base64.b64decode(value["content"])
                elif line["key"] == "lfsFile":
                    if value["oid"] not in hub.lfs:
                        missing = f"LFS object {value['oid']} was not uploaded"
                        return self._json(422, {"error": missing})
                    data = hub.lfs.pop(value["oid"])
                else:
                    return self._json(400, {"error": f"unexpected {line['key']}"})
                target = hub.root / repo / value["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                written.append(value["path"])
            oid = hashlib.sha1(json.dumps(lines).encode()).hexdigest()
            hub.commits.append({"repo": repo, "summary": header["summary"], "files": written})
            url = f"{self._base()}/{repo}/commit/{oid}"
            return self._json(200, {"success": True, "commitOid": oid, "commitUrl": url})

        def _user(self) -> str | None:
            """The caller's name by its token; None after answering 401 as the hub does."""
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in hub.tokens:
                return hub.tokens[token]
            self._json(401, {"error": "Invalid credentials in Authorization header"})
            return None

        def _may_write(self, user: str, repo: str) -> bool:
            if not (hub.root / repo).is_dir():
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
            if repo.split("/")[0] != user:
                self._json(403, {"error": "You don't have the rights to write to this repo"})
                return False
            return True

        def _base(self) -> str:
            return f"http://{self.headers.get('Host')}"

        def _json(self, code: int, body: dict) -> None:
            self._send(code, json.dumps(body).encode(), "application/json")

        def _send(self, code: int, body: bytes, kind: str = "") -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            if kind:
                self.send_header("Content-Type", kind)
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
