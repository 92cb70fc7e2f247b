"""Fine-tune types, optimizers, schedules, prompt masking and packing on the tiny model."""

from __future__ import annotations

import json

import pytest

from mlxstudio.core import runs
from mlxstudio.core.train.sft import run_sft


def quiet(message: str) -> None:
    pass


def events_of(result, kind: str) -> list[dict]:
    return [e for e in runs.read_events(result.run_dir) if e["event"] == kind]


@pytest.mark.parametrize("kind", ["dora", "full"])
def test_dora_and_full_train_and_load_in_mlx_lm(make_config, tiny_model, kind):
    from mlx.utils import tree_flatten
    from mlx_lm import load

    result = run_sft(make_config(fine_tune_type=kind, num_layers=1, iters=6), log=quiet)
    assert result.status == "completed"
    assert result.last_val_loss < result.first_val_loss
    saved = json.loads((result.run_dir / "adapter_config.json").read_text())
    assert saved["fine_tune_type"] == kind
    model, _ = load(str(tiny_model), adapter_path=str(result.run_dir))
    names = {k for k, _ in tree_flatten(model.parameters())}
    if kind == "dora":
        assert any(k.endswith(".m") for k in names)
    else:
        assert not any("lora" in k for k in names)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd", "adafactor"])
def test_optimizers_with_warmup_schedule(make_config, optimizer):
    schedule = {"name": "cosine_decay", "arguments": [1e-2, 8], "warmup": 4, "warmup_init": 0.0}
    result = run_sft(
        make_config(optimizer=optimizer, iters=8, steps_per_report=1, lr_schedule=schedule),
        log=quiet,
    )
    lrs = [e["learning_rate"] for e in events_of(result, "train")]
    assert lrs[0] < lrs[3]  # warming up
    assert lrs[-1] < lrs[4]  # decaying


@pytest.mark.parametrize(
    "settings",
    [{"grad_accumulation_steps": 2}, {"grad_checkpoint": True}, {"grad_clip": 1.0}],
)
def test_accumulation_checkpointing_and_clipping_learn(make_config, settings):
    result = run_sft(make_config(iters=8, **settings), log=quiet)
    assert result.status == "completed" and result.last_val_loss < result.first_val_loss


def test_mask_prompt_trains_on_answers_only(make_config):
    full = run_sft(make_config(name="all", iters=2, steps_per_report=1), log=quiet)
    masked = run_sft(
        make_config(name="mask", iters=2, steps_per_report=1, mask_prompt=True), log=quiet
    )
    counts = [events_of(r, "train")[0]["trained_tokens"] for r in (full, masked)]
    assert 0 < counts[1] < counts[0] * 0.8  # same first batch, the prompts no longer count


def test_packed_loss_equals_separate_examples(tiny_model):
    """Packing must not let examples see each other: the same loss as one at a time."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm import load

    from mlxstudio.core.train.batches import _collate_packed, packed_loss

    model, _ = load(str(tiny_model))
    examples = [([5, 6, 7, 8, 9, 10], 2), ([11, 12, 13], 0), ([14, 15, 16, 17], 1)]
    tokens, segments, weights = _collate_packed(examples, [[0, 1, 2]], 64)
    loss, ntoks = packed_loss(model, tokens, segments, weights)
    total, count = 0.0, 0
    for toks, offset in examples:
        x = mx.array(toks)[None]
        ce = nn.losses.cross_entropy(model(x[:, :-1]), x[:, 1:])[0]
        first = max(offset, 1) - 1
        total += ce[first:].sum().item()
        count += len(toks) - 1 - first
    assert int(ntoks.item()) == count
    assert loss.item() == pytest.approx(total / count, rel=1e-5)


def test_packing_trains_with_fewer_padded_positions(make_config):
    plain = run_sft(make_config(name="plain", iters=4, steps_per_report=4), log=quiet)
    packed = run_sft(
        make_config(name="packed", iters=4, steps_per_report=4, packing=True, batch_size=1),
        log=quiet,
    )
    assert packed.status == "completed" and packed.last_val_loss < packed.first_val_loss
    for result in (plain, packed):
        train = events_of(result, "train")[-1]
        assert train["padded_tokens_per_second"] >= train["tokens_per_second"] > 0
    ratio = [
        events_of(r, "train")[-1]["tokens_per_second"]
        / events_of(r, "train")[-1]["padded_tokens_per_second"]
        for r in (plain, packed)
    ]
    assert ratio[1] > ratio[0]  # a larger share of the computed positions is trained on


def test_sample_prompts_are_answered_and_saved(make_config):
    result = run_sft(
        make_config(iters=4, sample_prompts=["What is 2 plus 2?"], sample_every=2), log=quiet
    )
    samples = events_of(result, "sample")
    assert [s["step"] for s in samples] == [0, 2, 4]
    assert all(s["prompt"] == "What is 2 plus 2?" for s in samples)
    assert all(isinstance(s["response"], str) for s in samples)
