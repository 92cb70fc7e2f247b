"""`mlxstudio push` against a local hub that answers like the Hugging Face Hub's upload API
(hubserver.py): fused or adapters-only, the model card, tokens and namespaces, and the
published model downloaded back and loaded by mlx-lm."""

from __future__ import annotations

import json

import pytest
import yaml
from eval_run import make_tiny_run
from hubserver import start_hub

from mlxstudio.cli import main
from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.push import push

TOKEN = "hf_alice_write"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("push-run"))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The fake hub, alice's token in HF_TOKEN, LFS uploads (the hub's Xet storage is not
    served here), and no token stored by a login on this machine."""
    from huggingface_hub import constants

    state, stop = start_hub(tmp_path / "hub", monkeypatch)
    state.tokens = {TOKEN: "alice", "hf_bob": "bob"}
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    yield state
    stop()


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_push_a_run_fused_with_its_card_and_load_it_back(hub, tiny_run, capsys, studio_home):
    import mlx.core as mx
    from mlx_lm import load

    from mlxstudio.core.models.download import download

    code = main(["push", str(tiny_run), "--repo", "alice/tiny-sums", "--private"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip().endswith("/alice/tiny-sums") and "Fusing the adapters" in err
    repo = hub.root / "alice" / "tiny-sums"
    names = sorted(p.name for p in repo.iterdir())
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md"):
        assert name in names
    assert "adapters.safetensors" not in names and "checkpoints" not in names
    assert "alice/tiny-sums" in hub.private
    assert hub.commits[-1]["summary"] == f"Upload {tiny_run.name} from MLX Studio"
    # the weights went by LFS (preupload said so), the rest inline in the commit
    assert any(r.startswith("PUT /lfs/") for r in hub.requests)

    card = (repo / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "mlx" and meta["license"] == "other"
    assert {"mlx", "mlxstudio", "sft", "lora"} <= set(meta["tags"])
    assert "supervised fine-tuning (SFT), LoRA (rank 8, scale 20.0) on the last 2 layers" in card
    assert "- `train.jsonl`: 24 examples" in card and "- `test.jsonl`: 4 examples" in card
    assert "| `learning_rate` | `0.005` |" in card and "| `mask_prompt` | `true` |" in card
    first, last = (runs.read_meta(tiny_run)[k] for k in ("first_val_loss", "last_val_loss"))
    assert f"| Validation loss | {first:.4g} | {last:.4g} |" in card
    assert "## Evaluation" in card and "| Exact match |" in card  # core/eval/card.py's
    assert str(tiny_run.parent) not in card  # no paths of this computer

    # downloaded back from the hub, it loads and computes as the run's model
    got = download("alice/tiny-sums", out=studio_home / "back")
    model, _ = load(str(got))
    base, _ = load(str(tiny_run.parent / "tiny-llama"), adapter_path=str(tiny_run))
    tokens = mx.array([[1, 5, 9, 12]])
    assert mx.allclose(model(tokens), base(tokens), atol=1e-4).item()


def test_push_the_adapters_only(hub, tiny_run):
    url = push(tiny_run, "alice/tiny-adapter", adapter_only=True, license="apache-2.0")
    assert url.endswith("/alice/tiny-adapter")
    repo = hub.root / "alice" / "tiny-adapter"
    assert sorted(p.name for p in repo.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapters.safetensors",
    ]
    config = json.loads((repo / "adapter_config.json").read_text())
    assert config["model"] == "tiny-llama" and config["data"] == "data"
    assert (repo / "adapters.safetensors").read_bytes() == (
        tiny_run / "adapters.safetensors"
    ).read_bytes()
    card = (repo / "README.md").read_text()
    assert front_matter(card)["license"] == "apache-2.0"
    assert "LoRA adapters for `tiny-llama`" in card and "adapter_path=snapshot_download" in card
    assert "alice/tiny-adapter" not in hub.private


def test_push_a_model_folder_under_the_tokens_user(hub, tiny_model):
    url = push(tiny_model, "tiny-model")  # a bare name: the token's user (whoami)
    assert url.endswith("/alice/tiny-model")
    repo = hub.root / "alice" / "tiny-model"
    assert (repo / "model.safetensors").read_bytes() == (
        tiny_model / "model.safetensors"
    ).read_bytes()
    assert front_matter((repo / "README.md").read_text())["library_name"] == "mlx"
    assert "/api/whoami-v2" in hub.requests


def test_pushing_again_adds_a_commit(hub, tiny_model):
    push(tiny_model, "alice/again")
    push(tiny_model, "alice/again")
    assert [c["repo"] for c in hub.commits] == ["alice/again", "alice/again"]


def test_no_token_says_how_to_get_one(hub, tiny_model, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    assert main(["push", str(tiny_model), "--repo", "alice/x"]) == 2
    err = capsys.readouterr().err
    assert "no Hugging Face token" in err and "hf auth login" in err and "HF_TOKEN" in err
    assert not hub.commits


def test_the_hubs_refusals_in_words(hub, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(UserError, match="the Hub refused the token"):
        push(tiny_model, "alice/x")
    monkeypatch.setenv("HF_TOKEN", "hf_bob")
    with pytest.raises(UserError, match="may not write to alice/x.*your own user name"):
        push(tiny_model, "alice/x")
    with pytest.raises(UserError, match="a Hub repo is named 'user/name'"):
        push(tiny_model, "alice/bad name")
    with pytest.raises(UserError, match="nor a model folder"):
        push(tiny_model.parent, "alice/x")
    assert not hub.commits


def test_the_licence_and_hub_id_come_from_the_base_model(tmp_path):
    from mlxstudio.core.push import base_license, base_repo

    base = tmp_path / "base"
    base.mkdir()
    assert base_license(base) == "other" and base_repo(base) is None
    (base / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: mlx\n---\n# Base\n")
    (base / "mlxstudio.json").write_text('{"source": {"kind": "hub", "repo": "org/base"}}')
    (base / "config.json").write_text('{"_name_or_path": "/home/me/models/base"}')
    assert base_license(base) == "apache-2.0" and base_repo(base) == "org/base"
