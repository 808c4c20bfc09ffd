"""How a student's kernel is isolated on this machine.

With bubblewrap (Debian package ``bubblewrap``), each kernel runs in fresh namespaces: no network (only
its own loopback), its own process tree, and a file system that holds the system's programs, the Python
environment, the toolkit and the course data (all read-only), plus three private folders: its working
copy of the submission, a home and the folder of its ZeroMQ sockets. Solutions, gradebooks, other
submissions and the instructor's home are simply not there. / and /dev are read-only; /tmp and /dev/shm
are small tmpfs. When the grader runs as root, kernels also run as a user of their own (one per worker),
so that the process limit counts their processes alone.

Limits (set by ``launch`` inside the sandbox): memory, processes, file size, no core dumps.

Without bubblewrap nothing of the above but the limits (and, as root, the separate user) remains; the
grader refuses to run unless told ``--unsafe``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.kernel_env import AUTOGRADE_ENV, KERNEL_ENV

from .errors import GraderError

PROCESS_HEADROOM = 256  # tasks (processes and threads) a kernel may add to what its user already runs
FILE_SIZE_MB = 1024  # largest file a kernel may write
TMP_MB = 512  # its /tmp, in memory
SHM_MB = 256  # its /dev/shm, in memory (DataLoader workers share tensors there)
# As root, worker slot k of the run with process id p runs its kernels as uid BASE + (p mod 2**20) * 256 + k:
# no such user exists, and two runs at once (shards on one machine) do not share a user, nor its process limit.
KERNEL_UID_BASE = 2_000_000_000
MAX_SLOTS = 256
# The few files of /etc that Python, the dynamic linker and matplotlib read.
ETC_ENTRIES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "fonts",
    "alternatives",
    "mime.types",
    "matplotlibrc",
)
BWRAP_ENV = "CNNLAB_GRADE_BWRAP"  # another bwrap binary; tests point it at a missing file


@dataclass(frozen=True)
class Isolation:
    """How kernels run on this machine, decided once per run by :func:`detect`."""

    bwrap: str | None  # None: no sandbox (--unsafe)
    kernel_uid_base: int | None  # root only: kernels of worker slot k run as this uid + k
    memory_mb: int
    read_only: tuple[str, ...]  # host folders a sandboxed kernel may read
    devices: tuple[str, ...] = ()  # GPU device nodes passed into the sandbox
    data_dir: str | None = None  # the course data, for CNNLAB_DATA
    note: str = ""

    @property
    def sandboxed(self) -> bool:
        return self.bwrap is not None

    @property
    def address_space_limit(self) -> bool:
        """RLIMIT_AS on a CPU machine; CUDA reserves terabytes of address space, so RLIMIT_DATA with a GPU."""
        return not self.devices

    def kernel_uid(self, slot: int) -> int | None:
        return None if self.kernel_uid_base is None else self.kernel_uid_base + slot % MAX_SLOTS

    def describe(self) -> str:
        memory = f"{self.memory_mb} MB memory" if self.memory_mb else "no memory limit"
        as_root = self.kernel_uid_base is None and os.getuid() == 0
        processes = "no process limit (root has none)" if as_root else f"{PROCESS_HEADROOM} processes"
        limits = f"limits: {memory}, {processes}, {FILE_SIZE_MB} MB per file"
        user = (
            f"kernels run as users of their own (uid {self.kernel_uid_base} + worker)"
            if self.kernel_uid_base is not None
            else "kernels run as this user"
        )
        if self.sandboxed:
            return f"sandbox: bubblewrap (no network, only the Python environment and course data visible); {user}; {limits}"
        return f"NO SANDBOX (--unsafe): {user}; {limits}"


@dataclass
class KernelBox:
    """One kernel's private folders: its working copy of the submission, its home, its sockets."""

    root: Path
    uid: int | None = None
    work: Path = field(init=False)
    home: Path = field(init=False)
    ipc: Path = field(init=False)

    def __post_init__(self):
        self.work, self.home, self.ipc = self.root / "work", self.root / "home", self.root / "ipc"
        for folder in (self.work, self.home, self.ipc):
            folder.mkdir(parents=True, exist_ok=True)

    def hand_over(self) -> None:
        """Give the folders to the kernel's user (as root, kernels do not run as root)."""
        if self.uid is None:
            return
        for dirpath, dirnames, filenames in os.walk(self.root):
            os.chown(dirpath, self.uid, self.uid)
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.uid, follow_symlinks=False)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _bwrap_binary() -> str | None:
    configured = os.environ.get(BWRAP_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("bwrap")


def _read_only_folders() -> tuple[str, ...]:
    """Python, the virtual environment, the toolkit and this kit (the kernel's limits and guard are its code):
    what a kernel needs to start."""
    import cnnlab
    import cnnlab_grade

    folders = [sys.base_prefix, sys.prefix]
    folders += [str(Path(package.__file__).resolve().parent) for package in (cnnlab, cnnlab_grade)]
    # site folders beyond the environment's own (a .pth file's site.addsitedir): packages, never the course
    folders += [
        entry
        for entry in sys.path[1:]
        if Path(entry).name in ("site-packages", "dist-packages") and os.path.isdir(entry)
    ]
    kept: list[str] = []
    for folder in sorted({str(Path(f).resolve()) for f in folders}):
        if folder.startswith("/usr/") or any(folder.startswith(k + "/") for k in kept):
            continue  # already visible
        kept.append(folder)
    return tuple(kept)


def course_data_root() -> Path:
    """``cnnlab.data.course.data_root()``, without importing torch (a second or two at every run's start);
    grading/tests/test_grade.py checks that the two agree."""
    import cnnlab

    configured = os.environ.get("CNNLAB_DATA")
    if configured:
        return Path(configured).expanduser()
    checkout = Path(cnnlab.__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file():
        folder = checkout / "data"
        if os.access(folder if folder.exists() else checkout, os.W_OK):
            return folder
    return Path.home() / ".cache" / "cnnlab"


def _course_data() -> str | None:
    folder = course_data_root()
    return str(folder.resolve()) if folder.is_dir() else None


def processes_of(uid: int) -> int:
    """Tasks (processes and threads) that ``uid`` runs now: RLIMIT_NPROC counts them all."""
    count = 0
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as handle:
                for line in handle:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            threads = next((ln for ln in handle if ln.startswith("Threads:")), "Threads: 1")
                            count += int(threads.split()[1])
                        break
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return count


def kill_processes_of(uid: int) -> None:
    """Kill every process of ``uid`` (a kernel's own user): what a kernel left behind without a sandbox."""
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as handle:
                owner = next((line.split()[1] for line in handle if line.startswith("Uid:")), None)
            if owner is not None and int(owner) == uid:
                os.kill(int(status.split("/")[2]), signal.SIGKILL)
        except (OSError, ValueError):
            continue  # it ended meanwhile


def kernel_command(isolation: Isolation, box: KernelBox, kernel_argv: list[str]) -> list[str]:
    """The command that starts ``kernel_argv`` inside the sandbox, as the kernel's user, under the limits."""
    own = box.uid if box.uid is not None else os.getuid()
    limits = [
        sys.executable,
        "-m",
        "cnnlab_grade.launch",
        "--memory-mb",
        str(isolation.memory_mb),
        "--memory-kind",
        "as" if isolation.address_space_limit else "data",
        "--nproc",
        str(processes_of(own) + PROCESS_HEADROOM),
        "--fsize-mb",
        str(FILE_SIZE_MB),
        "--",
    ]
    switch_user = []
    if box.uid is not None:  # no capability survives the switch, and none can come back
        switch_user = ["setpriv", f"--reuid={box.uid}", f"--regid={box.uid}", "--clear-groups"]
        switch_user += ["--inh-caps=-all", "--bounding-set=-all", "--"]
    if not isolation.sandboxed:
        return switch_user + limits + kernel_argv
    # bwrap as root mounts what it is asked to (root can read it), then setpriv drops to the kernel's user
    # inside; as another user, bwrap needs a user namespace of its own.
    return _bwrap_args(isolation, box, as_root=os.getuid() == 0) + switch_user + limits + kernel_argv


def _bwrap_args(isolation: Isolation, box: KernelBox, as_root: bool) -> list[str]:
    args = [isolation.bwrap, "--die-with-parent", "--hostname", "grader"]
    if as_root:
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for setpriv, which drops them
    else:  # forbid nested user namespaces, a common way to attack the kernel from a sandbox
        args += ["--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for entry in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(SHM_MB << 20), "--tmpfs", "/dev/shm"]
    for device in isolation.devices:
        args += ["--dev-bind", device, device]
    system = "/sys" if isolation.devices else "/sys/devices/system/cpu"  # CUDA reads the PCI tree
    args += ["--ro-bind-try", system, system]
    args += ["--perms", "1777", "--size", str(TMP_MB << 20), "--tmpfs", "/tmp"]
    made = {"/", "/usr", "/etc", "/proc", "/dev", "/sys", "/tmp"}
    binds = [("--ro-bind", folder) for folder in isolation.read_only]
    binds += [("--ro-bind", isolation.data_dir)] if isolation.data_dir else []
    binds += [("--bind", str(folder)) for folder in (box.work, box.home, box.ipc)]
    for kind, folder in binds:
        for parent in reversed(Path(folder).parents):  # bwrap would make them 0700, out of the kernel's reach
            if str(parent) not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        args += [kind, folder, folder]
    args += ["--remount-ro", "/", "--remount-ro", "/dev", "--chdir", str(box.work), "--"]
    return args


def kernel_environment(
    isolation: Isolation, box: KernelBox, threads: int, gpu: str | None, inherited: dict[str, str]
) -> dict[str, str]:
    """The kernel's environment: what the course needs, none of the instructor's variables (tokens, keys)."""
    env = {
        **KERNEL_ENV,  # the course's kernel settings, read by OpenMP when torch loads
        **AUTOGRADE_ENV,  # ungraded demonstrations that train for minutes run a couple of steps
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(box.home),
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": "/tmp" if isolation.sandboxed else str(box.home),
        "LANG": inherited.get("LANG", "C.UTF-8"),
        "MPLCONFIGDIR": str(box.home / ".matplotlib"),
        "PYTHONNOUSERSITE": "1",
    }
    for name, value in inherited.items():
        if name.startswith(("CNNLAB_", "LC_", "NBGRADER_")) or name in ("TZ", "PYTHONHASHSEED"):
            env[name] = value
    env.pop(BWRAP_ENV, None)
    if "CNNLAB_THREADS" not in inherited:
        env["CNNLAB_THREADS"] = str(threads)  # two busy workers with two threads each crawl on two cores
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = inherited.get(name, env["CNNLAB_THREADS"])
    if isolation.data_dir and "CNNLAB_DATA" not in inherited:
        env["CNNLAB_DATA"] = isolation.data_dir
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    return env


def detect(memory_mb: int, unsafe: bool, scratch: Path) -> Isolation:
    """The strongest isolation this machine allows, checked by starting Python in it.

    Raises GraderError when bubblewrap cannot work here and ``unsafe`` is not set.
    """
    as_root = os.getuid() == 0
    read_only = _read_only_folders()
    devices = tuple(sorted(glob.glob("/dev/nvidia*")))
    data_dir = _course_data()
    bwrap = _bwrap_binary()
    problem = "bubblewrap (bwrap) is not installed" if bwrap is None else ""
    if bwrap is not None:
        # As root, kernels run as a user of their own; should that fail, as root without capabilities.
        for uid_base in (_run_uid_base(), None) if as_root else (None,):
            isolation = Isolation(bwrap, uid_base, memory_mb, read_only, devices, data_dir)
            problem = _probe(isolation, scratch)
            if not problem:
                return isolation
    if not unsafe:
        raise GraderError(
            f"the sandbox cannot work on this machine: {problem}. Without it, student code would run with only "
            "resource limits"
            + (" and a separate user" if as_root else "")
            + ": it could read solutions/ and "
            "the gradebook and use the network. Install bubblewrap (apt-get install bubblewrap) and allow "
            "user namespaces, or rerun with --unsafe to grade anyway"
        )
    unsafe_problem = ""
    for uid_base in (_run_uid_base(), None) if as_root else (None,):
        isolation = Isolation(
            None, uid_base, memory_mb, read_only, devices, data_dir, note=f"the sandbox is off: {problem}"
        )
        unsafe_problem = _probe(isolation, scratch)
        if not unsafe_problem:
            return isolation
    raise GraderError(f"cannot start Python for a kernel, even without a sandbox: {unsafe_problem}")


def _run_uid_base() -> int:
    return KERNEL_UID_BASE + (os.getpid() % 2**20) * MAX_SLOTS


def _probe(isolation: Isolation, scratch: Path) -> str:
    """Start Python as a kernel would start, and import the toolkit; '' if it works, else why not."""
    box = KernelBox(scratch / "probe", uid=isolation.kernel_uid(0))
    box.hand_over()
    command = kernel_command(isolation, box, [sys.executable, "-c", "import cnnlab"])
    env = kernel_environment(isolation, box, threads=1, gpu=None, inherited=dict(os.environ))
    try:
        result = subprocess.run(
            command,
            cwd=box.work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    finally:
        box.remove()
    if result.returncode == 0:
        return ""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"
