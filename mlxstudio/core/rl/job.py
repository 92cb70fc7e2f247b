"""The RL stages (rl: offline PPO, grpo, dpo) on the shared job skeleton (core/train/stage.py):
the same events, exit codes, checkpoints, run.json and stop / pause signals as SFT; only the
step (core/rl/loop.py + a trainer) differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlxstudio.core.config import RL_STAGES, RunConfig, Stage
from mlxstudio.core.distributed import World
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.rl import data as rl_data
from mlxstudio.core.rl.loop import RecordPlan, RLLoop
from mlxstudio.core.rl.reference import Reference
from mlxstudio.core.rl.reward_mix import load_checks, load_rewards, resolved
from mlxstudio.core.rl.rewards import BUILTINS, RewardError, load_reward_model, score, split_spec
from mlxstudio.core.train.job import RunResult, create_run
from mlxstudio.core.train.samples import make_sampler
from mlxstudio.core.train.stage import Built, refuse_in_rl, run_stage
from mlxstudio.core.train.trainable import (
    build_optimizer,
    load_base,
    make_trainable,
    start_from_run,
    write_adapter_config,
)


def read_data(cfg: RunConfig, reward_model=None) -> tuple[list, list]:
    """(train, valid) examples of the stage; scored data without rewards gets them from
    the reward model."""
    train_file, valid_file = rl_data.data_files(cfg.data)
    if cfg.stage == Stage.DPO and cfg.preference_loss == "kto":
        read = lambda p: rl_data.read_labelled(p, cfg)  # noqa: E731
    elif cfg.stage == Stage.DPO:
        read = lambda p: rl_data.read_pairs(p, cfg)  # noqa: E731
    elif cfg.stage == Stage.GRPO:
        read = lambda p: rl_data.read_prompts(p, cfg)  # noqa: E731
    else:
        need = cfg.reward_model is None
        read = lambda p: rl_data.read_scored(p, cfg, need_reward=need)  # noqa: E731
    train = read(train_file)
    valid = read(valid_file) if valid_file else []
    if cfg.stage == Stage.RL and reward_model is not None:
        for part in (train, valid):
            todo = [s for s in part if s.reward is None]
            if todo:
                rewards = score(reward_model, [s.prompt for s in todo], [s.response for s in todo])
                for s, r in zip(todo, rewards, strict=True):
                    s.reward = r
    return train, valid


def _check(cfg: RunConfig) -> None:
    if cfg.stage not in RL_STAGES:
        raise UserError(f"config: stage '{cfg.stage}' is not an RL stage ({', '.join(RL_STAGES)})")
    if cfg.stage == Stage.GRPO and not (cfg.reward_model or cfg.reward_functions):
        raise UserError(
            "config: stage grpo needs a reward: reward_model (a built-in or file.py:Class) "
            "or reward_functions (several, with weights)"
        )
    if cfg.ppo_mini_batch_size is not None and cfg.ppo_mini_batch_size < 1:
        raise UserError("config: 'ppo_mini_batch_size' must be at least 1")
    if cfg.stage == Stage.GRPO and cfg.group_size < 2:
        raise UserError("config: GRPO compares responses within a group: group_size >= 2")
    refuse_in_rl(cfg)


def uses_reference(cfg: RunConfig) -> bool:
    """Whether the stage reads the starting policy (CPO, SimPO and ORPO never do)."""
    from mlxstudio.core.rl.dpo import REFERENCE_FREE

    return not (cfg.stage == Stage.DPO and cfg.preference_loss in REFERENCE_FREE)


def _trainer(cfg: RunConfig, model, tokenizer, optimizer, reference: Reference | None):
    reward_model = load_rewards(cfg)
    train, valid = read_data(cfg, reward_model)
    args = (model, tokenizer, optimizer, cfg, train, valid, reference)
    if cfg.stage == Stage.DPO and cfg.preference_loss == "kto":
        from mlxstudio.core.rl.kto import KTOTrainer

        return KTOTrainer(*args), len(train)
    if cfg.stage == Stage.DPO:
        from mlxstudio.core.rl.dpo import DPOTrainer

        return DPOTrainer(*args), len(train)
    if cfg.stage == Stage.GRPO:
        from mlxstudio.core.rl.grpo import GRPOTrainer

        return GRPOTrainer(*args, reward_model=reward_model, checks=load_checks(cfg)), len(train)
    from mlxstudio.core.rl.ppo import OfflinePPOTrainer

    return OfflinePPOTrainer(*args), len(train)


class RL:
    """Stages rl, grpo and dpo: a trainer per stage on the RL loop."""

    def new_run(self, cfg: RunConfig, writes: bool = True) -> tuple[RunConfig, Path]:
        _check(cfg)
        cfg = start_from_run(cfg)
        model_path = resolve_model(cfg.model)
        spec = cfg.reward_model
        learned = bool(spec) and spec.startswith("learned:")
        if learned:  # a reward run: absolute, and checked without loading its model twice
            from mlxstudio.core.rl.learned_reward import check_reward_run, learned_run_dir

            run = learned_run_dir(spec).resolve()
            check_reward_run(run)
            cfg = replace(cfg, reward_model=f"learned:{run}")
        elif spec and spec not in BUILTINS:  # a file: make it absolute
            file, cls = split_spec(spec)
            absolute = str(Path(file).expanduser().resolve())
            cfg = replace(cfg, reward_model=absolute + (f":{cls}" if cls else ""))
        cfg = resolved(cfg)
        reward_model = None
        if cfg.reward_model and (not learned or cfg.stage == Stage.RL):  # rl scores data up front
            reward_model = load_reward_model(cfg.reward_model, cfg.reward_kwargs)
        if cfg.stage == Stage.GRPO:  # every reward loads (a file's errors now, not at step 1)
            load_rewards(cfg)
            load_checks(cfg)
        data_path = Path(cfg.data).expanduser().resolve()
        cfg = replace(cfg, data=str(data_path))
        read_data(cfg, reward_model)  # every file:line problem before a run directory exists
        return create_run(cfg, model_path)

    def build(
        self, cfg: RunConfig, run_dir: Path, log: Callable[[str], None], resuming: bool, rank: World
    ) -> Built:
        model, tokenizer = load_base(cfg, log)
        trainable = make_trainable(model, cfg, log)
        reference = None
        if uses_reference(cfg):  # the starting policy, before any checkpoint is loaded
            reference = Reference(model)
        else:
            log(f"No reference model: {cfg.preference_loss.upper()} does not need one")
        write_adapter_config(run_dir, cfg)
        optimizer = build_optimizer(cfg)
        trainer, n_train = _trainer(cfg, model, tokenizer, optimizer, reference)
        return Built(
            model=model,
            optimizer=optimizer,
            trainable=trainable,
            loop_class=RLLoop,
            loop_args=dict(
                plan=RecordPlan(n_train, cfg.batch_size, cfg.seed, rank),
                valid_set=None,
                trainer=trainer,
            ),
            make_sampler=lambda emit: make_sampler(model, tokenizer, cfg, emit),
            user_errors=(RewardError,),
            start_fields=dict(world_size=rank.size, batch_size=cfg.batch_size),
        )


def run_rl(cfg: RunConfig | None, *args, **kwargs) -> RunResult:
    """Train cfg.model by cfg.stage (rl: offline PPO, grpo, dpo), or continue the run in
    `resume_dir`: see stage.run_stage for the arguments and where events go."""
    return run_stage(RL(), cfg, *args, **kwargs)
