"""Real PostgreSQL and Slurm for the grading kit's tests, started by the test and stopped after it.

Both come from Debian packages that .ci/deps/postgres.sh and .ci/deps/slurm.sh install. Each helper either starts
its system or raises ``Unavailable`` with the reason, which the tests turn into a skip.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


class Unavailable(Exception):
    """The system cannot start on this machine; the message says why."""


def started_or_skipped(service, name: str):
    """A module fixture's body: yields what ``service()`` (one of the helpers here) gives while it runs, or skips
    the tests that need it, saying why ``name`` cannot start here."""
    import pytest

    try:
        with service() as handle:
            yield handle
    except Unavailable as why:
        pytest.skip(f"{name} cannot start here: {why}")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(pid: int, timeout: float = 3) -> None:
    """Stop a daemon by its pid: SIGTERM, then SIGKILL if it lingers."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


# --- PostgreSQL ----------------------------------------------------------------------------------------------


def _postgres_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise Unavailable("PostgreSQL is not installed (bash .ci/deps/postgres.sh, as root)")
    return versions[-1].parent


@contextmanager
def postgres_server():
    """A PostgreSQL server in a temporary folder, as an unprivileged user (``postgres`` when this is root),
    listening on a Unix socket only, trust authentication. Yields ``url(database)``, which creates the database
    and returns its SQLAlchemy URL."""
    bin_dir = _postgres_bin()
    as_root = os.getuid() == 0
    if as_root:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("there is no postgres user to run the server as") from None
        prefix = ["runuser", "-u", "postgres", "--"]
    else:
        prefix = []
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-pg-", dir="/tmp"))
    if as_root:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    made = _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-N"])
    if made.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"initdb failed: {made.stderr.strip().splitlines()[-1:]}")
    options = f"-k {folder} -c listen_addresses='' -c fsync=off -c max_connections=50"
    started = _run(
        [
            *prefix,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "start",
        ]
    )
    if started.returncode != 0:
        log = (folder / "log").read_text() if (folder / "log").exists() else started.stderr
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"the PostgreSQL server did not start: {log.strip().splitlines()[-1:]}")
    pid = int((data / "postmaster.pid").read_text().split()[0])

    def url(database: str) -> str:
        created = _run([str(bin_dir / "createdb"), "-h", str(folder), "-U", "postgres", database])
        assert created.returncode == 0, created.stderr
        return f"postgresql://postgres@/{database}?host={folder}"

    try:
        yield url
    finally:
        _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        _stop(pid)
        shutil.rmtree(folder, ignore_errors=True)


# --- Slurm ---------------------------------------------------------------------------------------------------

SLURM_CONF = """\
ClusterName=cnnlab
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CryptoType=crypto/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
NodeName={host} CPUs=2 RealMemory=4096 State=UNKNOWN
PartitionName=grading Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _munge() -> subprocess.Popen | None:
    """munged, as the munge user; None when one already runs (its socket answers)."""
    if _run(["munge", "-n"]).returncode == 0:
        return None
    if not Path("/etc/munge/munge.key").is_file():
        raise Unavailable("munge has no key (/etc/munge/munge.key): reinstall munge")
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    daemon = subprocess.Popen(
        # as the munge user; setpriv execs munged itself, so the pid to stop is this process's
        ["setpriv", "--reuid=munge", "--regid=munge", "--init-groups", "/usr/sbin/munged", "--foreground"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _run(["munge", "-n"]).returncode == 0:
            return daemon
        if daemon.poll() is not None:
            raise Unavailable(f"munged did not start: {daemon.stderr.read().strip()}")
        time.sleep(0.2)
    daemon.kill()
    raise Unavailable("munged did not answer within 20 s")


@contextmanager
def slurm_cluster():
    """A one-node Slurm cluster (slurmctld and slurmd on this machine, 2 CPUs), with munge. Yields the
    environment that sbatch and squeue need (SLURM_CONF)."""
    if os.getuid() != 0:
        raise Unavailable("starting slurmd needs root")
    for program in ("slurmctld", "slurmd", "sbatch", "munged"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            raise Unavailable(f"{program} is not installed (bash .ci/deps/slurm.sh, as root)")
    host = socket.gethostname().split(".")[0]
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-slurm-", dir="/tmp"))
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    conf = folder / "slurm.conf"
    conf.write_text(SLURM_CONF.format(host=host, folder=folder, ctld_port=_free_port(), d_port=_free_port()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    munge = _munge()
    daemons: list[subprocess.Popen] = []
    try:
        for daemon in ("slurmctld", "slurmd"):
            command = [f"/usr/sbin/{daemon}", "-D", "-f", str(conf)] + (
                ["-c", "-i"] if daemon == "slurmctld" else []
            )
            daemons.append(
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            )
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            if any(d.poll() is not None for d in daemons):
                break
            state = _run(["sinfo", "-h", "-N", "-o", "%T"], env=env).stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                break
            time.sleep(0.5)
        else:
            raise Unavailable(f"the Slurm node did not come up within 60 s (state {state!r})")
        if any(d.poll() is not None for d in daemons):
            logs = " | ".join(
                (folder / f"{name}.log").read_text().strip().splitlines()[-1]
                for name in ("slurmctld", "slurmd")
                if (folder / f"{name}.log").exists() and (folder / f"{name}.log").read_text().strip()
            )
            raise Unavailable(f"a Slurm daemon exited at start: {logs}")
        yield env
    finally:
        for daemon in reversed(daemons):
            _stop(daemon.pid)
            daemon.wait(timeout=30)
        if munge is not None:
            _stop(munge.pid)
            munge.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_jobs(env: dict, job_ids: list[str], timeout: float) -> dict[str, str]:
    """Wait until no job of ``job_ids`` (array jobs included) is pending or running; {job id: final state}."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {}
        for job in job_ids:
            shown = _run(["scontrol", "-o", "show", "job", job], env=env).stdout
            for line in shown.splitlines():
                fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
                task = fields.get("ArrayTaskId")
                key = (
                    f"{fields.get('ArrayJobId', job)}_{task}" if task and task.isdigit() else fields["JobId"]
                )
                states[key] = fields.get("JobState", "?")
        if states and all(
            s not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING") for s in states.values()
        ):
            return states
        time.sleep(1)
    raise AssertionError(f"Slurm jobs still not done after {timeout:g} s: {states}")


# --- one class, graded once, that the Slurm and PostgreSQL tests compare with ---------------------------------

CLASS = ["perfect", "missing_bias", "malformed_json", "wrong_name", "missing_notebook", "empty_file"]


@functools.cache
def reference_class():
    """A throwaway course with CLASS submitted (two of them run a kernel), graded once by one ordinary run into
    the course's own SQLite gradebook. Removed when the tests end."""
    import atexit

    import grading_submissions as subs
    from grading_runs import MEMORY_MB, kit, new_course

    root = Path(tempfile.mkdtemp(prefix="cnnlab-class-", dir="/tmp"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    course = new_course(root / "course")
    subs.build(course, CLASS)
    result = kit(course.root, subs.ASSIGNMENT, "autograde/submitted", "--workers", "2", "--memory", MEMORY_MB)
    assert result.returncode == 0, result.stderr
    return course
