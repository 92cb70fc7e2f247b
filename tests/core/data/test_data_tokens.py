"""Token lengths, truncation and preview through a real tokenizer and chat template."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from datahelpers import chat, write_jsonl

from mlxstudio.core.data import DataOptions, preview, summarize, token_stats, validate
from mlxstudio.core.errors import UserError


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from mlx_lm.utils import load_tokenizer

    return load_tokenizer(tiny_model)


def test_lengths_match_mlx_lm_datasets(tmp_path, tiny_model, tokenizer):
    from mlx_lm.tuner.datasets import ChatDataset, CompletionsDataset, TextDataset

    chats = [chat("The capital of France?", "Paris. " * n, system="Be brief.") for n in range(1, 6)]
    comps = [{"prompt": "The quick brown fox", "completion": "jumps " * n} for n in range(1, 6)]
    texts = [{"text": "MLX is an array framework. " * n} for n in range(1, 6)]
    cases = [
        ("c.jsonl", chats, ChatDataset(chats, tokenizer)),
        ("p.jsonl", comps, CompletionsDataset(comps, tokenizer, "prompt", "completion", False)),
        ("t.jsonl", texts, TextDataset(texts, tokenizer)),
    ]
    for name, records, dataset in cases:
        path = write_jsonl(tmp_path / name, records)
        expected = [len(dataset.process(r)[0]) for r in records]
        stats = token_stats([path], tiny_model, max_seq_length=10_000).total
        assert (stats.records, stats.tokens) == (5, sum(expected)), name
        assert (stats.min, stats.max) == (min(expected), max(expected))


def test_truncation_counts_and_warnings(tmp_path, tiny_model, tokenizer):
    records = [chat("q", "word " * n) for n in (1, 10, 40, 80)]
    path = write_jsonl(tmp_path / "d.jsonl", records)
    lengths = [len(tokenizer.apply_chat_template(r["messages"])) for r in records]
    limit = (lengths[1] + lengths[2]) // 2  # the last two are over it
    report = validate([path], model=tiny_model, max_seq_length=limit)
    stats = report.tokens
    assert stats.truncated == 2 and stats.truncated_share == 0.5
    assert stats.tokens_cut == (lengths[2] - limit) + (lengths[3] - limit)
    long = [i for i in report.issues if "over max_seq_length" in i.message]
    assert [i.line for i in long] == [3, 4] and report.ok
    assert long[1].message == (
        f"{lengths[3]:,} tokens, over max_seq_length {limit:,}: {lengths[3] - limit:,} would be cut"
    )
    assert sum(b.count for b in stats.histogram) == 4


def test_summarize_matches_numpy():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 5000, size=997).tolist()
    s = summarize(lengths, max_seq_length=2048, bins=16)
    assert s.median == pytest.approx(np.percentile(lengths, 50))
    assert s.p95 == pytest.approx(np.percentile(lengths, 95))
    assert s.mean == pytest.approx(np.mean(lengths))
    assert sum(b.count for b in s.histogram) == 997 and len(s.histogram) <= 16
    assert s.truncated == sum(n > 2048 for n in lengths)
    assert s.tokens_cut == sum(n - 2048 for n in lengths if n > 2048)
    assert summarize([]).records == 0


def test_preview_renders_through_the_chat_template(tmp_path, tiny_model, tokenizer):
    records = [chat("What is MLX?", "An array framework.", system="Be brief.")]
    path = write_jsonl(tmp_path / "d.jsonl", records)
    [rec] = preview([path], model=tiny_model)
    assert rec.rendered == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is MLX?<|im_end|>\n"
        "<|im_start|>assistant\nAn array framework.<|im_end|>\n"
    )
    assert rec.tokens == len(tokenizer.apply_chat_template(records[0]["messages"]))
    plain = preview([path])[0].rendered
    assert plain == "[system]\nBe brief.\n[user]\nWhat is MLX?\n[assistant]\nAn array framework."


def test_preview_of_other_kinds(tmp_path, tiny_model):
    text = write_jsonl(tmp_path / "t.jsonl", [{"text": "The quick brown fox"}])
    assert preview([text], model=tiny_model)[0].rendered == "The quick brown fox<|im_end|>"
    pairs = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "c", "rejected": "r"}])
    rendered = preview([pairs], model=tiny_model)[0].rendered
    assert "--- chosen ---" in rendered and "<|im_start|>assistant\nr<|im_end|>" in rendered
    rl = write_jsonl(tmp_path / "rl.jsonl", [{"instruction": "i", "response": "r", "reward": 1}])
    assert preview([rl])[0].rendered.endswith("[reward] 1.0")


def test_template_that_rejects_a_record_is_an_error(tmp_path, tiny_model):
    model = shutil.copytree(tiny_model, tmp_path / "strict-model")
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    cfg["chat_template"] = (
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}" + cfg["chat_template"]
    )
    (model / "tokenizer_config.json").write_text(json.dumps(cfg))
    path = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a"), chat("q", "b", system="s")])
    report = validate([path], model=model)
    [issue] = [i for i in report.issues if i.severity == "error"]
    assert issue.line == 2 and "System role not supported" in issue.message
    assert report.tokens.records == 1


def test_model_without_template_or_tokenizer(tmp_path, tiny_model):
    model = shutil.copytree(tiny_model, tmp_path / "base-model")
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    del cfg["chat_template"]
    (model / "tokenizer_config.json").write_text(json.dumps(cfg))
    path = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a")])
    with pytest.raises(UserError, match="no chat template"):
        validate([path], model=model)
    text = write_jsonl(tmp_path / "t.jsonl", [{"text": "fine for a base model"}])
    assert validate([text], model=model).tokens.records == 1
    with pytest.raises(UserError, match="not found"):
        validate([path], model="no-such-model")


def test_mlx_pretrain_templated_text_with_model(tmp_path, tiny_model):
    path = write_jsonl(tmp_path / "sft.jsonl", [{"instruction": "Say hi", "response": "hi"}])
    options = DataOptions(prompt_format="Q: {instruction}\nA:", response_format=" {response}")
    [rec] = preview([path], options, model=tiny_model)
    assert rec.kind == "text" and rec.rendered == "Q: Say hi\nA: hi<|im_end|>"
