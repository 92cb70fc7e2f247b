"""What `mlxstudio eval TARGET` evaluates: a run (its base model, then the same with the
run's adapters) or a model folder, and on which data (by default the run's test split)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlxstudio.core import runs
from mlxstudio.core.config import load_config
from mlxstudio.core.errors import UserError
from mlxstudio.core.eval.data import Features
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.serve.loading import resolve_adapter

TEST_SPLIT = "test.jsonl"
CHOOSE_DATA = "choose_test_data"  # UserError.fix: the window offers a file chooser


@dataclass
class Target:
    model: Path
    adapter: Path | None = None  # a run's adapter folder: base and tuned are compared
    run_dir: Path | None = None
    data: Path | None = None  # the test examples (JSONL)
    features: Features = field(default_factory=Features)
    mask_prompt: bool = False
    max_seq_length: int = 2048
    batch_size: int = 4

    @property
    def name(self) -> str:
        return (self.run_dir or self.model).name


def is_run_dir(path: Path) -> bool:
    return (path / runs.CONFIG).is_file() and (
        runs.is_adapter_dir(path) or runs.is_adapter_dir(path / "adapters")
    )


def find_test_split(data: str) -> Path | None:
    """The test.jsonl of a data folder, when it has one."""
    test = Path(data).expanduser() / TEST_SPLIT if data else None
    return test if test is not None and test.is_file() else None


def run_test_split(run_dir: Path) -> Path | None:
    """The test split of the data folder the run trained on."""
    return find_test_split(load_config(Path(run_dir) / runs.CONFIG).data)


def resolve_target(target: str | Path, data: str | Path | None = None) -> Target:
    path = Path(target).expanduser()
    if path.is_dir() and (path / runs.CONFIG).is_file():
        if not is_run_dir(path):
            raise UserError(f"{path}: the run saved no adapters yet; evaluate it when it ends")
        return _run_target(path.resolve(), data)
    model = resolve_model(str(target))
    if data is None:
        raise UserError(
            f"{target} is a model, not a run: give the test examples with --data FILE",
            fix=CHOOSE_DATA,
        )
    return Target(model=model, data=Path(data).expanduser())


def _run_target(run_dir: Path, data: str | Path | None) -> Target:
    cfg = load_config(run_dir / runs.CONFIG)
    model = resolve_model(cfg.model)
    test = Path(data).expanduser() if data is not None else run_test_split(run_dir)
    if test is None:
        raise UserError(
            f"{run_dir.name}: its data folder {cfg.data} has no {TEST_SPLIT}; "
            "give the test examples with --data FILE",
            fix=CHOOSE_DATA,
        )
    batch = max(1, min(cfg.batch_size, 8))
    return Target(
        model=model,
        adapter=resolve_adapter(str(run_dir)),
        run_dir=run_dir,
        data=test,
        features=Features(
            cfg.prompt_feature, cfg.completion_feature, cfg.text_feature, cfg.chat_feature
        ),
        mask_prompt=cfg.mask_prompt,
        max_seq_length=cfg.max_seq_length,
        batch_size=batch,
    )
