"""Worker processes, each grading one submission at a time, watched by the run.

Workers start first, so they load nbgrader and jupyter while the run checks the sandbox and prepares the
template gradebook; the run then sends them its WorkerSetup. A worker that dies or overruns is killed
(its kernel goes with it) and replaced; its student gets an ``error`` or ``timeout`` result instead of
stalling the run.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import deque
from collections.abc import Callable, Iterable

from .worker import Task, WorkerSetup, failed, worker_main

GRACE_S = 300  # beyond the notebook's wall clock: nbgrader's own work, feedback, a slow disk


class WorkerPool:
    def __init__(self, size: int, scratch: str):
        self._context = multiprocessing.get_context("spawn")  # no fork of a process that holds a database
        self.scratch = scratch
        self.size = size
        self._setup: WorkerSetup | None = None
        self._results = self._context.Queue()
        self._workers: list[dict] = [self._start(slot) for slot in range(size)]

    def _start(self, slot: int) -> dict:
        tasks = self._context.Queue()
        process = self._context.Process(
            target=worker_main,
            args=(slot, self.scratch, tasks, self._results),
            name=f"grader-{slot}",
            daemon=True,
        )
        process.start()
        if self._setup is not None:
            tasks.put(self._setup)
        return {"slot": slot, "process": process, "tasks": tasks, "task": None, "since": 0.0}

    def run(self, setup: WorkerSetup, tasks: Iterable[Task], on_result: Callable[[dict], None]) -> None:
        """Grade every task, calling ``on_result`` (in this process) as each one ends."""
        self._setup = setup
        for worker in self._workers:
            worker["tasks"].put(setup)
        pending = deque(tasks)
        limit = setup.wall_clock + GRACE_S
        while pending or any(w["task"] for w in self._workers):
            for worker in self._workers:
                if worker["task"] is None and pending:
                    worker["task"], worker["since"] = pending.popleft(), time.monotonic()
                    worker["tasks"].put(worker["task"])
            try:
                result = self._results.get(timeout=0.5)
            except queue.Empty:
                result = None
            if result is not None:
                worker = next(
                    w for w in self._workers if w["task"] and w["task"].student == result["student"]
                )
                worker["task"] = None
                on_result(result)
            for index, worker in enumerate(self._workers):
                task = worker["task"]
                if task is None:
                    continue
                if not worker["process"].is_alive():
                    code = worker["process"].exitcode
                    self._replace(index)
                    on_result(failed(task.student, f"the grading worker died (exit code {code})"))
                elif time.monotonic() - worker["since"] > limit:
                    self._replace(index)
                    on_result(failed(task.student, f"grading it took over {limit:g} s", status="timeout"))

    def _replace(self, index: int) -> None:
        worker = self._workers[index]
        worker["process"].kill()
        worker["process"].join(timeout=10)
        self._workers[index] = self._start(worker["slot"])

    def close(self) -> None:
        """Stop every worker now; their kernels die with them."""
        for worker in self._workers:
            if worker["process"].is_alive():
                if worker["task"] is None and self._setup is not None:
                    worker["tasks"].put(None)
                else:
                    worker["process"].kill()
        for worker in self._workers:
            worker["process"].join(timeout=10)
            if worker["process"].is_alive():
                worker["process"].kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
