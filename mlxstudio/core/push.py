"""Publish a run or a model folder to the Hugging Face Hub (`mlxstudio push`, the window's
Publish), through huggingface_hub: HfApi.create_repo, then upload_folder.

A run directory is fused first (core/fuse.py): the repo then holds a standalone MLX model
that `mlx_lm.load("user/name")`, LM Studio and the Hub's MLX widgets use as any other, with
no base model to find. `adapter_only` publishes the adapters alone instead (megabytes, not
the whole model): they need the base model to load, named in the card. A model folder is
uploaded as it is (a README.md written when it has none). Either way the card comes from
the run (core/model_card.py).

The token is `token`, else huggingface_hub's own: HF_TOKEN or the stored `hf auth login`.
`mlxstudio` keeps huggingface_hub offline (HF_HUB_OFFLINE=1) so nothing reaches the Hub
unasked; publishing is asked, so it is lifted for this call only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from mlxstudio.core import paths, runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.model_card import card_text

Progress = Callable[[float, str], None]
REPO_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}$")
TOKEN_HELP = (
    "create a token with write access at https://huggingface.co/settings/tokens, then log in "
    "with `hf auth login` or set HF_TOKEN"
)
LICENSE_DEFAULT = "other"  # the Hub's word for a licence it has no identifier for
SKIP = (".*", "checkpoints/*", "*/.*")  # hidden files and a run's checkpoints stay home


@contextlib.contextmanager
def hub_online() -> Iterator[None]:
    """huggingface_hub allowed to reach the Hub for the duration (the user asked)."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def hub_token(token: str | None = None) -> str:
    """The token to publish with; a UserError that says how to get one when there is none."""
    from huggingface_hub import get_token

    found = (token or "").strip() or get_token()
    if not found:
        raise UserError(f"no Hugging Face token: {TOKEN_HELP}", fix="hf_token")
    return found


def api():
    from huggingface_hub import HfApi

    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)  # read now, not at import


def check_repo(repo: str) -> None:
    parts = repo.split("/")
    if len(parts) > 2 or not all(REPO_NAME.match(p) for p in parts) or "--" in repo:
        raise UserError(
            f"'{repo}': a Hub repo is named 'user/name' (letters, digits, '-', '_' and '.', "
            f"at most 96 characters each)",
            fix="repo_name",
        )


def base_license(model_dir: Path | None) -> str:
    """The base model's licence from its own card or import record, else 'other'."""
    if model_dir is None:
        return LICENSE_DEFAULT
    card = model_dir / "README.md"
    if card.is_file():
        from huggingface_hub import ModelCard

        with contextlib.suppress(Exception):  # a card that does not parse: no licence known
            found = ModelCard.load(card).data.license
            if found:
                return str(found)
    record = model_dir / "mlxstudio.json"
    if record.is_file():
        with contextlib.suppress(ValueError):
            found = json.loads(record.read_text(encoding="utf-8")).get("license")
            if found:
                return str(found)
    return LICENSE_DEFAULT


def base_repo(model_dir: Path | None) -> str | None:
    """The base model's Hub id when it is known (its import record or config)."""
    if model_dir is None:
        return None
    for name, keys in (
        ("mlxstudio.json", ("repo", "source.repo")),
        ("config.json", ("_name_or_path",)),
    ):
        path = model_dir / name
        if not path.is_file():
            continue
        with contextlib.suppress(ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            for key in keys:
                value = data
                for part in key.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if isinstance(value, str) and value.count("/") == 1 and not Path(value).exists():
                    return value
    return None


def is_run(source: Path) -> bool:
    return (source / runs.CONFIG).is_file() or runs.is_adapter_dir(source)


def find_source(ref: str | Path) -> Path:
    """A run folder or model folder, given as a path or as a name under runs/ or models/."""
    given = Path(ref).expanduser()
    for path in (given, paths.runs_dir() / str(ref), paths.models_dir() / str(ref)):
        if path.is_dir() and (is_run(path) or (path / "config.json").is_file()):
            return path.resolve()
    raise UserError(
        f"{ref}: not a run folder (config.yaml, adapters) nor a model folder (config.json); "
        f"pass a finished run's folder or a model folder"
    )


def stage_model(
    source: Path, out: Path, repo: str, adapter_only: bool, license: str | None, say: Progress
) -> Path:
    """The folder to upload, in `out`: fused model or adapters (with the run's card), or a
    model folder's files (linked, not copied)."""
    from mlxstudio.core.fuse import fuse
    from mlxstudio.core.models.local import resolve_model
    from mlxstudio.core.train.sft import adapter_base_model

    if not is_run(source):
        stage = out / "model"
        stage.mkdir()
        for path in source.iterdir():
            if path.is_file() and not path.name.startswith("."):
                (stage / path.name).symlink_to(path)
        if not (stage / "README.md").exists():
            from huggingface_hub import ModelCardData

            meta = ModelCardData(license=license or base_license(source), library_name="mlx")
            text = f"---\n{meta.to_yaml()}\n---\n\n# {repo}\n\nAn MLX model.\n"
            (stage / "README.md").write_text(text, encoding="utf-8")
        return stage
    adapters = source if runs.is_adapter_dir(source) else source / "adapters"
    if not runs.is_adapter_dir(adapters):
        raise UserError(
            f"{source}: the run has no adapters yet (adapters.safetensors); publish a run "
            f"that trained and saved at least once"
        )
    base_ref = adapter_base_model(adapters)
    try:
        base_dir = resolve_model(base_ref)
    except UserError:
        if not adapter_only:
            raise UserError(
                f"{source}: its base model {base_ref} is not on this computer, so it cannot "
                f"be fused; publish the adapters alone, or install the base model first"
            ) from None
        base_dir = None
    hub_base = base_repo(base_dir)
    if adapter_only:
        stage = out / "adapters"
        stage.mkdir()
        shutil.copy2(adapters / "adapters.safetensors", stage / "adapters.safetensors")
        config = json.loads((adapters / "adapter_config.json").read_text(encoding="utf-8"))
        # no paths of this computer in a public file: the base by its Hub id or name
        config["model"] = hub_base or Path(base_ref).name
        for key in ("data", "adapter_path", "resume_adapter_file", "valid_data"):
            if config.get(key):
                config[key] = Path(str(config[key])).name
        (stage / "adapter_config.json").write_text(json.dumps(config, indent=4), "utf-8")
    else:
        say(0.1, f"Fusing the adapters into {Path(base_ref).name}")
        stage = fuse(source, out / "fused", progress=lambda text: say(0.2, text))
    card = card_text(
        source,
        title=repo,
        base_name=Path(base_ref).name,
        base_repo=hub_base,
        license=license or base_license(base_dir),
        adapter_only=adapter_only,
    )
    (stage / "README.md").unlink(missing_ok=True)
    (stage / "README.md").write_text(card, encoding="utf-8")
    return stage


def push(
    source: str | Path,
    repo: str,
    *,
    private: bool = False,
    token: str | None = None,
    adapter_only: bool = False,
    license: str | None = None,
    progress: Progress | None = None,
) -> str:
    """Publish `source` (a run or model folder) as the Hub model repo `repo` ('user/name',
    or 'name' under the token's user); returns the repo's URL. Pushing again to a repo of
    one's own adds a new commit."""
    from huggingface_hub.errors import HfHubHTTPError

    say = progress or (lambda _f, _t: None)
    check_repo(repo)
    source = find_source(source)
    key = hub_token(token)
    hub = api()
    with hub_online(), tempfile.TemporaryDirectory(prefix="mlxstudio-push-") as tmp:
        try:
            if "/" not in repo:
                say(0.02, "Asking the Hub who the token belongs to")
                repo = f"{hub.whoami(token=key)['name']}/{repo}"
            stage = stage_model(source, Path(tmp), repo, adapter_only, license, say)
            files = [p for p in stage.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files)
            say(0.5, f"Creating {repo} on the Hub")
            url = hub.create_repo(repo, token=key, private=private, exist_ok=True)
            say(0.55, f"Uploading {len(files)} files ({size / 1e6:.1f} MB) to {repo}")
            hub.upload_folder(
                repo_id=repo,
                folder_path=stage,
                token=key,
                commit_message=f"Upload {source.name} from MLX Studio",
                ignore_patterns=list(SKIP),
            )
        except HfHubHTTPError as err:
            raise UserError(*hub_problem(err, repo)) from None
        except OSError as err:  # no connection: requests' errors are OSErrors too
            raise UserError(f"cannot reach {hub.endpoint} ({err}); check the connection") from None
    say(1.0, f"Published {url}")
    return str(url)


def hub_problem(err, repo: str) -> tuple[str, str]:
    """An HTTP error of the Hub in words (what went wrong, what to do) and the fix's name."""
    status = err.response.status_code if err.response is not None else 0
    detail = (getattr(err, "server_message", "") or str(err)).strip().splitlines()[0]
    if status == 401:
        return f"the Hub refused the token ({detail}); {TOKEN_HELP}", "hf_token"
    if status == 403:
        return (
            f"the token may not write to {repo} ({detail}); use your own user name or an "
            f"organisation you belong to, with a token that has write access",
            "repo_name",
        )
    if status == 404:
        return f"{repo}: not found on the Hub, or not yours to write ({detail})", "repo_name"
    return f"the Hub answered {status} for {repo}: {detail}", ""


def push_task(progress: Progress, source: str, repo: str, options: dict) -> str:
    """`push` in the window's child-process form (engine/task.py)."""
    return push(source, repo, progress=progress, **options)
