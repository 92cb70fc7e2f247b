"""Pretraining a tiny llama from scratch: the loss falls, the run folder is a model folder
mlx-lm loads, a stopped run resumes exactly, and the result is a base for fine-tuning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlxstudio.cli import main
from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.train.control import Control
from mlxstudio.core.train.pretrain import run_pretrain
from mlxstudio.core.train.sft import run_sft

TINY = dict(hidden_size=64, intermediate_size=128, num_layers=1, num_attention_heads=4)


def quiet(message: str) -> None:
    pass


def events_of(run_dir, kind: str) -> list[dict]:
    return [e for e in runs.read_events(run_dir) if e["event"] == kind]


def test_pretraining_lowers_the_loss(make_pretrain, studio_home):
    from mlx_lm import generate, load

    result = run_pretrain(make_pretrain(), log=quiet)
    run = result.run_dir
    assert result.status == "completed" and result.step == 40
    # from random weights (about ln(vocab) = 5.7) to a model of the text
    assert result.first_val_loss > 5.0
    assert result.last_val_loss < 0.7 * result.first_val_loss
    train = [e["train_loss"] for e in events_of(run, "train")]
    assert train[-1] < 0.7 * train[0]
    start = events_of(run, "start")[0]
    assert start["fine_tune_type"] == "full" and start["trainable_parameters"] > 50_000
    # the run folder is a model folder, not an adapter
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (run / name).is_file(), name
    assert (run / "tokenizer" / "tokenizer.json").is_file()  # where MLX-Pretrain keeps it
    assert not list(run.glob("*adapter*"))
    config = json.loads((run / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 2
    assert config["vocab_size"] <= 300 and config["eos_token_id"] == [0, 2]
    model, tokenizer = load(str(run))
    assert isinstance(generate(model, tokenizer, "The capital of", max_tokens=5), str)
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert runs.read_meta(run)["stage"] == "pretrain"


def test_corpus_windows_and_held_out_text(make_pretrain, tmp_path):
    from mlxstudio.core.train.corpus import prepare_corpus

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    corpus = prepare_corpus(make_pretrain(), run_dir, log=quiet)
    assert corpus.train.shape[1] == corpus.valid.shape[1] == 64
    assert len(corpus.valid) >= 4  # at least a batch, so validation runs
    everything = np.concatenate([corpus.train, corpus.valid]).ravel()
    # one <|endoftext|> after each of the 3 documents (the last may end in the cut-off tail)
    assert (everything == 0).sum() in (2, 3)
    # held-out windows are not trained on
    train_rows = {row.tobytes() for row in corpus.train}
    assert not any(row.tobytes() in train_rows for row in corpus.valid)
    # prepared again from the same settings: reused as saved
    again = prepare_corpus(make_pretrain(), run_dir, log=quiet)
    assert np.array_equal(again.train, corpus.train)


def test_jsonl_corpus_with_validation_text(make_pretrain, tmp_path):
    lines = [
        json.dumps({"text": f"Record {i}: the sun is a star, the moon is not."}) for i in range(60)
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "val.txt").write_text("The moon is not a star. " * 40)
    cfg = make_pretrain(
        data=str(tmp_path / "train.jsonl"),
        valid_data=str(tmp_path / "val.txt"),
        max_seq_length=32,
        iters=8,
        learning_rate=3e-3,
        steps_per_eval=8,
    )
    result = run_pretrain(cfg, log=quiet)
    info = json.loads((result.run_dir / "dataset" / "corpus.json").read_text())
    assert info["documents"] == 60 and info["valid_windows"] >= 4
    assert result.last_val_loss < result.first_val_loss


def test_stop_then_resume_continues_the_curve(make_pretrain):
    settings = dict(iters=12, save_every=4, steps_per_report=2, steps_per_eval=100)
    reference = run_pretrain(make_pretrain(name="ref", **settings), log=quiet)
    control = Control()

    def stop_at_6(event: dict) -> None:
        if event["event"] == "train" and event["step"] >= 6:
            control.stop()

    cut = run_pretrain(
        make_pretrain(name="cut", **settings), on_event=stop_at_6, control=control, log=quiet
    )
    assert cut.status == "stopped" and cut.step == 6 and cut.exit_code == 130
    assert (cut.run_dir / "model.safetensors").is_file()  # usable already
    # resumed through the CLI, which picks the job by the run's stage
    assert main(["train", "--resume", str(cut.run_dir)]) == 0
    expected = {e["step"]: e["train_loss"] for e in events_of(reference.run_dir, "train")}
    got = {e["step"]: e["train_loss"] for e in events_of(cut.run_dir, "train")}
    assert sorted(got) == sorted(expected) == [2, 4, 6, 8, 10, 12]
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step
    assert events_of(cut.run_dir, "start")[-1]["resumed_from_step"] == 6
    assert runs.read_meta(cut.run_dir)["status"] == "completed"


def test_existing_tokenizer_and_fine_tuning_on_top(make_pretrain, tiny_model, chat_data):
    """A tokenizer taken from a model folder; the pretrained run is then a `model:` for a
    LoRA run on chat data (its chat template included)."""
    pre = run_pretrain(make_pretrain(tokenizer=str(tiny_model), iters=6), log=quiet)
    vocab = json.loads((tiny_model / "config.json").read_text())["vocab_size"]
    assert json.loads((pre.run_dir / "config.json").read_text())["vocab_size"] == vocab
    from mlxstudio.core.config import RunConfig

    sft = run_sft(
        RunConfig(
            model=str(pre.run_dir),
            data=str(chat_data),
            name="on-top",
            iters=6,
            batch_size=4,
            num_layers=2,
            learning_rate=5e-3,
            steps_per_report=2,
            steps_per_eval=6,
            val_batches=-1,
            max_seq_length=128,
        ),
        log=quiet,
    )
    assert sft.status == "completed" and sft.last_val_loss < sft.first_val_loss


def test_bare_tokenizer_json_gets_a_config(tiny_model, tmp_path):
    from mlx_lm.utils import load_tokenizer

    from mlxstudio.core.train.tokenizer import copy_tokenizer

    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "tokenizer.json").write_bytes((tiny_model / "tokenizer.json").read_bytes())
    out = tmp_path / "out"
    copy_tokenizer(str(bare), out)
    tokenizer = load_tokenizer(out)
    assert tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.decode(tokenizer.encode("The capital of France")) == "The capital of France"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(dimensions={"hidden_size": 64}), "dimensions.intermediate_size"),
        (dict(dimensions={**TINY, "num_kv_heads": 3}), "multiple of num_kv_heads"),
        (dict(dimensions={**TINY, "hidden_size": 66}), "multiple of num_attention_heads"),
        (dict(data="/nonexistent/corpus"), "no such corpus"),
        (dict(max_seq_length=4096), "fewer than batch_size=4"),
        (dict(vocab_size=100), "vocab_size 100 is too small"),
    ],
)
def test_mistakes_are_named(make_pretrain, overrides, message):
    with pytest.raises(UserError, match=message):
        run_pretrain(make_pretrain(**overrides), log=quiet)
