"""The small evaluation at the end of every run: base vs fine-tuned on the run's test
split, kept in eval.json and run.json and sent as an `eval` event. It never fails the run:
a problem becomes a warning, and a stop request skips it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlxstudio.core import events as ev
from mlxstudio.core.config import RunConfig, Stage
from mlxstudio.core.eval.card import figure
from mlxstudio.core.eval.report import Options, evaluate
from mlxstudio.core.eval.target import find_test_split, is_run_dir

SMALL_SPLIT = 100  # test examples evaluated by default; more needs eval_after_run: true


class _Stopped(Exception):
    pass


def wanted(cfg: RunConfig, examples: int) -> bool:
    return cfg.eval_after_run if cfg.eval_after_run is not None else examples <= SMALL_SPLIT


def evaluate_after_run(
    run_dir: Path,
    cfg: RunConfig,
    emitter: ev.Emitter,
    log: Callable[[str], None],
    stop_requested: Callable[[], bool] = lambda: False,
) -> dict | None:
    """Evaluate a finished run when its config and test split ask for it; the report."""
    # Supervised runs only: preference and reward data have no single reference answer.
    if cfg.eval_after_run is False or cfg.stage != Stage.SFT or not is_run_dir(Path(run_dir)):
        return None
    test = find_test_split(cfg.data)
    if test is None:
        if cfg.eval_after_run:
            emitter.emit(ev.Warning(message="no evaluation: the run's data has no test split"))
        return None
    examples = sum(1 for line in test.open(encoding="utf-8") if line.strip())
    if not wanted(cfg, examples):
        log(
            f"The test split has {examples} examples (more than {SMALL_SPLIT}): no evaluation "
            "now; set eval_after_run: true for one, or evaluate the run later"
        )
        return None
    log(f"Evaluating base vs fine-tuned on {examples} test examples")

    def progress(_fraction: float, _text: str) -> None:
        if stop_requested():
            raise _Stopped

    try:
        report = evaluate(run_dir, Options(data=str(test), limit=SMALL_SPLIT), progress)
    except _Stopped:
        log("Evaluation skipped: a stop was asked for")
        return None
    except Exception as err:  # the run itself completed: say why there are no figures
        emitter.emit(ev.Warning(message=f"the evaluation at the end failed: {err}"))
        return None
    base, tuned = report["base"], report["tuned"]
    emitter.emit(ev.Eval(data=str(test), base=base, tuned=tuned))
    log(
        "Evaluation: test loss "
        f"{figure(base.get('test_loss'), '{:.3f}')} -> {figure(tuned.get('test_loss'), '{:.3f}')}"
        f", token F1 {figure(base.get('token_f1'), '{:.3f}')} -> "
        f"{figure(tuned.get('token_f1'), '{:.3f}')}"
    )
    return report
