"""DPO and GRPO over two local ranks (ring backend on 127.0.0.1): DPO's curve equals one
process's on the same global batch; GRPO trains with rank 0 reporting for both; DAPO is
refused before anything starts."""

from __future__ import annotations

import sys
from dataclasses import asdict

import pytest
import yaml
from test_distributed import launch, split

from mlxstudio.core import runs
from mlxstudio.core.rl.job import run_rl
from mlxstudio.core.train import checkpoint as ckpt
from tests.core.rl.rl_helpers import ANIMALS, COLOURS, preference_records, rl_config, write_jsonl

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finds ranks through /proc")


def _config_file(tmp_path, cfg) -> str:
    path = tmp_path / f"{cfg.name}.yaml"
    values = {k: v for k, v in asdict(cfg).items() if v is not None}
    path.write_text(yaml.safe_dump(values))
    return str(path)


def _by_step(events, kind: str, key: str) -> dict[int, float]:
    return {e["step"]: e[key] for e in events if e["event"] == kind}


def test_dpo_on_two_ranks_follows_one_process(tmp_path, tiny_model, studio_home):
    data = tmp_path / "pref"
    write_jsonl(data / "train.jsonl", preference_records(ANIMALS[:6]))
    write_jsonl(data / "valid.jsonl", preference_records(ANIMALS[6:]))
    # 4 steps: after that Adam's division by tiny second moments makes float noise grow
    # (step 6 differs by 0.4% from one process, where steps 1-4 agree to 1e-6)
    settings = dict(iters=4, steps_per_report=1, steps_per_eval=2, save_every=2)
    single = run_rl(rl_config(tiny_model, data, "dpo", name="one", **settings), log=print)
    job = launch(_config_file(tmp_path, rl_config(tiny_model, data, "dpo", name="two", **settings)))
    out, err = job.communicate(timeout=600)
    assert job.returncode == 0, err
    events, _log = split(out)
    kinds = [e["event"] for e in events]
    assert kinds.count("start") == kinds.count("finished") == 1  # rank 0 reports for both
    assert events[0]["world_size"] == 2 and events[-1]["status"] == "completed"
    expected = list(runs.read_events(single.run_dir))
    for kind, key in (("train", "train_loss"), ("val", "val_loss")):
        want, got = _by_step(expected, kind, key), _by_step(events, kind, key)
        assert sorted(got) == sorted(want) and want
        print(kind, "one process vs two ranks:", [(want[s], got[s]) for s in sorted(want)])
        for step in want:
            assert got[step] == pytest.approx(want[step], rel=1e-4, abs=1e-5), (kind, step)
    trained = _by_step(events, "train", "trained_tokens")
    assert trained == _by_step(expected, "train", "trained_tokens")  # both halves counted


def test_grpo_trains_on_two_ranks_and_dapo_is_refused(tmp_path, tiny_model, studio_home):
    data = tmp_path / "prompts"
    write_jsonl(
        data / "train.jsonl",
        [{"prompt": f"The {c} {a}"} for a in ANIMALS[:4] for c in COLOURS[:2]],
    )
    cfg = rl_config(
        tiny_model, data, "grpo", name="grpo2", iters=4, steps_per_report=1,
        steps_per_eval=4, save_every=2, reward_model="max_words", group_size=2,
        max_new_tokens=8,
    )  # fmt: skip
    job = launch(_config_file(tmp_path, cfg))
    out, err = job.communicate(timeout=600)
    assert job.returncode == 0, err
    events, _log = split(out)
    train = [e for e in events if e["event"] == "train"]
    assert [e["step"] for e in train] == [1, 2, 3, 4]
    assert all(0.0 <= e["reward_mean"] <= 1.0 for e in train)
    run_dir = next(e["run_dir"] for e in events if e["event"] == "start")
    assert [s for s, _ in ckpt.list_checkpoints(run_dir)] == [2, 4]

    dapo = launch(_config_file(tmp_path, cfg.__class__(**{**asdict(cfg), "grpo_loss": "dapo"})))
    out, err = dapo.communicate(timeout=120)
    assert dapo.returncode != 0
    assert "DAPO's dynamic sampling" in err and "Launching" not in out
