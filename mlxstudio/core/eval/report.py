"""One evaluation end to end: the base model, then (for a run) the same model with the
run's adapters, on the same examples, with the same figures on both sides; eval.json and
run.json keep it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlxstudio.core import paths, runs
from mlxstudio.core.eval import data as ed
from mlxstudio.core.eval.answers import answer_figures, greedy_answers
from mlxstudio.core.eval.judge import Judge, judge_answers
from mlxstudio.core.eval.loss import choice_accuracy, example_losses, total_loss
from mlxstudio.core.eval.target import Target, resolve_target

EVAL_FILE = "eval.json"
SAMPLE_CHOICES = "sample"  # --choices sample: the bundled multiple-choice file
CHANGED_KEPT = 50  # examples kept in eval.json, those that changed most first

Report = Callable[[float, str], None]


@dataclass
class Options:
    data: str | None = None  # JSONL of test examples; a run's test split by default
    choices: str | None = None  # JSONL of {question, choices, answer}, or "sample"
    answers: bool = True  # greedy answers for question/answer data
    limit: int | None = None  # at most this many answers (and judge verdicts) per side
    judge: Judge | None = None
    tasks: list[str] = field(default_factory=list)  # lm-eval tasks (needs lm-eval)
    task_limit: int | None = None


def sample_choices() -> Path:
    return paths.resources_dir() / "sample_data" / "eval" / "choices.jsonl"


class _Progress:
    """Counts units of work (examples scored or answered) into a fraction and a line."""

    def __init__(self, report: Report | None, total: int) -> None:
        self.report, self.total, self.done, self.what = report, max(total, 1), 0, ""

    def stage(self, what: str) -> Callable[[int], None]:
        self.what = what
        self.tell()
        return self.step

    def step(self, n: int) -> None:
        self.done += n
        self.tell()

    def tell(self) -> None:
        if self.report is not None:
            self.report(min(self.done / self.total, 1.0), self.what)


def evaluate(
    target: str | Path, options: Options | None = None, progress: Report | None = None
) -> dict:
    """Figures per side ("base" and "tuned" for a run, "model" for a model), the examples
    that changed most, and the judge's verdicts when one was asked."""
    from mlx_lm.tuner.utils import load_adapters

    from mlxstudio.core.generate import load_for_inference

    options = options or Options()
    if options.tasks:
        from mlxstudio.core.eval.lm_eval_tasks import require_lm_eval

        require_lm_eval()  # before minutes of other work
    tgt = resolve_target(target, options.data)
    records = ed.read_jsonl(tgt.data)
    mc_file = options.choices
    if ed.is_choices(records):  # the data file itself is multiple-choice
        mc_file, records = str(tgt.data), []
    elif mc_file == SAMPLE_CHOICES:
        mc_file = str(sample_choices())
    choices = ed.read_choices(Path(mc_file)) if mc_file else []
    pairs = ed.qa_pairs(records, tgt.features) if options.answers else []
    pairs = pairs[: options.limit] if options.limit else pairs
    sides = ["base", "tuned"] if tgt.adapter is not None else ["model"]
    judge = options.judge if len(sides) == 2 and pairs else None
    work = len(sides) * (len(records) + len(pairs) + len(choices)) + (len(pairs) if judge else 0)
    meter = _Progress(progress, work)

    meter.stage(f"Loading {tgt.model.name}")
    model, tokenizer = load_for_inference(tgt.model)
    examples = ed.tokenized(records, tokenizer, tgt.features, tgt.mask_prompt) if records else []
    figures: dict[str, dict] = {}
    details: dict[str, dict] = {}
    for side in sides:
        if side == "tuned":
            meter.stage("Loading the run's adapters")
            model = load_adapters(model, str(tgt.adapter))
            model.eval()
        figures[side], details[side] = _side(
            model, tokenizer, tgt, examples, pairs, choices, options, meter, side
        )
    report = {
        "target": tgt.name,
        "model_path": str(tgt.model),
        "adapter_path": str(tgt.adapter) if tgt.adapter else None,
        "data": str(tgt.data),
        "choices_data": mc_file,
        "created": time.time(),
        **figures,
        "examples": changed_most(pairs, details, sides),
    }
    if judge is not None:
        step = meter.stage("The judge compares the answers")
        verdicts = judge_answers(
            judge, pairs, details["base"]["answers"], details["tuned"]["answers"], step
        )
        for side in sides:
            report[side]["judge_win_rate"] = verdicts["win_rate"][side]
        report["judge"] = verdicts
    meter.stage("Done")
    if tgt.run_dir is not None:
        save(tgt.run_dir, report)
    return report


def _side(model, tokenizer, tgt: Target, examples, pairs, choices, options, meter, side) -> tuple:
    label = {"base": "base model", "tuned": "fine-tuned model"}.get(side, "model")
    figures: dict = {"examples": len(examples)}
    detail: dict = {"losses": [], "answers": [], "scores": []}
    if examples:
        step = meter.stage(f"Test loss of the {label}")
        losses = example_losses(
            model,
            examples,
            batch_size=tgt.batch_size,
            max_seq_length=tgt.max_seq_length,
            step=step,
        )
        loss = total_loss(losses)
        figures["test_loss"] = loss
        figures["perplexity"] = math.exp(min(loss, 50.0)) if loss is not None else None
        figures["test_tokens"] = sum(r.tokens for r in losses)
        detail["losses"] = [r.mean for r in losses]
    if pairs:
        step = meter.stage(f"Answers of the {label}")
        answers = greedy_answers(model, tokenizer, pairs, step)
        means, scores = answer_figures(answers, pairs)
        figures.update(means, answered=len(pairs))
        detail.update(answers=answers, scores=scores)
    if choices:
        step = meter.stage(f"Multiple choice, {label}")
        figures["mc_accuracy"], _ = choice_accuracy(model, tokenizer, choices, step)
        figures["mc_questions"] = len(choices)
    if options.tasks:
        from mlxstudio.core.eval.lm_eval_tasks import lm_eval_scores

        meter.stage(f"lm-eval tasks, {label}")
        figures["lm_eval"] = lm_eval_scores(
            model, tokenizer, tgt.model, options.tasks, options.task_limit
        )
    return figures, detail


def evaluate_task(progress: Report, target: str, options: Options) -> dict:
    """`evaluate` in the window's child-process form (engine/task.py)."""
    return evaluate(target, options, progress)


def changed_most(pairs: list[ed.QA], details: dict[str, dict], sides: list[str]) -> list[dict]:
    """Each answered example with both sides' answer, token-F1 and loss; the largest change
    in token-F1 first, then in loss."""
    rows = []
    for n, pair in enumerate(pairs):
        row: dict = {"question": pair.question, "reference": pair.reference}
        for side in sides:
            d = details[side]
            row[side] = {
                "answer": d["answers"][n] if d["answers"] else None,
                "token_f1": d["scores"][n]["token_f1"] if d["scores"] else None,
                "loss": d["losses"][pair.index] if d["losses"] else None,
            }
        rows.append(row)
    if len(sides) == 2:
        rows.sort(key=lambda r: (-abs(_delta(r, "token_f1")), -abs(_delta(r, "loss"))))
    return rows[:CHANGED_KEPT]


def _delta(row: dict, key: str) -> float:
    before, after = row["base"][key], row["tuned"][key]
    return 0.0 if before is None or after is None else after - before


def summary(report: dict) -> dict:
    """What run.json and model cards keep: the figures, the data, when."""
    keep = ("base", "tuned", "model", "model_path", "data", "created")
    out = {k: report[k] for k in keep if k in report}
    if "judge" in report:
        out["judge_rubric"] = report["judge"]["rubric"]
    return out


def save(run_dir: Path, report: dict) -> None:
    runs.write_json_atomic(Path(run_dir) / EVAL_FILE, report)
    runs.update_meta(run_dir, eval=summary(report))


def load(run_dir: Path) -> dict | None:
    """A run's last evaluation (eval.json), or None."""
    import json

    path = Path(run_dir) / EVAL_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
