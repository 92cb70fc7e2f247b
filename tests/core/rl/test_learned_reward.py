"""Stage reward: a Bradley-Terry reward head trained from preference pairs, then used
as a reward model (LearnedReward / reward_model: learned:RUN)."""

from __future__ import annotations

import json

import pytest
from rl_helpers import ANIMALS, COLOURS, write_jsonl

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl.learned_reward import LearnedReward
from mlxstudio.core.rl.reward_head import HEAD_FILE, REWARD_CONFIG
from mlxstudio.core.rl.reward_train import run_reward
from mlxstudio.core.rl.rewards import load_reward_model, score


def quiet(message: str) -> None:
    pass


def marker_records(animals: list[str], colours: list[str]) -> list[dict]:
    """Chosen answers carry the marker word 'quick'; rejected ones do not."""
    return [
        {
            "prompt": f"Describe the {c} {a}.",
            "chosen": f"The quick {c} {a}.",
            "rejected": f"The {c} {a}.",
        }
        for a in animals
        for c in colours
    ]


@pytest.fixture(scope="module")
def reward_run(tiny_model, tmp_path_factory):
    """One trained reward run shared by the tests of this module (training is the slow part)."""
    from rl_helpers import rl_config

    tmp = tmp_path_factory.mktemp("reward")
    data = tmp / "data"
    write_jsonl(data / "train.jsonl", marker_records(ANIMALS[:6], COLOURS[:4]))
    write_jsonl(data / "valid.jsonl", marker_records(ANIMALS[6:], COLOURS[4:6]))
    cfg = rl_config(
        tiny_model,
        data,
        "reward",
        iters=24,
        steps_per_eval=12,
        save_every=12,
        learning_rate=3e-3,
        adapter_path=str(tmp / "run"),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLXSTUDIO_HOME", str(tmp / "home"))
        yield run_reward(cfg, log=quiet)


def vals(run_dir) -> list[dict]:
    return [e for e in runs.read_events(run_dir) if e["event"] == "val"]


def test_training_separates_held_out_pairs(reward_run):
    assert reward_run.status == "completed" and reward_run.step == 24
    first, last = vals(reward_run.run_dir)[0], vals(reward_run.run_dir)[-1]
    print(f"\nheld-out before: acc {first['accuracy']:.2f} margin {first['margin']:.3f}")
    print(f"held-out after:  acc {last['accuracy']:.2f} margin {last['margin']:.3f}")
    assert first["step"] == 0 and last["step"] == 24
    assert last["accuracy"] >= 0.8
    assert last["margin"] > first["margin"] + 0.5
    assert last["val_loss"] < first["val_loss"]
    train = [e for e in runs.read_events(reward_run.run_dir) if e["event"] == "train"]
    for key in ("train_loss", "margin", "accuracy", "chosen_reward", "rejected_reward"):
        assert all(isinstance(e[key], float) for e in train), key
    assert runs.read_meta(reward_run.run_dir)["stage"] == "reward"


def test_run_dir_holds_the_reward_model(reward_run):
    run_dir = reward_run.run_dir
    for name in (HEAD_FILE, REWARD_CONFIG, "adapters.safetensors", "adapter_config.json"):
        assert (run_dir / name).is_file(), name
    settings = json.loads((run_dir / REWARD_CONFIG).read_text())
    assert settings["step"] == 24 and settings["pooling"] == "last_token"
    assert not list(run_dir.glob(".*tmp*"))  # atomic writes left nothing behind


def test_learned_reward_ranks_held_out_pairs(reward_run):
    model = LearnedReward(reward_run.run_dir)
    prompts = ["Describe the grey goat.", "Describe the pink duck."]
    chosen = score(model, prompts, ["The quick grey goat.", "The quick pink duck."])
    rejected = score(model, prompts, ["The grey goat.", "The pink duck."])
    assert all(c > r for c, r in zip(chosen, rejected, strict=True))
    # batching does not change a score
    alone = score(model, prompts[:1], ["The quick grey goat."])
    assert alone[0] == pytest.approx(chosen[0], abs=1e-4)


def test_load_reward_model_learned_spec(reward_run, monkeypatch):
    by_spec = load_reward_model(f"learned:{reward_run.run_dir}")
    assert isinstance(by_spec, LearnedReward) and by_spec.name.startswith("learned:")
    assert isinstance(load_reward_model(str(reward_run.run_dir)), LearnedReward)
    monkeypatch.chdir(reward_run.run_dir.parent)
    relative = load_reward_model(f"learned:{reward_run.run_dir.name}", {"batch_size": 2})
    assert relative.batch_size == 2
    # a job that prefixed the working directory still finds the run
    prefixed = f"{reward_run.run_dir.parent}/learned:{reward_run.run_dir.name}"
    assert load_reward_model(prefixed).run_dir == reward_run.run_dir


def test_grpo_with_the_learned_reward(reward_run, prompt_data, make_rl_config, tmp_path):
    from mlxstudio.core.rl.job import run_rl

    cfg = make_rl_config(
        prompt_data,
        "grpo",
        reward_model=f"learned:{reward_run.run_dir}",
        iters=2,
        group_size=2,
        max_new_tokens=6,
        steps_per_eval=100,
    )
    result = run_rl(cfg, log=quiet)
    assert result.status == "completed"
    train = [e for e in runs.read_events(result.run_dir) if e["event"] == "train"]
    assert train and all(isinstance(e["reward_mean"], float) for e in train)


@pytest.mark.parametrize("broken", ["missing", "not_a_run", "bad_json"])
def test_bad_run_dir_is_a_one_line_user_error(tmp_path, broken):
    run = tmp_path / "run"
    if broken != "missing":
        run.mkdir()
    if broken == "bad_json":
        (run / REWARD_CONFIG).write_text("{not json")
    with pytest.raises(UserError) as info:
        load_reward_model(f"learned:{run}")
    assert "\n" not in str(info.value) and str(run) in str(info.value)


def test_bad_pair_is_named_before_a_run_exists(tmp_path, tiny_model, studio_home):
    from rl_helpers import rl_config

    data = write_jsonl(
        tmp_path / "p.jsonl",
        [{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "a", "chosen": "b"}],
    )
    with pytest.raises(UserError, match=r"p.jsonl:2: no 'rejected'"):
        run_reward(rl_config(tiny_model, data, "reward"), log=quiet)
    assert not (studio_home / "runs").exists() or not any((studio_home / "runs").iterdir())


def test_cli_train_stage_reward(tmp_path, tiny_model, capsys):
    import yaml

    from mlxstudio.cli import main
    from mlxstudio.core import paths

    data = tmp_path / "data"
    write_jsonl(data / "train.jsonl", marker_records(ANIMALS[:2], COLOURS[:2]))
    config = tmp_path / "reward.yaml"
    settings = dict(
        model=str(tiny_model),
        data=str(data),
        stage="reward",
        name="cli-reward",
        iters=2,
        batch_size=2,
        num_layers=1,
        steps_per_report=1,
    )
    config.write_text(yaml.safe_dump(settings))
    assert main(["train", str(config), "--events"]) == 0
    lines = [json.loads(x[7:]) for x in capsys.readouterr().out.splitlines() if x[:7] == "@event "]
    assert lines[0]["event"] == "start" and lines[-1]["status"] == "completed"
    run_dir = paths.runs_dir() / "cli-reward"
    assert (run_dir / HEAD_FILE).is_file()
    assert isinstance(load_reward_model(f"learned:{run_dir}"), LearnedReward)
