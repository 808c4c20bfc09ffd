"""A class on one machine, for real: local users, a shared Python environment, nbgrader's exchange, JupyterHub.

Used by tests/test_class_hub.py, and written to read as the set-up in docs/class.md. Everything lives in one
temporary folder and a few local users, and ``close()`` removes them: processes, users, homes and folders.

- ``SharedEnvironment``: a venv of Debian's Python (the course's own .venv may sit where other users cannot
  read, e.g. under /root), with the course's toolkit (the grading kit included) and JupyterHub installed.
- ``ClassMachine``: one instructor and students as local users with private homes, an exchange folder every
  user can write, and each user's nbgrader configuration naming the course and the exchange.
- ``Hub``: JupyterHub on 127.0.0.1 with local users' servers (LocalProcessSpawner, run as root), a service
  token for its REST API, and a way to run code in a user's kernel over the Jupyter protocol.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE_ID = "cnn-architectures"
SYSTEM_PYTHON = "/usr/bin/python3"
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"
COMMANDS = {
    "nbgrader": "nbgrader",
    "alembic": "alembic",
    "jupyter": "jupyter",
    "jupyterhub": "jupyterhub",
    "jupyterhub-singleuser": "jupyterhub.singleuser",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def missing_requirements() -> str | None:
    """Why a class cannot be set up on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "creating local users and spawning their servers needs root"
    for tool in ("useradd", "userdel", "runuser", "bwrap", "configurable-http-proxy"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (.ci/deps/ installs it)"
    if subprocess.run([SYSTEM_PYTHON, "-c", "import venv"], capture_output=True).returncode != 0:
        return f"{SYSTEM_PYTHON} cannot make a venv (apt-get install python3-venv)"
    if importlib.util.find_spec("jupyterhub") is None:
        return "jupyterhub is not installed in the course's venv (pip install -e '.[dev]')"
    return None


class SharedEnvironment:
    """A venv every local user can run: Debian's Python, with the course's packages and its toolkit.

    The packages are the course venv's own (the one running the tests, where ./setup.sh installed them with
    JupyterHub): its site-packages is put on the venv's path, used in place when every user can reach it, else
    hard-linked into this folder. The toolkit and the grading kit are copies of the repository's cnnlab and
    grading/cnnlab_grade.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.bin = folder / "bin"
        self.python = str(self.bin / "python")

    def create(self) -> SharedEnvironment:
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(self.folder)], check=True)
        packages = Path(sysconfig.get_paths()["purelib"])
        if not _everyone_reaches(packages):
            copy = self.folder / "course-packages"
            linked = subprocess.run(["cp", "-al", str(packages), str(copy)], capture_output=True)
            if linked.returncode != 0:  # another file system: copy
                shutil.copytree(packages, copy, symlinks=True, dirs_exist_ok=True)
            packages = copy
        source = self.folder / "course-source"
        for package in (ROOT / "cnnlab", ROOT / "grading" / "cnnlab_grade"):
            shutil.copytree(package, source / package.name, ignore=shutil.ignore_patterns("__pycache__"))
        (own,) = self.folder.glob("lib/python3*/site-packages")
        (own / "cnnlab-course.pth").write_text(f"{source}\n{packages}\n")
        self._replace_packages_this_python_cannot_run(packages, own)
        # Jupyter's data files (nbconvert's templates: nbgrader's feedback is HTML), found under this prefix;
        # the course's kernel spec is installed anew, for this Python
        data = Path(sys.prefix) / "share" / "jupyter"
        ignore = shutil.ignore_patterns("kernels")
        shutil.copytree(data, self.folder / "share" / "jupyter", symlinks=True, ignore=ignore)
        # The commands by name (nbgrader itself runs `alembic`), each a module of this Python
        for command, module in COMMANDS.items():
            script = self.bin / command
            script.write_text(f'#!/bin/sh\nexec "{self.python}" -m {module} "$@"\n')
            script.chmod(0o755)
        subprocess.run([self.python, "-m", "cnnlab.kernel_env", "install"], check=True, capture_output=True)
        for path in [self.folder, *self.folder.parents]:
            if path == Path("/"):
                break
            path.chmod(path.stat().st_mode | 0o005)  # every user may enter and read it
        return self

    def _replace_packages_this_python_cannot_run(self, packages: Path, own: Path) -> None:
        """Debian's Python may be older than the course venv's (3.11.2 against 3.11.7): a package whose
        Requires-Python excludes it gets the newest version that allows it, in the venv's own site-packages,
        which comes first on the path."""
        from packaging.specifiers import SpecifierSet
        from packaging.version import Version

        version = subprocess.run(
            [self.python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        excluded = []
        for metadata in packages.glob("*.dist-info/METADATA"):
            fields = dict(
                line.split(": ", 1)
                for line in metadata.read_text(errors="replace").splitlines()
                if ": " in line
            )
            if "Requires-Python" in fields and Version(version) not in SpecifierSet(
                fields["Requires-Python"]
            ):
                excluded.append(fields["Name"])
        if excluded:
            command = [self.python, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(own)]
            subprocess.run([*command, *sorted(excluded)], check=True, capture_output=True)


def _everyone_reaches(path: Path) -> bool:
    """Whether any user can open ``path``: every folder above it lets others in."""
    return all(folder.stat().st_mode & 0o001 for folder in [path, *path.parents])


class ClassMachine:
    """An instructor and students as local users, an exchange, and a copy of the course in the instructor's home."""

    def __init__(
        self, root: Path, environment: SharedEnvironment, students: tuple[str, ...] = ("alice", "bob")
    ):
        self.root, self.environment = root, environment
        tag = secrets.token_hex(2)
        self.instructor = f"cnn-teach-{tag}"
        self.students = {name: f"cnn-{name}-{tag}" for name in students}
        self.exchange = root / "exchange"
        self.created: list[str] = []

    @property
    def users(self) -> list[str]:
        return [self.instructor, *self.students.values()]

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def uid(self, user: str) -> int:
        return pwd.getpwnam(user).pw_uid

    @property
    def course(self) -> Path:
        return self.home(self.instructor) / "course"

    def create(self) -> ClassMachine:
        self.exchange.mkdir(mode=0o777)
        self.exchange.chmod(0o777)  # nbgrader's exchange on one machine: every user writes it
        for user in self.users:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
            self.created.append(user)
            home = self.home(user)
            home.chmod(0o700)  # nobody reads another user's home
            config = home / ".jupyter" / "nbgrader_config.py"
            config.parent.mkdir()
            config.write_text(
                f"c = get_config()\nc.CourseDirectory.course_id = {COURSE_ID!r}\nc.Exchange.root = {str(self.exchange)!r}\n"
            )
            self._give(user, config.parent)
        self._copy_course()
        return self

    def _give(self, user: str, path: Path) -> None:
        subprocess.run(["chown", "-R", f"{user}:{user}", str(path)], check=True)

    def _copy_course(self) -> None:
        """The instructor's course folder: the repository's sources and nbgrader configuration."""
        self.course.mkdir()
        shutil.copy(ROOT / "nbgrader_config.py", self.course / "nbgrader_config.py")
        shutil.copytree(ROOT / "solutions", self.course / "solutions")
        (self.course / "autograde").mkdir()  # submissions, gradebook and feedback (nbgrader_config.py)
        dataset = next((ROOT / "data").glob("*.npz"), None)
        if dataset is not None:  # saves building it again; the kit checks it before grading
            cache = self.home(self.instructor) / ".cache" / "cnnlab"
            cache.mkdir(parents=True)
            shutil.copy(dataset, cache / dataset.name)
            self._give(self.instructor, cache.parent)
        self._give(self.instructor, self.course)

    def run_as(self, user: str, *command: str, cwd: Path | None = None, timeout: float = 600) -> str:
        """Runs ``command`` as ``user`` from their home (or ``cwd``), with the shared environment first on PATH."""
        environment = {
            "HOME": str(self.home(user)),
            "USER": user,
            "LOGNAME": user,
            "PATH": f"{self.environment.bin}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
        }
        result = subprocess.run(
            [RUNUSER, "-u", user, "--", *command],
            cwd=cwd or self.home(user),
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"as {user}: {' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout + result.stderr

    def close(self) -> None:
        for user in self.created:
            subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        time.sleep(0.5)
        for user in self.created:
            subprocess.run(["userdel", "--remove", "--force", user], capture_output=True)


class Hub:
    """JupyterHub on 127.0.0.1 for the class's users, with an admin service token for its REST API."""

    def __init__(self, machine: ClassMachine, folder: Path):
        self.machine, self.folder = machine, folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(32)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Hub:
        self.folder.mkdir(mode=0o700, exist_ok=True)
        environment = self.machine.environment
        config = f"""
c = get_config()
c.JupyterHub.bind_url = "{self.url}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.JupyterHub.db_url = "sqlite:///{self.folder}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{self.folder}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {set(self.machine.users)!r}
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = ["{environment.bin}/jupyterhub-singleuser"]
c.Spawner.environment = {{"PATH": "{environment.bin}:/usr/local/bin:/usr/bin:/bin"}}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.services = [{{"name": "class-test", "api_token": "{self.token}"}}]
c.JupyterHub.load_roles = [
    {{
        "name": "class-test",
        "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
        "services": ["class-test"],
    }}
]
"""
        (self.folder / "jupyterhub_config.py").write_text(config)
        self.log = open(self.folder / "jupyterhub.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(environment.bin / "jupyterhub"), "-f", str(self.folder / "jupyterhub_config.py")],
            cwd=self.folder,
            env={
                "PATH": f"{environment.bin}:/usr/local/bin:/usr/bin:/bin",
                "HOME": str(self.folder),
                "LANG": "C.UTF-8",
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterHub exited:\n{self.log_tail()}")
            try:
                self.api("GET", "/hub/api/")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterHub did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return (self.folder / "jupyterhub.log").read_text()[-4000:]

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if text else {}

    def start_server(self, user: str, timeout: float = 150) -> dict:
        """Creates the user in the Hub, starts their server and waits until it is ready; returns the user's model."""
        try:
            self.api("POST", f"/hub/api/users/{user}")
        except urllib.error.HTTPError as error:
            if error.code != 409:  # 409: the user exists already
                raise
        try:
            self.api("POST", f"/hub/api/users/{user}/server")
        except urllib.error.HTTPError as error:
            if error.code != 400:  # 400: already running
                raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/hub/api/users/{user}")
            if model.get("servers", {}).get("", {}).get("ready"):
                return model
            time.sleep(0.5)
        raise RuntimeError(f"{user}'s server did not start within {timeout} s:\n{self.log_tail()}")

    def run_in_kernel(self, user: str, code: str, timeout: float = 60) -> str:
        """Starts a kernel in the user's server, runs ``code`` and returns what it printed."""
        kernel = self.api("POST", f"/user/{user}/api/kernels", {"name": "python3"})
        try:
            return asyncio.run(self._execute(user, kernel["id"], code, timeout))
        finally:
            self.api("DELETE", f"/user/{user}/api/kernels/{kernel['id']}")

    async def _execute(self, user: str, kernel_id: str, code: str, timeout: float) -> str:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
        # With a session id, the server ties this connection's messages to one client session
        url = f"ws://127.0.0.1:{self.port}/user/{user}/api/kernels/{kernel_id}/channels?session_id={session}"
        connection = await websocket_connect(
            HTTPRequest(url, headers={"Authorization": f"token {self.token}"})
        )
        header = {
            "msg_id": msg_id,
            "session": session,
            "username": "class-test",
            "msg_type": "execute_request",
            "version": "5.3",
        }
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
        }
        message = {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
        await connection.write_message(json.dumps(message))
        printed, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(connection.read_message(), timeout=deadline - time.monotonic())
            if raw is None:
                break
            reply = json.loads(raw)
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = reply["msg_type"]
            if kind == "stream":
                printed.append(reply["content"]["text"])
            elif kind == "error":
                printed.append(f"{reply['content']['ename']}: {reply['content']['evalue']}")
            elif kind == "execute_reply":
                break
        connection.close()
        return "".join(printed)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            for user in self.machine.users:
                try:
                    self.api("DELETE", f"/hub/api/users/{user}/server")
                except (urllib.error.URLError, ConnectionError):
                    pass
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        subprocess.run(["pkill", "-f", f"configurable-http-proxy.*{self.port}"], capture_output=True)
        if getattr(self, "log", None):
            self.log.close()
