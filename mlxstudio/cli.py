"""The `mlxstudio` command: a thin skin over mlxstudio.core, one subcommand per verb."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from mlxstudio import __version__
from mlxstudio.core.config import RL_STAGES, Stage
from mlxstudio.core.errors import UserError
from mlxstudio.core.platform import reexec_with_fast_blas
from mlxstudio.core.runs import Status


def _progress(message: str) -> None:
    print(message, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from mlxstudio.core import events
    from mlxstudio.core.mlx_pretrain.configs import load_run_config
    from mlxstudio.core.mlx_pretrain.files import export_run_files
    from mlxstudio.core.train.sft import run_sft

    if (args.hosts or args.local_ranks) and not _launched_by_mlx():
        return _train_distributed(args)
    stream = sys.stdout if args.events else None
    cfg = None
    if args.config:
        try:  # ours, mlx-lm's lora_config.yaml, or an MLX-Pretrain config
            cfg = load_run_config(
                args.config, args.pretrained_model, args.name, _progress, args.reward_model
            )
        except UserError as err:
            if stream is not None:
                events.print_event(stream, events.Error(message=str(err), code="user_error"))
            raise
        if args.name:
            cfg.name = args.name
    resume = Path(args.resume) if args.resume else None
    stage = cfg.stage if cfg is not None else _run_stage(resume)
    run = run_sft
    if stage in RL_STAGES:
        from mlxstudio.core.rl.job import run_rl as run
    elif stage == Stage.REWARD:
        from mlxstudio.core.rl.reward_train import run_reward as run
    elif stage == Stage.PRETRAIN:
        from mlxstudio.core.train.pretrain import run_pretrain as run
    try:
        from mlxstudio.core.train.console import printer

        watch = None if stream is not None else printer()  # people read lines, programs @event
        result = run(cfg, watch, log=_progress, events_stream=stream, resume_dir=resume)
    finally:  # MLX-Pretrain's metadata.json and log, for a run started from its config
        export_run_files(cfg.adapter_path if cfg is not None else resume)
    if os.environ.get("MLX_RANK", "0") != "0":
        return result.exit_code  # rank 0 reports for all ranks
    val = ""
    if result.first_val_loss is not None and result.last_val_loss is not None:
        from mlxstudio.core.curves import val_words

        first, last = result.first_val_loss, result.last_val_loss
        val = "; " + val_words(stage, first, last, arrow="->")
    print(f"Run {result.status} at step {result.step}: {result.run_dir}{val}", flush=True)
    if result.status == Status.STOPPED:
        print(f"Continue it with: mlxstudio train --resume {result.run_dir}", flush=True)
    return result.exit_code


def _launched_by_mlx() -> bool:
    from mlxstudio.core.distributed import launched_by_mlx

    return launched_by_mlx()


def _train_distributed(args: argparse.Namespace) -> int:
    """Re-launch this command on every host through mlx.launch; relay rank 0's output."""
    from mlxstudio.core import distributed as dist
    from mlxstudio.core import events

    hosts = ["127.0.0.1"] * (args.local_ranks or 0)
    backend = "ring"
    if args.hosts:
        parsed, backend = dist.read_hostfile(Path(args.hosts))
        hosts, backend = [h.ssh for h in parsed], backend or "ring"
    resume = Path(args.resume).expanduser().resolve() if args.resume else None
    if args.config:  # read as the ranks will (ours, mlx-lm's or MLX-Pretrain's format)
        from mlxstudio.core.mlx_pretrain.configs import load_run_config

        quiet = lambda m: None  # noqa: E731 - the ranks log the conversion
        cfg = load_run_config(args.config, args.pretrained_model, args.name, log=quiet)
        stage, grpo_loss = cfg.stage, cfg.grpo_loss
    else:
        stage, grpo_loss = _run_stage(resume), _run_config(resume).grpo_loss
    problem = dist.several_ranks_problem(stage, grpo_loss)
    if problem:
        raise UserError(problem)
    rank_argv = ["train", "--events"]  # rank 0's events tell this process how it went
    if args.config:
        rank_argv.append(str(Path(args.config).expanduser().resolve()))
    else:
        rank_argv += ["--resume", str(resume)]
    for flag, value in (("--name", args.name), ("--pretrained-model", args.pretrained_model)):
        if value:
            rank_argv += [flag, value]
    cmd = dist.launch_command(
        rank_argv,
        hostfile=Path(args.hosts) if args.hosts else None,
        local_ranks=args.local_ranks,
        backend=backend,
    )
    print(f"Launching {len(hosts)} ranks: {', '.join(hosts)}", flush=True)
    outcome = dist.supervise(cmd, forward_events=args.events)
    # a stop or divergence ends every rank with rank 0's `finished`: not a death
    if outcome.dead_rank is not None and outcome.status not in (
        Status.COMPLETED,
        Status.STOPPED,
        Status.DIVERGED,
    ):
        where = f"--hosts {args.hosts}" if args.hosts else f"--local-ranks {args.local_ranks}"
        hint = f"mlxstudio train --resume {outcome.run_dir} {where}"
        message = dist.death_message(outcome, hosts, hint)
        if args.events:
            events.print_event(sys.stdout, events.Error(message=message, code="rank_died"))
        print(f"mlxstudio: error: {message}", file=sys.stderr, flush=True)
        return events.EXIT_CRASH
    if outcome.status is None:
        print("mlxstudio: error: the ranks ended without a result", file=sys.stderr)
        return events.EXIT_CRASH
    print(f"Run {outcome.status} at step {outcome.step}: {outcome.run_dir}", flush=True)
    from mlxstudio.core.train.job import EXIT_CODES

    return EXIT_CODES.get(outcome.status, events.EXIT_CRASH)


def _run_config(run_dir: Path | None):
    """The config a run directory was trained with (its config.yaml), to resume it alike."""
    from mlxstudio.core import runs
    from mlxstudio.core.config import RunConfig, load_config

    if run_dir is None or not (run_dir / runs.CONFIG).is_file():
        return RunConfig()
    return load_config(run_dir / runs.CONFIG)


def _run_stage(run_dir: Path | None) -> str:
    return _run_config(run_dir).stage


def cmd_demo(args: argparse.Namespace) -> int:
    from mlxstudio.core.demo import run_demo

    run_demo(iters=args.iters)
    return 0


def has_display() -> bool:
    """Whether a window can be shown (always on macOS; an X/Wayland display or a Qt
    platform chosen explicitly, such as offscreen, elsewhere)."""
    if sys.platform == "darwin":
        return True
    keys = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    return any(os.environ.get(k) for k in keys)


def cmd_gui(args: argparse.Namespace) -> int:
    if not has_display():
        print("No display here: running the headless demo (`mlxstudio demo`) instead.")
        return cmd_demo(argparse.Namespace(iters=None))
    from mlxstudio.gui.app import run_app

    return run_app(args.files)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlxstudio", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlxstudio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("gui", help="open the app window")
    p.add_argument("files", nargs="*", help="datasets or .gguf files to open")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("demo", help="install the demo model, fine-tune it, and ask it a question")
    p.add_argument("--iters", type=int, help="training steps (default: the demo config's)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "train",
        help="fine-tune a model from a YAML config, or resume a run",
        epilog="Every config key, with its type, default and limits: mlxstudio config keys",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "config", nargs="?", help="YAML config (mlx-lm lora_config.yaml keys are accepted)"
    )
    what.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a stopped or crashed run from its checkpoint"
    )
    p.add_argument("--name", help="run name (default: the config's name, or model-time)")
    p.add_argument(
        "--events",
        action="store_true",
        help="print every event as one '@event {json}' line (for a supervising program)",
    )
    p.add_argument(
        "--pretrained_model",
        "--pretrained-model",
        metavar="RUN_OR_PATH",
        help="the model to train: a pretraining run or a model folder (MLX-Pretrain's flag)",
    )
    p.add_argument(
        "--reward_model",
        "--reward-model",
        metavar="SPEC",
        help="RL reward: a built-in name, path/to/file.py[:ClassName] or a reward run "
        "(learned:RUN); overrides the config's (MLX-Pretrain's flag)",
    )
    ranks = p.add_mutually_exclusive_group()
    ranks.add_argument(
        "--hosts",
        metavar="HOSTFILE",
        help="train data-parallel on the hosts of an mlx.launch JSON hostfile (one rank each); "
        "batch_size is the global batch (see `mlxstudio doctor --hosts`)",
    )
    ranks.add_argument(
        "--local-ranks",
        type=int,
        metavar="N",
        help="train data-parallel with N ranks on this machine (to try --hosts out)",
    )
    p.set_defaults(func=cmd_train)

    for register in _command_groups():
        register(sub)
    return parser


def _command_groups() -> list:
    """Subcommand groups that live in their own modules (each has `register(subparsers)`)."""
    from mlxstudio.commands import GROUPS

    return [importlib.import_module(name).register for name in GROUPS]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mlxstudio` command."""
    if argv is None:  # a real command line: safe to re-exec with OpenBLAS preloaded
        argv = sys.argv[1:]
        reexec_with_fast_blas(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub calls behind the user's back
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"mlxstudio: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlxstudio: interrupted", file=sys.stderr)
        return 130
