"""nbgrader's Execute preprocessor, with the kernel in its sandbox and guards on time, output and tampering.

It takes Execute's place in nbgrader's autograde pipeline, so grades still come from nbgrader's own
SaveAutoGrades. For a notebook that behaves it changes nothing: the same cells run with the same
per-cell timeout and give the same outputs. It adds:

- the kernel starts in its sandbox (``kernel``), with a private copy of the submission as working folder;
- a wall-clock limit on the whole notebook: past it the kernel is killed;
- a kernel that dies (``os._exit``, a crash, the wall clock, a loop that ignores interrupts) no longer
  fails the whole submission: the cell that was running and every graded cell after it get an error
  output saying why, and score 0; the cells before keep their scores;
- each cell's output is capped; beyond the cap it is dropped, with a note;
- before each graded test cell, ``guard``'s restore step and probe; a probe that passes makes that
  cell score 0;
- after the last cell the kernel is killed at once, not shut down gracefully (about a second saved per
  notebook: nothing more is needed from it).

What happened is reported in the notebook's ``resources``, as nbgrader's own preprocessors report: a list under
``NOTES``, which the worker's converter collects (``worker._noted_autograde``) and turns into the CSV's status and
reason.
"""

from __future__ import annotations

import ast
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Any, Float, Integer, List, Unicode

from . import guard
from .kernel import SandboxedKernelManager
from .sandbox import KernelBox, kernel_environment, kill_processes_of

NOTES = "cnnlab_grade_notes"  # the resources' key of the list of what happened, per notebook and cell


def _error(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


def _size(content: dict) -> int:
    """Bytes of an output message's payload: its text, or its data in every format."""
    if "text" in content:
        return len(content["text"])
    return sum(
        len(value) if isinstance(value, str) else len(str(value))
        for value in content.get("data", {}).values()
    )


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


@dataclass
class _Run:
    """The state of one notebook's execution."""

    notebook: str
    notes: list[dict]  # the list under NOTES in this notebook's resources
    snapshot_taken: bool = False
    wall_clock_hit: bool = False
    stopped: str = ""  # why the kernel is gone, once it is
    cell_bytes: dict[int, int] = field(default_factory=dict)
    notebook_bytes: int = 0
    truncated: set[int] = field(default_factory=set)

    def note(self, kind: str, cell: str, detail: str) -> None:
        self.notes.append({"kind": kind, "notebook": self.notebook, "cell": cell, "detail": detail})


class GradingExecute(Execute):
    """Execute, sandboxed and guarded (see the module's docstring)."""

    isolation = Any(None, help="sandbox.Isolation of this run").tag(config=True)
    slot = Integer(0, help="the worker's number: its kernels' user and GPU").tag(config=True)
    threads = Integer(1, help="CPU threads per kernel").tag(config=True)
    gpu = Unicode(None, allow_none=True, help="CUDA_VISIBLE_DEVICES for the kernel").tag(config=True)
    wall_clock = Float(0.0, help="seconds one notebook may run in all (0: no limit)").tag(config=True)
    submission_folder = Unicode("", help="the student's submitted folder (its notebooks join the copy)").tag(
        config=True
    )
    box_root = Unicode("", help="where kernels' private folders go").tag(config=True)
    font_cache = List(help="matplotlib's font lists, copied to each kernel's home").tag(config=True)
    guard_sources = List(help="(module, file, source) restored before each graded cell").tag(config=True)
    guard_bindings = List(help="(name, module, attribute) rebound before each graded cell").tag(config=True)
    max_cell_output = Integer(2_000_000, help="bytes of output one cell may keep").tag(config=True)
    max_notebook_output = Integer(20_000_000, help="bytes of output one notebook may keep").tag(config=True)

    def __init__(self, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        # Once the last cell has run, nothing more is needed from the kernel: kill it rather than wait about a
        # second for it to wind down (its sandbox goes with it)
        kwargs.setdefault("shutdown_kernel", "immediate")
        super().__init__(**kwargs)
        self._run: _Run | None = None
        self._box: KernelBox | None = None
        self._rng = random.Random()

    # --- the kernel and its folders -----------------------------------------------------------------

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        self._box = self._make_box()
        env = kernel_environment(
            self.isolation, self._box, self.threads, self.gpu, inherited=dict(os.environ)
        )
        km.use_box(self.isolation, self._box, env)
        return km

    def _make_box(self) -> KernelBox:
        """The kernel's folders; its working folder holds what nbgrader put beside the notebook (the
        student's other files and the assignment's data files) and the notebooks as submitted, but not the
        notebook being graded, which carries the hidden tests."""
        Path(self.box_root).mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{self.slot}-", dir=self.box_root))  # unique across workers
        box = KernelBox(folder, uid=self.isolation.kernel_uid(self.slot))
        beside = Path(self.resources.get("metadata", {}).get("path") or ".")
        for item in beside.iterdir():
            if item.suffix == ".ipynb":
                continue
            if item.is_dir():
                shutil.copytree(item, box.work / item.name, symlinks=True)
            else:
                shutil.copy2(item, box.work / item.name, follow_symlinks=False)
        if self.submission_folder:
            for notebook in Path(self.submission_folder).glob("*.ipynb"):
                shutil.copy2(notebook, box.work / notebook.name)
        cache = box.home / ".matplotlib"  # MPLCONFIGDIR: else matplotlib rebuilds it, and warns on stderr
        cache.mkdir(parents=True, exist_ok=True)
        for font_list in self.font_cache:
            shutil.copy2(font_list, cache / Path(font_list).name)
        box.hand_over()
        return box

    def _close_box(self) -> None:
        if self._box is None:
            return
        if not self.isolation.sandboxed and self._box.uid is not None:
            kill_processes_of(self._box.uid)  # what the kernel left running; a sandbox ends with its kernel
        self._box.remove()
        self._box = None

    # --- the notebook -------------------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        notes = resources.setdefault(NOTES, [])
        self._run = _Run(notebook=resources["nbgrader"]["notebook"], notes=notes)
        timer = None
        if self.wall_clock:
            timer = threading.Timer(self.wall_clock, self._stop_at_wall_clock)
            timer.daemon = True
            timer.start()
        try:
            return super().preprocess(nb, resources, km)
        except Exception:
            if not self._run.wall_clock_hit:
                raise
            # The wall clock ran out before the kernel was ready: nothing ran, every graded cell scores 0
            why = f"the notebook ran past its {self.wall_clock:g} s limit before its kernel was ready"
            for cell in nb.cells:
                if cell.cell_type == "code" and utils.is_grade(cell):
                    cell.outputs = [_error("NotebookTimeout", why)]
            self._run.note("timeout", "", why)
            return nb, self.resources
        finally:
            if timer is not None:
                timer.cancel()
            self._close_box()

    def _stop_at_wall_clock(self) -> None:
        self._run.wall_clock_hit = True
        if self.km is not None:
            self.km.kill_sandbox()

    def preprocess_cell(self, cell, resources, index):
        run = self._run
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
        if run.stopped:
            if utils.is_grade(cell):
                cell.outputs = [_error("NotRun", f"this cell did not run: {run.stopped}")]
            return cell, resources
        probe_passed = False
        try:
            if not run.snapshot_taken:
                self._silent(user_expressions={"snapshot": guard.snapshot_expression()})
                run.snapshot_taken = True
            if is_test_cell(cell) and self.guard_sources:
                probe_passed = self._guard(name)
            self.kc.take_dropped()  # what the guard's own messages lost is not this cell's
            cell, resources = super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as error:
            self._stop(cell, name, unresponsive=isinstance(error, CellTimeoutError))
            return cell, self.resources
        if lost := self.kc.take_dropped():
            dropped = f"the kernel sent {len(lost)} unreadable message(s) during {name} ({lost[0]})"
            if utils.is_grade(cell):  # one of them may have been this cell's error: its result is not known
                cell.outputs.append(_error("UnreadableKernelMessage", dropped + ": this cell scores 0"))
                dropped += f": {name} scores 0"
            run.note("garbled", name, dropped)
        if probe_passed:
            cell.outputs.append(
                _error(
                    "GradingIntegrityError",
                    "a check that must fail passed just before this cell: the notebook's code tampered with the "
                    "checks or with how cells run, so this cell scores 0",
                )
            )
            run.note("tampered", name, f"{name} scores 0: a check that must fail passed before it")
        if index in run.truncated:
            cell.outputs.append(
                new_output(
                    "stream",
                    name="stdout",
                    text=f"\n[output truncated by the grader: over {self._cap(index)}]\n",
                )
            )
            run.note("truncated", name, f"the output of {name} was cut at {self._cap(index)}")
        if any(out.get("ename") == "CellTimeoutError" for out in cell.outputs):
            run.note(
                "timeout",
                name,
                f"{name} ran past the {self.timeout} s per-cell limit and was interrupted",
            )
        return cell, resources

    def _stop(self, cell, name: str, unresponsive: bool) -> None:
        """The kernel is gone, or will not answer: record why in this cell and stop running cells."""
        run = self._run
        if run.wall_clock_hit:
            kind, why = "timeout", f"the notebook ran past its {self.wall_clock:g} s limit during {name}"
        elif unresponsive:
            kind = "timeout"
            why = f"{name} ran past the {self.timeout} s per-cell limit and the kernel did not stop when interrupted"
            self.km.kill_sandbox()
        else:
            kind, why = "crashed", f"the kernel died during {name} ({_exit_status(self.km.exit_status())})"
        run.stopped = why
        cell.outputs.append(_error("KernelStopped" if kind == "crashed" else "NotebookTimeout", why))
        run.note(kind, name, why)

    # --- the guard ----------------------------------------------------------------------------------

    def _guard(self, name: str) -> bool:
        """Restore the checks before graded cell ``name``; True if the probe then passed (tampering)."""
        restore = guard.restore_expression(self.guard_sources, self.guard_bindings)
        reply = self._silent(user_expressions={"report": restore})
        report = (reply or {}).get("content", {}).get("user_expressions", {}).get("report", {})
        if report.get("status") == "ok":
            try:
                undone = ast.literal_eval(report.get("data", {}).get("text/plain", "[]"))
            except (ValueError, SyntaxError):
                undone = ["the grader's report"]
            if undone:
                self._run.note(
                    "restored",
                    name,
                    f"tampering undone before {name}: {', '.join(undone)}",
                )
        checks_name = guard.checks_name(self.guard_bindings)
        if checks_name is None:
            return False
        probe = self._silent(guard.probe_code(checks_name, self._rng), silent=False)
        return probe is not None and probe["content"].get("status") == "ok"

    async def _async_silent(
        self, code: str = "", user_expressions=None, silent: bool = True, timeout: float = 30.0
    ):
        """Run ``code`` outside the notebook and return its reply; None if the kernel stays busy.

        ``stop_on_error`` is off: the probe fails on purpose, and the kernel would otherwise abort the
        graded cell queued behind it, which nbgrader would then count as passed."""
        msg_id = self.kc.execute(
            code,
            silent=silent,
            store_history=False,
            user_expressions=user_expressions or {},
            allow_stdin=False,
            stop_on_error=False,
        )
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = await self.kc.shell_channel.get_msg(timeout=min(1.0, remaining))
            except Empty:
                if not await self.kc.is_alive():
                    raise DeadKernelError("Kernel died") from None
                continue
            if message["parent_header"].get("msg_id") == msg_id:
                return message
        return None

    _silent = run_sync(_async_silent)

    # --- output -------------------------------------------------------------------------------------

    def _cap(self, index: int) -> str:
        if self._run.notebook_bytes >= self.max_notebook_output:
            return f"{self.max_notebook_output / 1e6:g} MB for the notebook"
        return f"{self.max_cell_output / 1e6:g} MB for one cell"

    def output(self, outs, msg, display_id, cell_index):
        run = self._run
        content = msg["content"]
        if msg["msg_type"] == "error":  # errors decide grades: always kept, a long message cut short
            content["evalue"] = str(content.get("evalue", ""))[:10_000]
            content["traceback"] = [str(line)[:10_000] for line in content.get("traceback", [])[:200]]
            return super().output(outs, msg, display_id, cell_index)
        size = _size(content)
        used = run.cell_bytes.get(cell_index, 0)
        if used + size > self.max_cell_output or run.notebook_bytes + size > self.max_notebook_output:
            run.truncated.add(cell_index)
            return None
        run.cell_bytes[cell_index] = used + size
        run.notebook_bytes += size
        return super().output(outs, msg, display_id, cell_index)


def _exit_status(status: int | None) -> str:
    if status is None:
        return "it stopped answering"
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit code {status}"
