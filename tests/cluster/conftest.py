"""Fixtures of live services for the cluster tests: a one-node SLURM cluster (munge, slurmctld, slurmd) and
a PostgreSQL server, each started in the test's temporary folder for the session (the first test that asks)
and stopped after it. CPU only, no cgroups (a container has none to give): processes
tracked by their parent pid, tasks not bound to cores."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# Debian's packages: munge, slurmctld, slurmd and the client commands; PostgreSQL's server binaries
SLURM_PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
POSTGRES_BIN = Path("/usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, logs: list[Path], timeout: float = 30.0) -> None:
    """Poll check() until it is true; fail with the services' logs after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            text = "\n".join(f"--- {log}\n{log.read_text()[-2000:]}" for log in logs if log.exists())
            pytest.fail(f"{what} did not come up within {timeout:.0f} s\n{text}")
        time.sleep(0.2)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Slurm:
    """A running one-node cluster: env holds SLURM_CONF for its commands (sbatch, squeue, scancel...)."""

    env: dict[str, str]
    partition: str

    def run(self, *command: str) -> str:
        return subprocess.run(command, env=self.env, check=True, capture_output=True, text=True).stdout


def skip_unless_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} runs as root here (its daemons switch users); run the tests as root")


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """slurmctld and slurmd on 127.0.0.1 with one node described by `slurmd -C` (this machine's real
    cores and memory), authenticated by a munged on a private key and socket."""
    skip_unless_root("SLURM")
    missing = [
        name for name in SLURM_PROGRAMS if shutil.which(name, path=f"{os.environ['PATH']}:/usr/sbin") is None
    ]
    if missing:
        pytest.skip(f"SLURM not installed (no {', '.join(missing)}): apt-get install slurm-wlm")
    sbin = {name: shutil.which(name, path=f"{os.environ['PATH']}:/usr/sbin") for name in SLURM_PROGRAMS}
    # short: the munge socket's path must fit a Unix socket address
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir(mode=0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    munge_socket = root / "munge" / "socket"
    # this machine's node line (CPUs, sockets, cores, memory), under the node name the daemons use
    hardware = subprocess.run([sbin["slurmd"], "-C"], capture_output=True, text=True, check=True).stdout
    node = " ".join(
        ["NodeName=node1 NodeAddr=127.0.0.1 NodeHostname=localhost", *hardware.splitlines()[0].split()[1:]]
    )
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=genre",
                "SlurmctldHost=localhost(127.0.0.1)",
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                "SlurmUser=root",
                "AuthType=auth/munge",
                f"AuthInfo=socket={munge_socket}",
                "CredType=cred/munge",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'slurmd.log'}",
                # no cgroups in a container: track a job's processes by parent pid, bind no cores
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "MpiDefault=none",
                "MailProg=/bin/true",
                "SchedulerType=sched/backfill",
                # cores and memory are what jobs ask for and get, as on a real cluster
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "ReturnToService=2",
                # a cancelled job's processes get this long after SIGTERM before SIGKILL
                "KillWait=30",
                f"{node} State=UNKNOWN",
                "PartitionName=cpu Nodes=node1 Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    logs = [root / "munged.log", root / "slurmctld.log", root / "slurmd.log"]
    procs = []
    try:
        for command in (
            [sbin["munged"], "--foreground", "--force", f"--key-file={key}", f"--socket={munge_socket}",
             f"--log-file={root / 'munged.log'}", f"--pid-file={root / 'munged.pid'}",
             f"--seed-file={root / 'munge' / 'seed'}", "--num-threads=4"],
            [sbin["slurmctld"], "-D", "-f", str(conf)],
            [sbin["slurmd"], "-D", "-N", "node1", "-f", str(conf)],
        ):  # fmt: skip
            log = open(root / f"{Path(command[0]).name}.out", "w")  # noqa: SIM115 (kept open by the daemon)
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
            if command[0] == sbin["munged"]:
                wait_for(munge_socket.exists, "munged", [root / "munged.out", *logs])

        def idle() -> bool:
            state = subprocess.run([sbin["sinfo"], "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            return state.stdout.strip() == "idle"

        wait_for(idle, "the SLURM node", [*logs, root / "slurmctld.out", root / "slurmd.out"])
        yield Slurm(env, "cpu")
        subprocess.run([sbin["scancel"], "--full", "--user=root"], env=env, check=False)
    finally:
        stop(procs)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of Debian's postgresql package in a throwaway data folder, run as the
    unprivileged user nobody on 127.0.0.1 (a free port); returns the SQLAlchemy URL of its database."""
    skip_unless_root("PostgreSQL")
    versions = sorted(POSTGRES_BIN.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        pytest.skip(
            "PostgreSQL not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql"
        )
    bin_dir = versions[-1].parent
    # Not under pytest's folder, which every pytest session sets back to root-only (0700), locking
    # nobody out of its data: a folder of its own in the system's temporary folder
    root = Path(tempfile.mkdtemp(prefix="genre-lightning-postgres-"))
    data = root / "data"
    data.mkdir()
    shutil.chown(root, "nobody")
    shutil.chown(data, "nobody")
    port, procs = free_port(), []
    log = root / "postgres.log"

    def as_nobody(*command: str) -> list[str]:
        return ["runuser", "-u", "nobody", "--", *command]

    def ready() -> bool:
        check = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)]
        return subprocess.run(check, capture_output=True).returncode == 0

    try:
        # --no-sync: a throwaway database need not wait for the disk
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "optuna", "--auth=trust", "-E", "UTF8"]
        subprocess.run(
            as_nobody(*initdb, "--no-sync"),
            check=True,
            capture_output=True,
        )
        procs.append(
            subprocess.Popen(
                # nor its commits (the tests check who sees which trial, not what survives a power cut)
                as_nobody(str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                          "-k", str(root), "-c", "fsync=off", "-c", "synchronous_commit=off",
                          "-c", "full_page_writes=off"),
                stdout=open(log, "w"),  # noqa: SIM115 (kept open by the server)
                stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        wait_for(ready, "PostgreSQL", [log])
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "optuna", "studies"],
            check=True,
        )
        yield f"postgresql://optuna@127.0.0.1:{port}/studies"
    finally:
        stop(procs)
        shutil.rmtree(root)
