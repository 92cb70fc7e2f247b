"""KTO, CPO and SimPO learn on the tiny model; CPO and SimPO run without a reference."""

from __future__ import annotations

import pytest
from rl_helpers import ANIMALS, COLOURS, write_jsonl

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.job import run_rl


def vals(run_dir) -> list[dict]:
    return [e for e in runs.read_events(run_dir) if e["event"] == "val"]


def labelled(animals: list[str]) -> list[dict]:
    """TRL's unpaired format: 'quick' answers are good, 'lazy' ones bad, not paired up."""
    out = []
    for i, a in enumerate(animals):
        for c in COLOURS[:4]:
            good = (i + len(c)) % 2 == 0
            word = "quick" if good else "lazy"
            out.append(
                {
                    "prompt": f"Describe the {c} {a}.",
                    "completion": f"The {word} {c} {a}.",
                    "label": good,
                }
            )
    return out


@pytest.mark.parametrize(("kind", "beta"), [("cpo", 0.1), ("simpo", 2.0)])
def test_reference_free_losses_learn_without_a_reference(pref_data, make_rl_config, kind, beta):
    said: list[str] = []
    cfg = make_rl_config(pref_data, "dpo", preference_loss=kind, beta=beta, iters=6)
    result = run_rl(cfg, log=said.append)
    first, last = vals(result.run_dir)[0], vals(result.run_dir)[-1]
    assert last["margin"] > first["margin"] + 0.05  # held-out pairs
    assert last["accuracy"] >= first["accuracy"]
    assert any(f"No reference model: {kind.upper()}" in m for m in said)


def test_kto_learns_from_unpaired_labels(tmp_path, make_rl_config):
    folder = tmp_path / "kto"
    write_jsonl(folder / "train.jsonl", labelled(ANIMALS[:6]))
    write_jsonl(folder / "valid.jsonl", labelled(ANIMALS[6:]))
    cfg = make_rl_config(folder, "dpo", preference_loss="kto", beta=0.5, iters=10)
    result = run_rl(cfg, log=lambda m: None)
    first, last = vals(result.run_dir)[0], vals(result.run_dir)[-1]
    assert first["margin"] == pytest.approx(0.0, abs=1e-4)  # the policy is its reference
    assert last["margin"] > 0.5 and last["accuracy"] > 0.7
    gap = lambda e: e["chosen_logprob"] - e["rejected_logprob"]  # noqa: E731
    assert gap(last) > gap(first) + 1
    train = [e for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    assert all("margin" in e and "chosen_reward" in e for e in train)


def test_kto_reads_preference_pairs_as_good_and_bad(pref_data, make_rl_config):
    cfg = make_rl_config(pref_data, "dpo", preference_loss="kto", iters=2, steps_per_eval=2)
    result = run_rl(cfg, log=lambda m: None)
    assert result.status == "completed" and vals(result.run_dir)[-1]["accuracy"] >= 0


def test_kto_label_must_be_true_or_false(tmp_path, make_rl_config):
    data = write_jsonl(tmp_path / "k.jsonl", [{"prompt": "a", "completion": "b", "label": "yes"}])
    with pytest.raises(UserError, match=r"k.jsonl:1: 'label' must be true"):
        run_rl(make_rl_config(data, "dpo", preference_loss="kto"), log=lambda m: None)
