"""`mlxstudio doctor [--hosts HOSTFILE]`: where this machine trains (backend, device, dtype)
and, with a hostfile, whether those hosts can train together (core.distributed)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="say where this machine trains (backend, device, dtype); with --hosts, check the "
        "hosts of a distributed run: ssh, versions, ports",
    )
    p.add_argument(
        "--hosts", metavar="HOSTFILE", help="mlx.launch JSON hostfile to check (optional)"
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each host's ssh")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from mlxstudio.core.mlx_install import library_problem
    from mlxstudio.core.platform import backend

    problem = library_problem()
    if problem:
        print(f"✗ {problem}", flush=True)
    try:
        here = backend()
    except ImportError as err:  # e.g. the CUDA library without NVIDIA's driver
        print(
            f"✗ MLX cannot load: {err}. With an NVIDIA GPU, install its driver for CUDA 13; "
            "without one, `pip uninstall -y mlx-cuda-13 && pip install --force-reinstall "
            "--no-deps mlx-cpu` trains on the CPU."
        )
        return 1
    print(f"backend: {here.name}\ndevice: {here.device}", flush=True)
    print(f"compute dtype: {here.dtype or 'model (the weights as stored; QLoRA on 4-bit)'}")
    if not args.hosts:
        return 1 if problem else 0
    from mlxstudio.core.distributed import check_hosts, format_reports, read_hostfile

    hosts, _ = read_hostfile(Path(args.hosts))
    reports = check_hosts(hosts, timeout_s=args.timeout)
    print(format_reports(reports), flush=True)
    bad = [r.host for r in reports if not r.ok]
    if bad:
        print(f"\n✗ {len(bad)} of {len(reports)} hosts need attention: {', '.join(bad)}")
        return 1
    print(f"\n✓ all {len(reports)} hosts are ready: mlxstudio train CONFIG --hosts {args.hosts}")
    return 0
