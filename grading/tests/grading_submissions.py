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


# --- the class of the class report (test_class_report.py) ----------------------------------------------------------

# Each student of the report's class, with the checks they lose; all but the two broken ones run. Planted copies:
# class_own_copy hands in class_own again, class_renamed hands in alternative with its variables renamed, its cells
# reordered and its written answers swapped. The rest are independent: the solution (perfect) and alternative.py,
# and students who differ from the solution in the one cell of their mistake.
REPORT_CLASS = {
    "perfect": (),
    "alternative": (),
    "class_own": (),
    "class_own_copy": (),
    "class_renamed": (),
    "wrong_stride": ("conv_layer_cost_check",),
    "missing_bias": ("conv_params_check", "conv_layer_cost_check", "tiny_net_check"),
    "class_no_bias": ("conv_params_check", "conv_layer_cost_check", "tiny_net_check"),
    "class_float_size": ("output_size_check",),
    "wrong_tiny_net_params": ("tiny_net_check",),
    "class_one_pool": ("tiny_net_check",),
    "malformed_json": None,  # not graded: invalid
    "missing_notebook": None,  # not graded: missing
}
PLANTED_COPIES = {("class_own", "class_own_copy"), ("alternative", "class_renamed")}
# Written answers of their own (the others keep the solution's, which the whole class shares and so does not count)
WRITTEN = {
    "class_own": {
        "discussion_input_size": (
            "Filters do not care how big the picture is: every weight is reused at each place it visits, so the "
            "count of weights stays put when the input grows. What grows is the work and the memory of the maps, "
            "roughly with the square of the side, and the classifier at the end, which sees every flattened value."
        ),
        "discussion_stride": (
            "Striding skips positions, so the first map shrinks by the stride along each side and every layer after "
            "it has less to do. Weights of the convolutions stay the same; only the dense head gets smaller. With "
            "stride three the sizes stop dividing evenly and my function raises instead of rounding down."
        ),
    },
    "alternative": {
        "discussion_input_size": (
            "Weight sharing means a convolution owns K small kernels whatever the resolution; larger images only add "
            "positions to visit. So MACs and activation memory scale with height times width while conv parameters "
            "stay constant, except for the flatten-then-linear head whose input length follows the image area."
        ),
        "discussion_stride": (
            "A bigger first stride thins out the grid of positions quadratically, and that saving propagates to all "
            "later layers because they inherit the smaller maps. Convolution weights are unchanged; the linear "
            "layer loses parameters. Uneven strides are rejected by output_size rather than silently truncated."
        ),
    },
}
WRITTEN["class_own_copy"] = {
    cell: text.replace("roughly", "about").replace("Striding", "A stride")
    for cell, text in WRITTEN["class_own"].items()
}
WRITTEN["class_renamed"] = {  # alternative's answers, in each other's cell, a word changed
    "discussion_input_size": WRITTEN["alternative"]["discussion_stride"].replace("bigger", "larger"),
    "discussion_stride": WRITTEN["alternative"]["discussion_input_size"].replace("means", "implies"),
}


def _cells_of(notebook: nbformat.NotebookNode, grade_ids: tuple[str, ...]) -> list:
    return [c for c in notebook.cells if nbgrader_meta(c).get("grade_id") in grade_ids]


def build_report_class(course: Course) -> dict[str, Path]:
    """REPORT_CLASS written into the course's submitted folder: the snippets, the written answers of WRITTEN,
    and class_renamed's conv_params cells moved before output_size's. {student: folder}."""
    folders = build(course, list(REPORT_CLASS))
    for student, answers in WRITTEN.items():
        path = folders[student] / NOTEBOOK
        notebook = nbformat.read(path, as_version=4)
        with_answers(notebook, dict(answers))
        if student == "class_renamed":
            moved = _cells_of(notebook, ("conv_params", "conv_params_check"))
            for cell in moved:
                notebook.cells.remove(cell)
            first = notebook.cells.index(_cells_of(notebook, ("output_size",))[0])
            notebook.cells[first:first] = moved
        nbformat.write(notebook, path)
    return folders
