"""Builds the hostile and broken submissions of tests/submissions/ for 00_foundations, and says what each
must get: the score of every autograded cell, the status, and a piece of the reason.

00_foundations has four autograded checks (10 points); every case below states its outcome as the checks
it loses. See tests/submissions/README.md for the files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import nbformat
from course import SOLUTIONS, Course, nbgrader_meta, perfect_submission

ASSIGNMENT = "00_foundations"
NOTEBOOK = "foundations.ipynb"
SNIPPETS = Path(__file__).resolve().parent / "submissions"
FULL = {
    "output_size_check": 3.0,
    "conv_params_check": 2.0,
    "conv_layer_cost_check": 3.0,
    "tiny_net_check": 2.0,
}
ZERO = dict.fromkeys(FULL, 0.0)
CELL_TIMEOUT_S = 15  # the throwaway course's Execute.timeout, so that the loops give up quickly
DEMONSTRATIONS = ("fit(", "history.", "explore(", "time_matmul(torch")  # ungraded, and slow: dropped


def losing(*checks: str) -> dict[str, float]:
    return {cell: 0.0 if cell in checks else points for cell, points in FULL.items()}


@dataclass(frozen=True)
class Case:
    name: str
    scores: dict[str, float]  # every autograded cell
    status: str
    reason: str = ""  # a piece of the CSV's reason; "" means the reason must be empty
    needs_sandbox: bool = False  # without a sandbox the student would cheat successfully, or do harm
    output: tuple[str, ...] = field(default=())  # text the executed notebook must show


CASES = [
    Case("perfect", FULL, "graded"),
    Case("alternative", FULL, "graded"),
    Case("wrong_stride", losing("conv_layer_cost_check"), "graded"),
    Case("missing_bias", losing("conv_params_check", "conv_layer_cost_check", "tiny_net_check"), "graded"),
    Case("edited_test_cell", losing("tiny_net_check"), "graded", "test cell tiny_net_check was edited"),
    Case("assert_true", losing("tiny_net_check"), "graded", "test cell tiny_net_check was edited"),
    Case("deleted_test_cell", losing("tiny_net_check"), "graded", "test cell tiny_net_check was deleted"),
    Case(
        "monkeypatch_checks",
        losing("tiny_net_check"),
        "graded",
        "tampering undone before tiny_net_check: cnnlab.checks._fail",
    ),
    Case(
        "input_transformer",
        losing("tiny_net_check"),
        "graded",
        "tampering undone before tiny_net_check: IPython input_transformers_cleanup",
    ),
    Case(
        "kernel_class_swap",
        losing("tiny_net_check"),
        "graded",
        "tiny_net_check scores 0: a check that must fail passed before it",
    ),
    Case(
        "infinite_loop",
        losing("tiny_net_check"),
        "timeout",
        f"tiny_net_params ran past the {CELL_TIMEOUT_S} s per-cell limit",
    ),
    Case("stubborn_loop", losing("tiny_net_check"), "timeout", "did not stop when interrupted"),
    Case("memory_hog", losing("tiny_net_check"), "graded", "tiny_net_params ran out of memory"),
    Case("fork_bomb", losing("tiny_net_check"), "graded", "tiny_net_params hit the process limit"),
    Case("spawn_sleepers", FULL, "graded", "autograd_by_hand hit the process limit"),
    Case("spawn_until_limit", FULL, "graded", output=("sleepers, then:",)),
    Case("kernel_env", FULL, "graded", output=("OMP_WAIT_POLICY=PASSIVE",)),
    Case(
        "kernel_exit",
        losing("tiny_net_check"),
        "crashed",
        "the kernel died during tiny_net_params (exit code 3)",
    ),
    Case(
        "read_solutions",
        losing("tiny_net_check"),
        "graded",
        needs_sandbox=True,
        output=("FileNotFoundError",),
    ),
    Case("write_gradebook", FULL, "graded", needs_sandbox=True, output=("gradebook: OperationalError",)),
    Case(
        "network", losing("tiny_net_check"), "graded", needs_sandbox=True, output=("ConnectionRefusedError",)
    ),
    Case(
        "symlink_to_solutions",
        losing("tiny_net_check"),
        "graded",
        "left out what is not a plain file or folder: answers.json",
        output=("FileNotFoundError",),
    ),
    Case("big_output", FULL, "graded", "the output of tiny_net_params was cut at 2 MB"),
    Case("malformed_json", ZERO, "invalid", "foundations.ipynb is not a readable notebook"),
    Case("future_metadata", ZERO, "invalid", "nbgrader could not grade it"),
    Case("empty_file", ZERO, "invalid", "the file is empty"),
    Case("wrong_name", ZERO, "missing", "found: Foundations (1).ipynb"),
    Case("missing_notebook", ZERO, "missing", "no foundations.ipynb in the submission"),
]
BY_NAME = {case.name: case for case in CASES}


def light(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without its ungraded demonstrations (timing, explorer, training): a student may drop
    them, and without them the notebook runs in seconds."""
    for cell in notebook.cells:
        if (
            cell.cell_type == "code"
            and not nbgrader_meta(cell)
            and any(d in cell.source for d in DEMONSTRATIONS)
        ):
            cell.source = "# skipped: a demonstration, not graded"
    return notebook


def answer_cells(snippet: str) -> dict[str, str]:
    """{grade id: cell source} of a snippet file; a file without markers answers tiny_net_params."""
    parts = re.split(r"^# --- cell: (\w+)\n", snippet, flags=re.M)
    if len(parts) == 1:
        return {"tiny_net_params": snippet}
    return {grade_id: source.strip() + "\n" for grade_id, source in zip(parts[1::2], parts[2::2])}


def with_answers(notebook: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answers:
            cell.source = answers.pop(grade_id)
    assert not answers, f"no answer cell for {sorted(answers)}"
    return notebook


def _test_cell(notebook: nbformat.NotebookNode, grade_id: str):
    return next(c for c in notebook.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def build(
    course: Course, names: list[str], demonstrations: bool = False, **placeholders: str
) -> dict[str, Path]:
    """Write the submissions ``names`` into the course's submitted folder; {name: its folder}.

    ``demonstrations``: keep the notebook's ungraded demonstrations (bench/grade_throughput.py --full).
    ``placeholders``: SOLUTIONS, GRADEBOOK and PORT for the snippets that need them.
    """
    release = course.release / ASSIGNMENT / NOTEBOOK
    folders = {}
    for name in names:
        notebook = perfect_submission(release, SOLUTIONS / ASSIGNMENT / NOTEBOOK)
        if not demonstrations:
            notebook = light(notebook)
        folder = course.submitted / name / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        folders[name] = folder
        snippet = SNIPPETS / f"{name}.py"
        if snippet.exists():
            text = Template(snippet.read_text()).safe_substitute(placeholders)
            nbformat.write(with_answers(notebook, answer_cells(text)), folder / NOTEBOOK)
            if name == "symlink_to_solutions":
                (folder / "answers.json").symlink_to(SOLUTIONS / ASSIGNMENT / NOTEBOOK)
        elif name in ("edited_test_cell", "assert_true"):
            with_answers(notebook, answer_cells((SNIPPETS / "wrong_tiny_net_params.py").read_text()))
            _test_cell(notebook, "tiny_net_check").source = (
                "assert True"
                if name == "assert_true"
                else 'checks.check_params(tiny_net_params(), tiny_net_params(), "TinyNet\'s parameters")'
            )
            nbformat.write(notebook, folder / NOTEBOOK)
        elif name == "future_metadata":  # valid JSON, but nbgrader refuses its cell metadata
            _test_cell(notebook, "tiny_net_check").metadata.nbgrader["schema_version"] = 99
            nbformat.write(notebook, folder / NOTEBOOK)
        elif name == "deleted_test_cell":
            notebook.cells.remove(_test_cell(notebook, "tiny_net_check"))
            nbformat.write(notebook, folder / NOTEBOOK)
        elif name == "malformed_json":
            text = json.dumps(notebook)
            (folder / NOTEBOOK).write_text(text[: len(text) // 2])
        elif name == "empty_file":
            (folder / NOTEBOOK).write_text("")
        elif name == "wrong_name":
            nbformat.write(notebook, folder / "Foundations (1).ipynb")
        elif name == "missing_notebook":
            (folder / "notes.txt").write_text("I could not get the notebook to open.\n")
        elif name == "perfect":
            nbformat.write(notebook, folder / NOTEBOOK)
        else:
            raise ValueError(f"no way to build the submission {name!r}")
    return folders


def build_sleeper(course: Course, folder: Path) -> None:
    """A correct submission whose first cells sleep 5 s each, three times: slower than a short wall clock,
    while each cell stays under the per-cell limit."""
    notebook = light(
        perfect_submission(course.release / ASSIGNMENT / NOTEBOOK, SOLUTIONS / ASSIGNMENT / NOTEBOOK)
    )
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    for _ in range(3):
        notebook.cells.insert(first_code + 1, nbformat.v4.new_code_cell("import time\n\ntime.sleep(5)"))
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / NOTEBOOK)
