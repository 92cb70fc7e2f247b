"""Download a model repository from the Hugging Face hub (or anything speaking its file API).

Plain HTTP rather than huggingface_hub's snapshot_download / HfApi.model_info, because the
app needs what those do not give: byte progress across the whole repo, cancel between any
two chunks, a clear message for each failure, and calls that work while HF_HUB_OFFLINE=1
(which `mlxstudio` sets so that nothing else reaches the hub unasked). The two endpoints
used, as huggingface_hub calls them (model_info(files_metadata=True), hf_hub_download):

    GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true
        -> {"sha": ..., "siblings": [{"rfilename", "size", "lfs": {"sha256", "size"}}]}
    GET {endpoint}/{repo}/resolve/{sha}/{file}             (Range: bytes=N- to resume)

Without blobs=true the hub lists names only: no sizes (so no progress and no truncation
check) and no checksums. Each LFS file (the weights) is checked against its sha256 as it
arrives; a file that does not match is discarded and fetched once more from the start.

HF_ENDPOINT points it elsewhere (a mirror, or the tests' local server); HF_TOKEN is sent if
set. Files land in a hidden `.NAME.download` folder beside the target: a cancelled or
interrupted download resumes from there; the folder is renamed into place when complete.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import http.client
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError

DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK = 1 << 20
# What a model folder needs; PyTorch pickles and GGUF copies of the same weights are skipped.
DEFAULT_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.jinja")
TIMEOUT_S = 30

Progress = Callable[[int, int, str], None]  # bytes done, bytes total, current file


class Cancelled(UserError):
    """The user stopped the download; the partial files are kept for resuming."""


@dataclass
class RepoFile:
    name: str
    size: int | None
    sha256: str | None = None  # LFS files: the content's sha256, as the hub lists it


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def _request(url: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    headers = dict(headers or {})
    if os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['HF_TOKEN']}"
    headers.setdefault("User-Agent", "mlxstudio")
    return urllib.request.Request(url, headers=headers)


def _open(url: str, repo: str, headers: dict[str, str] | None = None):
    try:
        return urllib.request.urlopen(_request(url, headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise UserError(
                f"'{repo}' not found on {endpoint()}: check the name (as 'owner/name', "
                "e.g. mlx-community/SmolLM2-135M-Instruct-4bit)"
            ) from None
        if err.code in (401, 403):
            raise UserError(
                f"'{repo}' needs permission on {endpoint()} (gated or private): accept its "
                "licence on the website and set HF_TOKEN"
            ) from None
        raise UserError(f"{endpoint()} answered {err.code} {err.reason} for {repo}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(
            f"cannot reach {endpoint()} ({reason}): this machine looks offline. Connect to the "
            "internet, or copy the model folder here and use it directly"
        ) from None


def repo_files(repo: str, revision: str = "main") -> tuple[str, list[RepoFile]]:
    """The commit a revision points at, and the repo's files (with sizes when the hub says)."""
    if repo.count("/") != 1 or any(not part for part in repo.split("/")):
        raise UserError(f"'{repo}': a hub repo is named 'owner/name'")
    quoted = urllib.parse.quote(repo, safe="/")
    url = f"{endpoint()}/api/models/{quoted}/revision/{urllib.parse.quote(revision)}?blobs=true"
    with _open(url, repo) as resp:
        try:
            info = json.loads(resp.read())
        except ValueError:
            raise UserError(f"{endpoint()} did not answer like a model hub for {repo}") from None
    files = [
        RepoFile(s["rfilename"], s.get("size"), (s.get("lfs") or {}).get("sha256"))
        for s in info.get("siblings", [])
    ]
    return str(info.get("sha") or revision), files


def _wanted(files: list[RepoFile], patterns: tuple[str, ...]) -> list[RepoFile]:
    return [f for f in files if any(fnmatch.fnmatch(f.name, p) for p in patterns)]


def default_target(repo: str) -> Path:
    return paths.models_dir() / repo.split("/")[-1]


def staging_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.download"


def download(
    repo: str,
    out: Path | None = None,
    *,
    revision: str = "main",
    patterns: tuple[str, ...] = DEFAULT_PATTERNS,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Fetch `repo` into the model folder `out` (default: the app's model folder); `log`
    hears of a file fetched again after failing its checksum."""
    out = Path(out).expanduser() if out else default_target(repo)
    if out.exists() and not overwrite:
        if (out / "config.json").is_file():
            raise UserError(f"{out} already exists; use --overwrite to download again")
        raise UserError(f"{out} exists and is not a model folder; choose another --out")
    sha, files = repo_files(repo, revision)
    files = _wanted(files, patterns)
    if not any(f.name == "config.json" for f in files):
        raise UserError(f"'{repo}' has no config.json: not a model repo MLX can use")
    stage = staging_dir(out)
    stage.mkdir(parents=True, exist_ok=True)
    total = sum(f.size or 0 for f in files)
    done = [sum(_have(stage, f) for f in files)]
    try:
        for f in files:
            args = (repo, sha, f, stage, done, total, progress, cancelled)
            try:
                _fetch(*args)
            except Corrupt as err:  # a damaged partial file, or bytes damaged on the way
                log(f"{err}; downloading it again")
                _fetch(*args)
    except Corrupt as err:
        raise UserError(
            f"{err} twice: the copy on {endpoint()} or the connection is damaging it. "
            "Try again later, or from another network"
        ) from None
    except KeyboardInterrupt:  # Cancel in the GUI interrupts the child process
        kept = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file())
        raise Cancelled(
            f"download of {repo} cancelled; run it again to resume "
            f"({kept / 1e6:.1f} MB kept in {stage})"
        ) from None
    except OSError as err:
        if err.errno == errno.ENOSPC:
            shutil.rmtree(stage, ignore_errors=True)
            raise UserError(
                f"the disk filled up while downloading {repo}; the partial download "
                f"({stage}) was removed. Free some space and try again"
            ) from None
        raise
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
    return out


def _have(stage: Path, f: RepoFile) -> int:
    done = stage / f.name
    if done.is_file():
        return done.stat().st_size
    part = stage / f"{f.name}.part"
    return part.stat().st_size if part.is_file() else 0


class Corrupt(UserError):
    """A file's content does not match the sha256 the hub lists for it."""


def _sha256(path: Path):  # -> hashlib._Hash (private type)
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
    return digest


def _fetch(
    repo: str,
    sha: str,
    f: RepoFile,
    stage: Path,
    done: list[int],
    total: int,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> None:
    dest = stage / f.name
    if dest.is_file() and (f.size is None or dest.stat().st_size == f.size):
        return  # checked before it was renamed into place
    part = stage / f"{f.name}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.is_file() else 0
    if f.size is not None and have > f.size:  # not this file's start: begin again
        part.unlink()
        done[0] -= have
        have = 0
    digest = _sha256(part) if f.sha256 and have else hashlib.sha256()
    quoted = urllib.parse.quote(f"{repo}/resolve/{sha}/{f.name}", safe="/")
    headers = {"Range": f"bytes={have}-"} if have else {}
    with _open(f"{endpoint()}/{quoted}", repo, headers) as resp:
        if have and resp.status != 206:  # the server ignored the range: start this file over
            done[0] -= have
            have = 0
            digest = hashlib.sha256()
        with part.open("ab" if have else "wb") as fh:
            while True:
                if cancelled and cancelled():
                    raise Cancelled(
                        f"download of {repo} cancelled; run it again to resume "
                        f"({done[0] / 1e6:.1f} MB kept in {stage})"
                    )
                try:
                    chunk = resp.read(CHUNK)
                except (http.client.HTTPException, ConnectionError, TimeoutError):
                    chunk = b""  # a dropped connection: what arrived is kept for resuming
                if not chunk:
                    break
                fh.write(chunk)
                digest.update(chunk)
                done[0] += len(chunk)
                if progress:
                    progress(done[0], total, f.name)
    size = part.stat().st_size
    if f.size is not None and size < f.size:
        raise UserError(
            f"{f.name}: the connection ended early ({size} of {f.size} bytes); "
            "run the download again to resume"
        )
    if f.sha256 and digest.hexdigest() != f.sha256:
        part.unlink()
        done[0] -= size
        raise Corrupt(
            f"{f.name}: the downloaded file does not match the hub's checksum (sha256 "
            f"{digest.hexdigest()[:12]}… instead of {f.sha256[:12]}…), so it was discarded"
        )
    part.rename(dest)
