"""DPO / IPO / ORPO from preference pairs on the tiny model."""

from __future__ import annotations

import json

import pytest
from rl_helpers import write_jsonl

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.job import run_rl


def quiet(message: str) -> None:
    pass


def vals(run_dir) -> list[dict]:
    return [e for e in runs.read_events(run_dir) if e["event"] == "val"]


def test_dpo_widens_the_held_out_margin(pref_data, make_rl_config):
    result = run_rl(make_rl_config(pref_data, "dpo"), log=quiet)
    assert result.status == "completed" and result.step == 10
    first, last = vals(result.run_dir)[0], vals(result.run_dir)[-1]
    # at step 0 the policy is the reference: implicit rewards and their margin are 0
    assert first["step"] == 0 and first["margin"] == pytest.approx(0.0, abs=1e-4)
    assert last["margin"] > 0.5 and last["accuracy"] >= 0.9
    gap = lambda e: e["chosen_logprob"] - e["rejected_logprob"]  # noqa: E731
    assert gap(last) > gap(first) + 5  # held-out pairs: chosen now far likelier
    assert last["val_loss"] < first["val_loss"]
    train = [e for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    for key in ("train_loss", "margin", "accuracy", "chosen_reward", "rejected_reward"):
        assert all(isinstance(e[key], float) for e in train), key
    assert all(e["tokens_per_second"] > 0 for e in train)
    assert (result.run_dir / "adapters.safetensors").is_file()
    assert runs.read_meta(result.run_dir)["stage"] == "dpo"


@pytest.mark.parametrize("kind", ["ipo", "orpo"])
def test_other_preference_losses_learn(pref_data, make_rl_config, kind):
    cfg = make_rl_config(pref_data, "dpo", preference_loss=kind, iters=6, steps_per_eval=6)
    result = run_rl(cfg, log=quiet)
    first, last = vals(result.run_dir)[0], vals(result.run_dir)[-1]
    gap = lambda e: e["chosen_logprob"] - e["rejected_logprob"]  # noqa: E731
    assert gap(last) > gap(first)


def test_adapters_load_in_mlx_lm(pref_data, make_rl_config, tiny_model):
    from mlx_lm import generate, load

    result = run_rl(make_rl_config(pref_data, "dpo", iters=2, steps_per_eval=100), log=quiet)
    model, tokenizer = load(str(tiny_model), adapter_path=str(result.run_dir))
    assert isinstance(generate(model, tokenizer, "The", max_tokens=3), str)
    assert json.loads((result.run_dir / "adapter_config.json").read_text())["stage"] == "dpo"


def test_bad_pair_is_named_before_a_run_exists(tmp_path, make_rl_config, studio_home):
    data = write_jsonl(
        tmp_path / "p.jsonl",
        [{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "a", "chosen": "b"}],
    )
    with pytest.raises(UserError, match=r"p.jsonl:2: no 'rejected'"):
        run_rl(make_rl_config(data, "dpo"), log=quiet)
    assert not (studio_home / "runs").exists() or not any((studio_home / "runs").iterdir())
