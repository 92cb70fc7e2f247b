"""Evaluation on a tiny trained run: base vs tuned, the same figures on both sides."""

from __future__ import annotations

import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fake_writer import send_chat_reply

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.eval import metrics
from mlxstudio.core.eval.judge import RUBRIC, Judge
from mlxstudio.core.eval.report import EVAL_FILE, Options, evaluate

FIGURES = {"test_loss", "perplexity", "exact_match", "contains_answer", "token_f1"}
FIGURES |= {"answer_words", "refusal_rate", "examples", "answered", "test_tokens"}


def test_every_run_ends_with_an_evaluation(tiny_run):
    saved = json.loads((tiny_run / EVAL_FILE).read_text())
    meta = runs.read_meta(tiny_run)["eval"]
    assert set(saved["base"]) == set(saved["tuned"]) >= FIGURES
    assert meta["tuned"] == saved["tuned"]
    assert saved["tuned"]["test_loss"] < saved["base"]["test_loss"]
    events = [e for e in runs.read_events(tiny_run) if e["event"] == "eval"]
    assert len(events) == 1 and events[0]["tuned"]["examples"] == 4


def test_cli_json_has_the_same_keys_on_both_sides(tiny_run, capsys):
    from mlxstudio.cli import main

    assert main(["eval", str(tiny_run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    base, tuned = report["base"], report["tuned"]
    assert set(base) == set(tuned) >= FIGURES
    assert tuned["perplexity"] == pytest.approx(math.exp(tuned["test_loss"]))
    assert tuned["test_loss"] < base["test_loss"]
    rows = report["examples"]
    assert len(rows) == 4 and {"base", "tuned", "question", "reference"} <= set(rows[0])
    changes = [abs(r["tuned"]["token_f1"] - r["base"]["token_f1"]) for r in rows]
    assert changes == sorted(changes, reverse=True)  # the examples that changed most first


def test_cli_table_and_bad_targets(tiny_run, tiny_model, capsys):
    from mlxstudio.cli import main

    assert main(["eval", str(tiny_run), "--no-answers"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Test loss\s+\d+\.\d{3}\s+\d+\.\d{3}", out), out
    assert "Token F1" not in out  # no answers asked for
    with pytest.raises(UserError, match="--data FILE"):
        evaluate(tiny_model)  # a model alone has no test split


def test_test_loss_is_mlx_lms_masked_loss(tiny_run):
    from mlx_lm.tuner.trainer import evaluate as mlx_evaluate

    from mlxstudio.core.eval import data as ed
    from mlxstudio.core.eval.loss import example_losses, total_loss
    from mlxstudio.core.eval.target import resolve_target
    from mlxstudio.core.generate import load_for_inference

    target = resolve_target(tiny_run)
    model, tokenizer = load_for_inference(target.model, adapter=target.adapter)
    examples = ed.tokenized(ed.read_jsonl(target.data), tokenizer, target.features, True)
    assert all(offset > 0 for _, offset in examples)  # the prompt is masked, as in training
    ours = total_loss(example_losses(model, examples, batch_size=3, max_seq_length=128))
    theirs = mlx_evaluate(model, examples, batch_size=4, num_batches=-1, max_seq_length=128)
    assert ours == pytest.approx(theirs, rel=1e-4)
    assert ours == pytest.approx(
        json.loads((tiny_run / EVAL_FILE).read_text())["tuned"]["test_loss"]
    )


def test_multiple_choice_by_log_likelihood(tiny_run, tiny_model, tmp_path):
    mc = tmp_path / "mc.jsonl"
    with mc.open("w") as fh:
        for i in range(30, 34):  # the tuned model learned this pattern; nonsense is unlikely
            choices = ["zebra violin quantum", f"{i} plus {i} is {2 * i}."]
            fh.write(
                json.dumps({"question": f"What is {i} plus {i}?", "choices": choices, "answer": 1})
                + "\n"
            )
    report = evaluate(tiny_run, Options(choices=str(mc), answers=False))
    assert report["tuned"]["mc_accuracy"] == 1.0 and report["tuned"]["mc_questions"] == 4
    sample = evaluate(tiny_model, Options(data=str(mc), choices=None))  # a model alone
    assert set(sample) >= {"model"} and "base" not in sample
    assert 0.0 <= sample["model"]["mc_accuracy"] <= 1.0
    bundled = evaluate(tiny_model, Options(data=str(mc), choices="sample"))
    assert bundled["model"]["mc_questions"] == 4  # the data file is the multiple choice


class FakeJudge(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint judging like a careful model: the answer closer to
    the reference (token F1) wins; equal is a tie."""

    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeJudge.requests.append(body)
        prompt = body["messages"][-1]["content"]
        ref = prompt.split("Reference answer:\n")[1].split("\n\nAnswer A:")[0]
        a = prompt.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]
        b = prompt.split("Answer B:\n")[1].split("\n\nWhich answer")[0]
        fa, fb = metrics.token_f1(a, ref), metrics.token_f1(b, ref)
        word = "A" if fa > fb else "B" if fb > fa else "TIE"
        send_chat_reply(self, body, word)

    def log_message(self, *args):
        pass


def test_judge_gives_win_rates_and_keeps_its_rubric(tiny_run):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        report = evaluate(tiny_run, Options(judge=Judge(url, model="judge-1")))
    finally:
        server.shutdown()
    rows = report["examples"]
    wins = {
        side: sum(r[side]["token_f1"] > r[other]["token_f1"] for r in rows)
        for side, other in (("base", "tuned"), ("tuned", "base"))
    }
    ties = len(rows) - wins["base"] - wins["tuned"]
    for side in ("base", "tuned"):
        assert report[side]["judge_win_rate"] == pytest.approx((wins[side] + ties / 2) / 4)
    assert report["judge"]["rubric"] == RUBRIC and len(report["judge"]["verdicts"]) == 4
    assert runs.read_meta(tiny_run)["eval"]["judge_rubric"] == RUBRIC
    sent = FakeJudge.requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": RUBRIC}
    assert sent["temperature"] == 0.0 and sent["model"] == "judge-1"


def test_fused_model_card_carries_the_evaluation(tiny_run, tmp_path):
    from mlxstudio.core.fuse import fuse

    out = fuse(tiny_run, tmp_path / "fused")
    card = (out / "README.md").read_text()
    tuned = runs.read_meta(tiny_run)["eval"]["tuned"]
    assert "## Evaluation" in card and f"{tuned['test_loss']:.3f}" in card


def test_the_setting_turns_it_off_and_large_splits_need_it(tiny_run):
    from mlxstudio.core import events as ev
    from mlxstudio.core.config import load_config
    from mlxstudio.core.eval.after_run import evaluate_after_run, wanted

    cfg = load_config(tiny_run / runs.CONFIG)
    cfg.eval_after_run = False
    emitter = ev.Emitter(None)
    assert evaluate_after_run(tiny_run, cfg, emitter, print) is None
    cfg.eval_after_run = None
    assert wanted(cfg, 100) and not wanted(cfg, 101)
    cfg.eval_after_run = True
    assert wanted(cfg, 10_000)


def test_a_failed_evaluation_is_a_warning_not_a_failed_run(tiny_run, tmp_path):
    from mlxstudio.core import events as ev
    from mlxstudio.core.config import load_config
    from mlxstudio.core.eval.after_run import evaluate_after_run

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "test.jsonl").write_text('{"messages": [}\n')
    cfg = load_config(tiny_run / runs.CONFIG)
    cfg.data = str(bad)
    seen: list[dict] = []
    emitter = ev.Emitter(None, sink=seen.append)
    assert evaluate_after_run(tiny_run, cfg, emitter, print) is None
    assert [e["event"] for e in seen] == ["warning"]
    assert "test.jsonl:1: not valid JSON" in seen[0]["message"]


def test_lm_eval_tasks_need_the_package(tiny_run):
    from mlxstudio.core.eval.lm_eval_tasks import lm_eval_available

    if lm_eval_available():
        pytest.skip("lm-eval is installed here; its tasks need their data (not in CI)")
    with pytest.raises(UserError, match="pip install lm-eval"):
        evaluate(tiny_run, Options(tasks=["arc_easy"]))
