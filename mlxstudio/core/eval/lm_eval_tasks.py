"""lm-eval tasks (hellaswag, arc_easy, ...) through mlx-lm's evaluate, when the user has
the lm-eval package and its task data; optional, never needed by the rest."""

from __future__ import annotations

from pathlib import Path

from mlxstudio.core.errors import UserError


def lm_eval_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("lm_eval") is not None


def require_lm_eval() -> None:
    if not lm_eval_available():
        raise UserError("lm-eval tasks need the lm-eval package: pip install lm-eval")


def lm_eval_scores(model, tokenizer, model_path: Path, tasks: list[str], limit: int | None) -> dict:
    """{task: {metric: value}} for the given (possibly adapted) model."""
    require_lm_eval()
    import lm_eval
    from mlx_lm.evaluate import MLXLM

    lm = MLXLM(str(model_path))
    lm._model, lm.tokenizer = model, tokenizer  # evaluate ours (adapters included)
    try:
        results = lm_eval.simple_evaluate(model=lm, tasks=tasks, limit=limit)
    except Exception as err:  # a task not found or its data not cached: say which
        raise UserError(f"lm-eval could not run {', '.join(tasks)}: {err}") from None
    return {
        task: {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        for task, metrics in results["results"].items()
    }
