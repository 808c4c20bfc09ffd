"""jupyter_client's kernel manager, with the kernel started inside its sandbox.

The kernel talks to the grader over ZeroMQ's ``ipc`` transport: Unix sockets in a folder the sandbox
shares, since a kernel without a network namespace of its own cannot reach the grader's 127.0.0.1.
Interrupts go as a message on the control channel, not as SIGINT to the process group, which would
reach bubblewrap rather than the kernel.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import Any, Dict, DottedObjectName, Type


class TolerantChannel(AsyncZMQSocketChannel):
    """A channel that drops a message it cannot read (a bad signature, missing frames) instead of raising.

    The kernel runs the student's code: a kernel at its process limit has been seen to send iopub messages with
    an invalid signature, and jupyter_client's ``ValueError`` then failed the grader itself, for good, on that
    submission. Each drop goes to ``dropped``, its client's list; the execution reads it, and a graded cell
    during which one happened scores 0.
    """

    dropped: list[str]  # set by TolerantKernelClient, one list per client

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not await self.socket.poll(None if remaining is None else int(remaining * 1000)):
                raise Empty
            frames = await self.socket.recv_multipart()
            try:
                _, message = self.session.feed_identities(frames)
                return self.session.deserialize(message)
            except Exception as error:  # noqa: BLE001 - whatever the kernel sent, it is unreadable
                self.dropped.append(f"{type(error).__name__}: {str(error)[:60]}")


class TolerantKernelClient(AsyncKernelClient):
    """A kernel client whose channels drop unreadable messages into ``dropped``, this client's own list."""

    shell_channel_class = Type(TolerantChannel)
    iopub_channel_class = Type(TolerantChannel)
    stdin_channel_class = Type(TolerantChannel)
    control_channel_class = Type(TolerantChannel)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dropped: list[str] = []  # messages no channel could read, since the execution last took them
        # jupyter_client makes a channel from its class alone: a subclass per client gives them this list
        own = type("TolerantChannel", (TolerantChannel,), {"dropped": self.dropped})
        self.shell_channel_class = self.iopub_channel_class = own
        self.stdin_channel_class = self.control_channel_class = own

    def take_dropped(self) -> list[str]:
        """The messages dropped since the last call."""
        taken = list(self.dropped)
        self.dropped.clear()
        return taken


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel with ``sandbox.kernel_command`` in ``box``, with ``environment`` as its only variables."""

    client_class = DottedObjectName(f"{__name__}.TolerantKernelClient")
    client_factory = Type(TolerantKernelClient)
    isolation = Any(None)  # sandbox.Isolation
    box = Any(None)  # sandbox.KernelBox
    environment = Dict()

    def use_box(self, isolation, box, environment: dict[str, str]) -> None:
        self.isolation, self.box, self.environment = isolation, box, environment
        self.transport = "ipc"
        self.cache_ports = False
        self.connection_file = str(box.ipc / "kernel.json")
        self.ip = str(box.ipc / "k")  # sockets are <ip>-<port>; a short path stays under the 107-byte limit

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        from .sandbox import kernel_command

        argv = super().format_kernel_cmd(extra_arguments)
        # A kernel spec that names a Python by its path (the course's `cnnlab` spec names the venv's) runs in the
        # grader's own Python: the one the sandbox shows, and one the grader's user can read.
        if (
            argv
            and os.path.basename(argv[0]).startswith("python")
            and argv[1:3] == ["-m", "ipykernel_launcher"]
        ):
            argv[0] = sys.executable
        return kernel_command(self.isolation, self.box, argv)

    async def _async_pre_start_kernel(self, **kw):
        kw["cwd"] = str(self.box.work)
        kw["env"] = dict(self.environment)
        # The connection file is written by the grader and read by the kernel's user
        self.box.ipc.mkdir(parents=True, exist_ok=True)
        command, kw = await super()._async_pre_start_kernel(**kw)
        self.box.hand_over()
        return command, kw

    async def _async_interrupt_kernel(self) -> None:
        if self.has_kernel:
            message = self.session.msg("interrupt_request", content={})
            self._connect_control_socket()
            self.session.send(self._control_socket, message)

    def exit_status(self) -> int | None:
        """The sandbox's exit status once it ended (negative: killed by that signal), else None."""
        process = getattr(self.provisioner, "process", None)
        return process.poll() if process is not None else None

    def kill_sandbox(self) -> None:
        """Kill the kernel and everything it started, now."""
        process = getattr(self.provisioner, "process", None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
