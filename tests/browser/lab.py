"""A real JupyterLab server and a real Chromium for the browser tests: start them, drive them, stop them.

JupyterLab runs on a throwaway copy of the course, on a random free port of 127.0.0.1 with a token, with its own
settings, workspaces and runtime folders (nothing of the user's ~/.jupyter is read or written). Chromium is Debian's
(``apt-get install chromium``, .ci/deps/chromium.sh), driven by the ``playwright`` package: never run
``playwright install``, which downloads a browser of its own.

Both are stopped by ``stop()``, pass or fail: the server and every kernel it started, the browser and its driver.
``leftover_processes()`` lists what would have been left behind.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from cnnlab.kernel_env import KERNEL_ENV

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KERNEL_NAME = "cnnlab"  # the course's kernel spec (setup.sh installs it into .venv)
KERNEL_DISPLAY_NAME = "CNN Architectures (Python 3)"

# Words in the command line of a process these tests start (directly or through the server or playwright).
OUR_PROCESSES = ("jupyter", "ipykernel", "chromium", "playwright", "nbgrader")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def leftover_processes() -> list[str]:
    """This test process's descendants that belong to a server, a kernel or a browser, still running."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            command = " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            continue
        if any(word in command for word in OUR_PROCESSES):
            found.append(f"pid {process.pid}: {command[:160]}")
    return found


def _stop_all(processes: list[psutil.Process], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL for what is still running after ``grace`` seconds."""
    alive = []
    for process in processes:
        try:
            process.terminate()
            alive.append(process)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(alive, timeout=grace)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


class JupyterLab:
    """``jupyter lab`` serving ``root``, with its settings and runtime files under ``home``."""

    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        self.log_path = home / "jupyterlab.log"
        self._children: list[psutil.Process] = []

    # --- environment ---------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """The server's environment, which its kernels and nbgrader inherit."""
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "JUPYTER_PATH")}
        bin_folder = str(Path(sys.executable).parent)  # nbgrader runs tools of the environment by name
        env.update(
            PATH=f"{bin_folder}{os.pathsep}{env.get('PATH', '')}",
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTER_DATA_DIR=str(self.home / "data"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.home / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
            IPYTHONDIR=str(self.home / "ipython"),
            **KERNEL_ENV,  # also for a notebook that names the plain python3 kernel
        )
        return env

    def _prepare_home(self) -> None:
        for name in ("config", "data", "runtime", "settings", "workspaces", "ipython"):
            (self.home / name).mkdir(parents=True, exist_ok=True)
        # Every cell in the page (JupyterLab 4 otherwise leaves cells far off screen out of the DOM), and autosave
        # off: a test saves when it means to.
        notebook_settings = self.home / "settings" / "@jupyterlab" / "notebook-extension"
        notebook_settings.mkdir(parents=True, exist_ok=True)
        (notebook_settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        docmanager = self.home / "settings" / "@jupyterlab" / "docmanager-extension"
        docmanager.mkdir(parents=True, exist_ok=True)
        (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
        # The course's kernel spec, where this environment lacks it (setup.sh installs it into .venv).
        if not (Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json").exists():
            spec = self.home / "data" / "kernels" / KERNEL_NAME
            spec.mkdir(parents=True, exist_ok=True)
            kernel = {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": KERNEL_DISPLAY_NAME,
                "language": "python",
                "env": KERNEL_ENV,
                "metadata": {"debugger": True},
            }
            (spec / "kernel.json").write_text(json.dumps(kernel, indent=1))

    # --- life cycle ------------------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> JupyterLab:
        self._prepare_home()
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.shutdown_no_activity_timeout=1800",  # a server somebody forgot still ends
            "--MappingKernelManager.cull_idle_timeout=0",
        ]
        if os.getuid() == 0:
            command.append("--allow-root")  # Jupyter refuses to run as root without it
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=self.root, env=self.environment(), stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                self.api("GET", "api/status")
                return self
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not answer in {timeout:.0f} s:\n{self.log_text()}"
                    ) from None
                time.sleep(0.5)

    def stop(self) -> None:
        """Stop the server and every kernel it started; idempotent."""
        if self.process is None:
            return
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        _stop_all(children, grace=5)  # a kernel the server did not stop in time
        self.process = None
        self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    # --- addresses and the REST API ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """``lab/tree/x.ipynb`` → the address with the token."""
        return f"{self.base_url}/{path}?token={self.token}"

    def api(self, method: str, path: str, body: dict | None = None) -> dict | list | None:
        request = urllib.request.Request(
            f"{self.base_url}/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def saved_notebook(self, path: str) -> dict:
        """The notebook as the server has it on disk."""
        return self.api("GET", f"api/contents/{path}?content=1")["content"]


class Chromium:
    """Debian's Chromium, headless, driven through playwright's sync API."""

    def __init__(self):
        self._playwright = None
        self.browser = None
        self._processes: list[psutil.Process] = []

    def start(self) -> Chromium:
        from playwright.sync_api import sync_playwright

        before = {p.pid for p in psutil.Process().children(recursive=True)}
        self._playwright = sync_playwright().start()
        try:
            self.browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
        finally:  # the driver (and a browser that half started) are ours to stop, whatever happened
            self._processes = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        return self

    def new_page(self, width: int = 1440, height: int = 1000):
        context = self.browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(30_000)
        return context.new_page()

    def stop(self) -> None:
        """Close the browser and stop playwright's driver; idempotent."""
        try:
            if self.browser is not None:
                self.browser.close()
        except Exception:  # a browser that already died; the processes are stopped below
            pass
        try:
            if self._playwright is not None:
                self._playwright.stop()
        except Exception:
            pass
        self.browser = self._playwright = None
        _stop_all(self._processes, grace=5)
        self._processes = []
