"""Data-parallel training over several machines with MLX's distributed layer.

`mlxstudio train CONFIG --hosts HOSTFILE` re-launches itself through `mlx.launch` (ring
backend; MPI when the hostfile asks for it): one rank per host, each training on its slice
of every global batch, gradients averaged. Rank 0 alone writes the run directory and
prints `@event` lines; this process relays them and turns a rank's death into one line.

The hostfile is mlx.launch's JSON: `[{"ssh": "mac1.local", "ips": ["192.168.1.10"]}, ...]`
(or `{"backend": ..., "envs": [...], "hosts": [...]}`). `doctor` checks each host first.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from mlxstudio.core.errors import UserError

RING_PORT = 32323  # mlx.launch's default --starting-port: +1 per rank and IP
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_DEATH = re.compile(r"Node with rank (\d+) (was killed|exited with code (-?\d+))")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RING_NOISE = re.compile(r"^\[ring\] (Socket \d+ was closed by the peer|Too many send/recv)")


# -- inside a rank ----------------------------------------------------------------------
@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run directory, checkpoints and events; the others nothing."""
        return self.rank == 0


def world() -> World:
    """This process's place among the ranks (a lone process: rank 0 of 1)."""
    import mlx.core as mx

    group = mx.distributed.init()
    return World(rank=group.rank(), size=group.size())


def several_ranks_problem(stage: str, grpo_loss: str = "grpo") -> str | None:
    """Why a run of this stage cannot train on several ranks, or None when it can."""
    from mlxstudio.core.config import RL_STAGES, Stage

    if stage not in (Stage.SFT, *RL_STAGES):
        return f"training on several Macs supports stages sft, dpo, rl and grpo, not {stage}"
    if stage == Stage.GRPO and grpo_loss == "dapo":
        return (
            "DAPO's dynamic sampling keeps a different number of groups on each Mac: on "
            "several Macs choose the GRPO, Dr. GRPO or GSPO method (grpo_loss: grpo, "
            "dr_grpo or gspo)"
        )
    return None


def launched_by_mlx() -> bool:
    """Whether mlx.launch started this process (it sets MLX_RANK for every rank)."""
    return "MLX_RANK" in os.environ


# -- hostfiles --------------------------------------------------------------------------
@dataclass
class Host:
    ssh: str
    ips: list[str] = field(default_factory=list)

    @property
    def is_local(self) -> bool:
        return self.ssh in LOCAL_HOSTS


def read_hostfile(path: Path) -> tuple[list[Host], str]:
    """(hosts, backend) of an mlx.launch hostfile; UserError says what is wrong with it."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not a readable JSON hostfile ({err})") from None
    backend = ""
    if isinstance(data, dict):
        backend, data = data.get("backend", ""), data.get("hosts")
    if not isinstance(data, list) or not data:
        raise UserError(f'{path}: expected a list of hosts like [{{"ssh": "mac1", "ips": [...]}}]')
    hosts = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not entry.get("ssh"):
            raise UserError(f"{path}: host {i} has no 'ssh' name")
        hosts.append(Host(ssh=str(entry["ssh"]), ips=[str(ip) for ip in entry.get("ips", [])]))
    if backend in ("", "ring") and any(not h.ips for h in hosts):
        raise UserError(f"{path}: the ring backend needs 'ips' (IP addresses) for every host")
    return hosts, backend


def ring_ports(hosts: list[Host], start: int = RING_PORT) -> list[list[tuple[str, int]]]:
    """(ip, port) each host listens on, as mlx.launch assigns them (+1 per rank and IP)."""
    port, out = start, []
    for host in hosts:
        mine = []
        for ip in host.ips:
            mine.append((ip, port))
            port += 1
        out.append(mine)
    return out


# -- launching --------------------------------------------------------------------------
def launcher() -> str:
    """mlx.launch next to this Python (the venv's), else on PATH."""
    here = Path(sys.executable).parent / "mlx.launch"
    found = str(here) if here.is_file() else shutil.which("mlx.launch")
    if not found:
        raise UserError("mlx.launch not found: install mlx >= 0.22 in this environment")
    return found


def launch_command(
    rank_argv: list[str],
    hostfile: Path | None = None,
    local_ranks: int | None = None,
    backend: str = "ring",
) -> list[str]:
    """mlx.launch running `python -m mlxstudio <rank_argv>` on every host (or N local ranks).
    The same absolute Python path is used everywhere: each Mac needs the same environment."""
    cmd = [launcher(), "--backend", backend]
    if hostfile is not None:
        cmd += ["--hostfile", str(Path(hostfile).expanduser().resolve())]
    else:
        cmd += ["-n", str(local_ranks or 2)]
    return [*cmd, "--", sys.executable, "-m", "mlxstudio", *rank_argv]


@dataclass
class Outcome:
    """What the relay saw: rank 0's events and which rank died first, if any."""

    run_dir: str | None = None
    status: str | None = None  # rank 0's `finished` status
    step: int = 0
    last_checkpoint: int | None = None
    dead_rank: int | None = None
    death: str = ""
    ring_errors: int = 0
    error: str | None = None  # rank 0's `error` message


def _ignore_control_signals() -> None:
    # mlx.launch and the ssh clients ignore stop/pause signals (both keep an inherited
    # SIG_IGN): the ranks handle them, and the ring carries rank 0's stop to the others.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)


def supervise(
    cmd: list[str],
    forward_events: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    grace_s: float = 60.0,
) -> Outcome:
    """Run `cmd` (mlx.launch), relaying rank 0's output; stop/pause signals sent to this
    process go to the local ranks. Returns once every rank has ended."""
    from mlxstudio.core.events import parse_line
    from mlxstudio.core.platform import with_fast_blas

    out, err = out or sys.stdout, err or sys.stderr
    env = with_fast_blas(os.environ)
    env.pop("MLXSTUDIO_BLAS_CHECKED", None)  # each rank preloads OpenBLAS on its own host
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the local ranks, for signals
        preexec_fn=_ignore_control_signals,
    )
    outcome = Outcome()

    def kill_all() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def read_stderr() -> None:
        for line in proc.stderr:
            plain = _ANSI.sub("", line).strip()
            death = _DEATH.search(plain)
            if death:
                if outcome.dead_rank is None:
                    outcome.dead_rank, outcome.death = int(death.group(1)), death.group(2)
                    # a rank stuck in a collective must not keep the job alive
                    threading.Timer(grace_s, kill_all).start()
                continue
            if _RING_NOISE.match(plain):
                outcome.ring_errors += 1
                continue
            err.write(line)
            err.flush()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
    previous = {}
    if threading.current_thread() is threading.main_thread():

        def forward(signum, frame) -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)

        previous = {sig: signal.signal(sig, forward) for sig in handled}
    try:
        for line in proc.stdout:
            event = parse_line(line)
            if event is None:
                out.write(line)
                out.flush()
                continue
            _note(outcome, event)
            if forward_events:
                out.write(line)
                out.flush()
        proc.wait()
        reader.join(timeout=5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            kill_all()
    return outcome


def _note(outcome: Outcome, event: dict) -> None:
    kind = event.get("event")
    if kind == "start":
        outcome.run_dir = event.get("run_dir")
    elif kind == "checkpoint":
        outcome.last_checkpoint = event.get("step")
    elif kind == "train":
        outcome.step = event.get("step", outcome.step)
    elif kind == "error":
        outcome.error = event.get("message")
    elif kind == "finished":
        outcome.status, outcome.step = event.get("status"), event.get("step", outcome.step)


def death_message(outcome: Outcome, hosts: list[str], resume_hint: str) -> str:
    """One line for a job a rank's death ended: who, and what is kept."""
    host = hosts[outcome.dead_rank] if outcome.dead_rank is not None else "?"
    if outcome.dead_rank is not None and outcome.dead_rank < len(hosts):
        where = f"rank {outcome.dead_rank} ({host})"
    else:
        where = f"rank {outcome.dead_rank}"
    how = "was killed" if outcome.death == "was killed" else outcome.death
    kept = (
        f"the last checkpoint (step {outcome.last_checkpoint}) is kept in {outcome.run_dir}"
        if outcome.last_checkpoint is not None
        else "no checkpoint was written yet"
    )
    hint = f"; continue with: {resume_hint}" if outcome.last_checkpoint is not None else ""
    return f"{where} {how}; training stopped at step {outcome.step}: {kept}{hint}"


# -- doctor -----------------------------------------------------------------------------
@dataclass
class HostReport:
    host: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, ok, advice)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


# Run with the remote host's Python (the same path as ours): versions and free ports.
_PROBE = """
import json, socket, sys
from importlib.metadata import version
def v(name):
    try:
        return version(name)
    except Exception:
        return None
def free(ip, port):
    s = socket.socket(socket.AF_INET6 if ':' in ip else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as MLX's ring binds
    try:
        s.bind((ip, port)); return True
    except OSError:
        return False
    finally:
        s.close()
ports = json.loads(sys.argv[1])
print(json.dumps({"python": sys.version.split()[0], "mlx": v("mlx"), "mlx-lm": v("mlx-lm"),
    "mlxstudio": v("mlxstudio"), "ports": [[ip, p, free(ip, p)] for ip, p in ports]}))
"""


def local_versions() -> dict[str, str | None]:
    import json as _json

    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "[]"], capture_output=True, text=True, check=True
    )
    return _json.loads(done.stdout)


def _probe(host: Host, ports: list[tuple[str, int]], timeout_s: float) -> tuple[dict | None, str]:
    """The probe's answer from `host` (ssh in BatchMode; local hosts directly), or why not."""
    argv = [sys.executable, "-c", _PROBE, json.dumps(ports)]
    if not host.is_local:
        import shlex

        argv = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={max(1, int(timeout_s))}",
            host.ssh,
            shlex.join(argv),
        ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s + 10)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, str(err)
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    try:
        return json.loads(done.stdout.strip().splitlines()[-1]), ""
    except (json.JSONDecodeError, IndexError):
        return None, f"unexpected answer: {done.stdout.strip()[:200]}"


def check_hosts(
    hosts: list[Host],
    timeout_s: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> list[HostReport]:
    """For each host: reachable, the same Python / mlx / mlx-lm / mlxstudio as here, and its
    ring ports free."""
    ours = local_versions()
    reports = []
    for host, ports in zip(hosts, ring_ports(hosts), strict=True):
        if progress:
            progress(f"Checking {host.ssh}")
        report = HostReport(host.ssh)
        reports.append(report)
        answer, why = _probe(host, ports, timeout_s)
        if answer is None:
            if host.is_local:
                advice = f"{sys.executable} does not run here: {why}"
            elif "No such file" in why or "not found" in why:
                advice = f"{why}: install the same environment at {sys.executable} on {host.ssh}"
            else:
                advice = (
                    f"{why}: check `ssh {host.ssh}` works without a password (ssh-copy-id "
                    f"{host.ssh}; Remote Login on in System Settings > General > Sharing)"
                )
            report.checks.append(("reachable", False, advice))
            continue
        report.checks.append(("reachable", True, "local" if host.is_local else "ssh ok"))
        for name in ("python", "mlx", "mlx-lm", "mlxstudio"):
            theirs, mine = answer.get(name), ours.get(name)
            ok = theirs == mine
            advice = (
                f"{theirs}"
                if ok
                else f"{theirs} on {host.ssh}, {mine} here: install {mine} on {host.ssh}"
            )
            report.checks.append((name, ok, advice))
        for ip, port, free in answer.get("ports", []):
            advice = "free" if free else "in use: stop what listens there or pick another port"
            report.checks.append((f"port {ip}:{port}", bool(free), advice))
    return reports


def format_reports(reports: list[HostReport]) -> str:
    """A table: host, check, ✓/✗, and what to do."""
    rows = [
        (r.host, what, "✓" if ok else "✗", advice) for r in reports for what, ok, advice in r.checks
    ]
    widths = [max(len(row[i]) for row in rows + [("host", "check", "", "")]) for i in range(3)]
    lines = []
    for row in [("host", "check", "", "")] + rows:
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
        )
    return "\n".join(line.rstrip() for line in lines)
