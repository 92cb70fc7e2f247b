"""The curves of a run, without Qt: which metrics each stage draws (the Training page's
panels and `mlxstudio plot` share these), and a run's points read from its metrics.jsonl."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlxstudio.core import paths, runs
from mlxstudio.core.config import Stage
from mlxstudio.core.errors import UserError

Curve = tuple[str, str, str, str]  # (event kind, field, series label, colour)
Panel = tuple[str, str, list[Curve]]  # (title, y label, curves)

LOSS: Panel = (
    "Loss",
    "loss",
    [("train", "train_loss", "train", "#2f80ed"), ("val", "val_loss", "validation", "#eb5757")],
)
# PPO / GRPO: train_loss is the whole objective (policy loss + kl_coef x KL)
POLICY_LOSS: Panel = (
    "Loss",
    "loss",
    [
        ("train", "policy_loss", "policy", "#2f80ed"),
        ("train", "train_loss", "objective", "#56ccf2"),
        ("val", "val_loss", "validation", "#eb5757"),
    ],
)
LEARNING_RATE: Panel = ("Learning rate", "lr", [("train", "learning_rate", "lr", "#9b51e0")])
THROUGHPUT: Panel = (
    "Throughput",
    "tokens/s",
    [("train", "tokens_per_second", "tokens/s", "#27ae60")],
)
MEMORY: Panel = ("Peak memory", "GB", [("train", "peak_memory_gb", "memory", "#f2994a")])
REWARD: Panel = (
    "Reward",
    "reward",
    [("train", "reward_mean", "mean", "#27ae60"), ("val", "reward_mean", "held-out", "#eb5757")],
)
KL: Panel = (
    "KL to reference",
    "KL",
    [("train", "kl", "train", "#9b51e0"), ("val", "kl", "validation", "#eb5757")],
)
MARGIN: Panel = (
    "Chosen - rejected margin",
    "margin",
    [("train", "margin", "train", "#2f80ed"), ("val", "margin", "validation", "#eb5757")],
)
ACCURACY: Panel = (
    "Preference accuracy",
    "share",
    [("train", "accuracy", "train", "#27ae60"), ("val", "accuracy", "validation", "#eb5757")],
)

# GRPO's rewards one by one (event field `rewards`: 'reward.NAME', 'check.NAME'): their
# curves are named at run time, one per reward, in these colours in turn.
PART_COLOURS = ("#27ae60", "#2f80ed", "#f2994a", "#9b51e0", "#eb5757", "#56ccf2", "#828282")
PARTS_FIELD = "rewards"

# GRPO's val_loss is its held-out reward's negative (lower is better, as for a loss): its
# Loss panel leaves it out (the Reward panel has it, the right way up); its validation
# measures no KL either.
GRPO_LOSS: Panel = (POLICY_LOSS[0], POLICY_LOSS[1], POLICY_LOSS[2][:2])
GRPO_KL: Panel = (KL[0], KL[1], KL[2][:1])

# The Training page's four panels per stage
PANELS_BY_STAGE: dict[str, tuple[Panel, ...]] = {
    "sft": (LOSS, LEARNING_RATE, THROUGHPUT, MEMORY),
    "rl": (REWARD, KL, POLICY_LOSS, THROUGHPUT),
    "dpo": (LOSS, MARGIN, ACCURACY, THROUGHPUT),
}
PANELS_BY_STAGE["pretrain"] = PANELS_BY_STAGE["sft"]
PANELS_BY_STAGE["grpo"] = (REWARD, GRPO_KL, GRPO_LOSS, THROUGHPUT)
# An image of a run: what every run has, then what its stage adds
COMMON = (LOSS, LEARNING_RATE, THROUGHPUT, MEMORY)
EXTRA_BY_STAGE: dict[str, tuple[Panel, ...]] = {
    "rl": (REWARD, KL),
    "grpo": (REWARD, KL),
    "dpo": (MARGIN, ACCURACY),
}


def val_words(stage: str, *values: float, arrow: str = "→", short: bool = False) -> str:
    """A run's validation figures as they read for its stage: 'validation loss 2.314 →
    1.207', or for GRPO, whose val_loss is the held-out reward's negative, 'held-out
    reward 0.438 → 0.500'; `short`: 'loss 1.207', 'reward 0.500' (a table's cell)."""
    grpo = stage == Stage.GRPO
    long_name, short_name = ("held-out reward", "reward") if grpo else ("validation loss", "loss")
    figures = f" {arrow} ".join(f"{-v if grpo else v:.3f}" for v in values)
    return f"{short_name if short else long_name} {figures}"


@dataclass
class RunCurves:
    """One run's points: (kind, field) -> (steps, values), the last write of each step (a
    resumed run trains some steps again; the curve must not fold back on itself)."""

    name: str
    stage: str
    points: dict[tuple[str, str], tuple[list[int], list[float]]]

    def series(self, kind: str, field: str) -> tuple[list[int], list[float]]:
        return self.points.get((kind, field), ([], []))


def find_run(ref: str | Path) -> Path:
    """A run folder, given as a path or by its name under the runs folder."""
    given = Path(ref).expanduser()
    for path in (given, paths.runs_dir() / str(ref)):
        if (path / runs.METRICS).is_file():
            return path
    if given.is_dir():
        raise UserError(f"{ref}: not a run folder (no {runs.METRICS}); pass a run's folder")
    raise UserError(f"{ref}: no such run; pass a run's folder or its name under {paths.runs_dir()}")


def _stage(run_dir: Path) -> str:
    stage = runs.read_meta(run_dir).get("stage") if (run_dir / runs.META).is_file() else None
    if not stage and (run_dir / runs.CONFIG).is_file():
        import yaml

        stage = (yaml.safe_load((run_dir / runs.CONFIG).read_text(encoding="utf-8")) or {}).get(
            "stage"
        )
    return str(stage or "sft")


def read_curves(ref: str | Path) -> RunCurves:
    """A run's curves; a UserError when it recorded no training step yet."""
    run_dir = find_run(ref)
    last: dict[tuple[str, int], dict] = {}
    for event in runs.read_events(run_dir):
        if event.get("event") in ("train", "val") and isinstance(event.get("step"), int):
            last[(event["event"], event["step"])] = event
    if not any(kind == "train" for kind, _ in last):
        raise UserError(f"{run_dir}: no training step recorded yet; plot it once it has trained")
    points: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
    for (kind, step), event in sorted(last.items(), key=lambda item: item[0][1]):
        for field, value in flat_fields(event).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                steps, values = points.setdefault((kind, field), ([], []))
                steps.append(step)
                values.append(float(value))
    return RunCurves(run_dir.name, _stage(run_dir), points)


def flat_fields(event: dict) -> dict:
    """An event's fields with each reward's mean (the `rewards` mapping) beside the others:
    {'rewards': {'reward.format': 0.5}} -> {'reward.format': 0.5}."""
    parts = event.get(PARTS_FIELD)
    if not isinstance(parts, dict):
        return event
    return {k: v for k, v in event.items() if k != PARTS_FIELD} | parts


def parts_panel(names: list[str]) -> Panel | None:
    """One curve per reward ('reward.NAME', trained on) and per check ('check.NAME', only
    watched: its held-out curve says whether the reward is being gamed)."""
    if not names:
        return None
    curves = []
    for i, name in enumerate(sorted(names, key=lambda n: (not n.startswith("reward."), n))):
        kind, _, label = name.partition(".")
        colour = PART_COLOURS[i % len(PART_COLOURS)]
        curves.append(("train", name, label if kind == "reward" else f"{label} (check)", colour))
    return ("Each reward", "mean", curves)


def part_names(runs: list[RunCurves]) -> list[str]:
    """The reward and check fields the runs recorded."""
    found = {f for r in runs for (_, f) in r.points if f.startswith(("reward.", "check."))}
    return sorted(found)


def image_panels(stages: list[str], runs: list[RunCurves] | None = None) -> list[Panel]:
    """The panels of an image of runs of these stages: the common ones, then each stage's,
    then one curve per reward when GRPO combined several."""
    panels = list(COMMON)
    for stage in stages:
        panels += [p for p in EXTRA_BY_STAGE.get(stage, ()) if p not in panels]
    if any(s in (Stage.RL, Stage.GRPO) for s in stages):  # the policy loss beside train/validation
        panels[0] = POLICY_LOSS
    parts = parts_panel(part_names(runs or []))
    if parts is not None:
        panels.append(parts)
    return panels
