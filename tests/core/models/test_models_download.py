"""Download against a local server that answers like the hub (HF_ENDPOINT points at it)."""

from __future__ import annotations

import errno
import hashlib
import socket

import pytest
from hubserver import start_hub

from mlxstudio.core.errors import UserError
from mlxstudio.core.models import download as dl


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A hub on 127.0.0.1 that HF_ENDPOINT points at; add repos with hub.add()."""
    state, stop = start_hub(tmp_path / "hub", monkeypatch)
    yield state
    stop()


def test_download_whole_repo_with_progress(hub, tiny_model, studio_home):
    hub.add("org/tiny", tiny_model)
    seen = []
    out = dl.download("org/tiny", progress=lambda d, t, f: seen.append((d, t, f)))
    assert out == studio_home / "models" / "tiny"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (out / name).read_bytes() == (tiny_model / name).read_bytes()
    assert seen[-1][0] == seen[-1][1] > 0
    assert not dl.staging_dir(out).exists()


def test_cancel_keeps_partial_then_resume_asks_only_the_rest(hub, tiny_model, monkeypatch):
    hub.add("org/tiny", tiny_model)
    monkeypatch.setattr(dl, "CHUNK", 1024)
    calls = [0]

    def cancelled() -> bool:
        calls[0] += 1
        return calls[0] > 20

    with pytest.raises(dl.Cancelled, match="cancelled; run it again to resume"):
        dl.download("org/tiny", cancelled=cancelled)
    stage = dl.staging_dir(dl.default_target("org/tiny"))
    assert stage.is_dir()
    hub.requests.clear()
    out = dl.download("org/tiny")
    assert (out / "model.safetensors").read_bytes() == (
        tiny_model / "model.safetensors"
    ).read_bytes()
    assert not stage.exists()


def test_dropped_connection_resumes_with_range(hub, tiny_model, monkeypatch):
    hub.add("org/tiny", tiny_model)
    hub.cut_after = 5000
    with pytest.raises(UserError, match="connection ended early"):
        dl.download("org/tiny")
    hub.cut_after = None
    out = dl.download("org/tiny")
    assert (out / "model.safetensors").read_bytes() == (
        tiny_model / "model.safetensors"
    ).read_bytes()
    assert hub.ranges == [("model.safetensors", "bytes=5000-")]  # only the rest was asked


def test_listing_asks_for_sizes_and_progress_follows_them(hub, tiny_model, monkeypatch):
    hub.add("org/tiny", tiny_model)
    monkeypatch.setattr(dl, "CHUNK", 4096)
    seen = []
    dl.download("org/tiny", progress=lambda d, t, f: seen.append((d, t)))
    assert any(r.startswith("/api/models/org/tiny/revision/main?blobs=true") for r in hub.requests)
    _sha, files = dl.repo_files("org/tiny")
    weights = next(f for f in files if f.name == "model.safetensors")
    assert weights.size == (tiny_model / "model.safetensors").stat().st_size
    assert (
        weights.sha256
        == hashlib.sha256((tiny_model / "model.safetensors").read_bytes()).hexdigest()
    )
    assert next(f for f in files if f.name == "config.json").sha256 is None  # not an LFS file
    wanted = sum(
        f.size for f in files if f.name.endswith((".json", ".safetensors", ".txt", ".jinja"))
    )
    assert {t for _, t in seen} == {wanted}
    done = [d for d, _ in seen]
    assert done == sorted(done) and 0 < done[0] < wanted and done[-1] == wanted
    assert len(done) > 10  # the bar moves along the way, not only at the end


def test_a_corrupted_partial_file_is_refused_and_fetched_again(hub, tiny_model):
    hub.add("org/tiny", tiny_model)
    weights = (tiny_model / "model.safetensors").read_bytes()
    stage = dl.staging_dir(dl.default_target("org/tiny"))
    stage.mkdir(parents=True)
    (stage / "model.safetensors.part").write_bytes(b"\0" * 3000)  # an earlier, damaged try
    said = []
    out = dl.download("org/tiny", log=said.append)
    assert (out / "model.safetensors").read_bytes() == weights
    assert ("model.safetensors", "bytes=3000-") in hub.ranges  # it resumed first
    assert len(said) == 1
    assert said[0].startswith("model.safetensors: the downloaded file does not match the hub's")
    assert said[0].endswith("downloading it again")


def test_a_file_damaged_every_time_is_refused(hub, tiny_model):
    hub.add("org/tiny", tiny_model)
    hub.corrupt["model.safetensors"] = 2
    with pytest.raises(UserError, match="does not match the hub's checksum .* twice") as err:
        dl.download("org/tiny", log=lambda m: None)
    assert "Try again later" in str(err.value)
    out = dl.default_target("org/tiny")
    assert not out.exists()
    assert not (dl.staging_dir(out) / "model.safetensors").exists()  # never kept as good


def test_unknown_repo(hub):
    with pytest.raises(UserError, match="'org/nope' not found"):
        dl.download("org/nope")


def test_bad_repo_name(hub):
    with pytest.raises(UserError, match="owner/name"):
        dl.download("just-a-name")


def test_offline_says_so(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(UserError, match="offline"):
        dl.download("org/tiny")


def test_disk_full_removes_partial(hub, tiny_model, monkeypatch):
    hub.add("org/tiny", tiny_model)
    real_open = type(dl.staging_dir(dl.default_target("x"))).open

    def full_open(self, mode="r", *a, **k):
        fh = real_open(self, mode, *a, **k)
        if self.name.endswith(".safetensors.part"):

            class Full:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    fh.close()

                def write(self, _data):
                    raise OSError(errno.ENOSPC, "No space left on device")

            return Full()
        return fh

    monkeypatch.setattr(type(dl.default_target("x")), "open", full_open)
    with pytest.raises(UserError, match="disk filled up.*partial download .* was removed"):
        dl.download("org/tiny")
    assert not dl.staging_dir(dl.default_target("org/tiny")).exists()


def test_cli_download(hub, tiny_model, studio_home, capsys):
    from mlxstudio.cli import main

    hub.add("org/tiny", tiny_model)
    assert main(["models", "download", "org/tiny"]) == 0
    out = capsys.readouterr().out
    assert "progress 100%" in out and "Downloaded org/tiny" in out
    assert main(["models", "download", "org/nope"]) == 2
    assert "not found" in capsys.readouterr().err
