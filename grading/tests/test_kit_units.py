"""The grading kit's parts, one at a time, without a class to grade: the guard's kernel side on a stand-in shell,
the expressions that carry it to the kernel, the per-client record of unreadable messages, the sandbox's view of
the kit, and the line between the kit and the toolkit students install."""

from __future__ import annotations

import ast
import builtins
import sys
import types
from pathlib import Path

from course import ROOT

from cnnlab_grade import guard, guard_kernel, sandbox
from cnnlab_grade.kernel import TolerantKernelClient

# --- a stand-in for IPython's shell and ipykernel's kernel: the attributes the guard reads and restores ----------


class StandInSession:
    def send(self, *args):
        return "sent"


class StandInKernel:
    def __init__(self):
        self.session = StandInSession()
        self.shell_handlers = {"execute_request": self.execute_request}

    def do_execute(self, code):
        return "executed"

    def execute_request(self, *args):
        return "requested"

    def send_response(self, *args):
        return "responded"

    def finish_metadata(self, *args):
        return {}


class StandInShell:
    def __init__(self):
        self.kernel = StandInKernel()
        self.input_transformers_cleanup: list = []
        self.input_transformers_post: list = []
        self.ast_transformers: list = []
        self.events = types.SimpleNamespace(callbacks={"pre_run_cell": [], "post_run_cell": []})
        self.user_ns: dict = {}

    def run_cell(self, source):
        return "ran"

    def transform_cell(self, source):
        return source


CHECKS_SOURCE = """
def check_equal(got, expected, what):
    if got != expected:
        raise AssertionError(f"{what}: got {got}, expected {expected}")
"""


def fake_package(monkeypatch, name: str = "guarded") -> types.ModuleType:
    """A package ``name`` with a ``checks`` module that passes every check, as a tampering notebook leaves it."""
    package = types.ModuleType(name)
    tampered = types.ModuleType(f"{name}.checks")
    exec("def check_equal(got, expected, what):\n    return None\n", tampered.__dict__)
    tampered.check_equal.__module__ = tampered.__name__
    package.checks = tampered
    monkeypatch.setitem(sys.modules, name, package)
    monkeypatch.setitem(sys.modules, tampered.__name__, tampered)
    return package


def test_a_kernel_nobody_touched_has_nothing_to_undo():
    shell = StandInShell()
    guard_kernel.snapshot(shell)
    assert guard_kernel.restore(shell, [], []) == []


def test_tampering_with_how_cells_run_is_undone_and_named(monkeypatch):
    shell = StandInShell()
    guard_kernel.snapshot(shell)
    original_run_cell = StandInShell.run_cell
    original_handler = shell.kernel.shell_handlers["execute_request"]
    monkeypatch.setattr(StandInShell, "run_cell", lambda self, source: "passed")  # the class's method
    shell.transform_cell = lambda source: "pass"  # an instance attribute over the class's method
    shell.kernel.session.send = lambda *args: None
    shell.input_transformers_post.append(lambda lines: ["pass\n"])
    shell.kernel.shell_handlers["execute_request"] = lambda *args: None
    monkeypatch.setattr(builtins, "ascii", lambda value: "ok")

    def rewrite_results(result):
        return None

    rewrite_results.__module__ = "__main__"  # defined in the notebook
    shell.events.callbacks["post_run_cell"].append(rewrite_results)

    undone = guard_kernel.restore(shell, [], [])

    assert set(undone) == {
        "builtins.ascii",
        "IPython input_transformers_post",
        "StandInShell.run_cell",
        "the kernel's execute_request handler",
        "StandInShell.transform_cell (on the instance)",
        "StandInSession.send (on the instance)",
        "an IPython post_run_cell callback defined in the notebook",
    }
    assert StandInShell.run_cell is original_run_cell and "transform_cell" not in vars(shell)
    assert "send" not in vars(shell.kernel.session) and shell.input_transformers_post == []
    assert shell.kernel.shell_handlers["execute_request"] == original_handler
    assert shell.events.callbacks["post_run_cell"] == []
    assert ascii("x") == "'x'"
    assert guard_kernel.restore(shell, [], []) == [], "restored once, nothing is left to undo"


def test_a_kernel_without_the_snapshot_says_so():
    assert guard_kernel.restore(StandInShell(), [], []) == ["the grader's snapshot of the kernel is gone"]


def test_the_checks_are_rebuilt_from_the_trusted_source_and_rebound(monkeypatch):
    package = fake_package(monkeypatch)
    shell = StandInShell()
    shell.user_ns["checks"] = package.checks  # `from guarded import checks`, before the tampering
    shell.user_ns["check_equal"] = lambda *args: None  # a name the notebook rebound to its own function
    guard_kernel.snapshot(shell)
    sources = [("guarded.checks", "<trusted checks>", CHECKS_SOURCE)]
    bindings = [("checks", "guarded.checks", None), ("check_equal", "guarded.checks", "check_equal")]

    undone = guard_kernel.restore(shell, sources, bindings)

    assert undone == ["guarded.checks.check_equal", "the name check_equal"]
    fresh = sys.modules["guarded.checks"]
    assert package.checks is fresh and shell.user_ns["checks"] is fresh
    assert shell.user_ns["check_equal"] is fresh.check_equal
    try:
        shell.user_ns["checks"].check_equal(1, 2, "the probe")
    except AssertionError as error:
        assert "the probe" in str(error)
    else:
        raise AssertionError("the rebuilt check passed two different numbers")


def test_the_expressions_carry_the_kernel_module_and_its_arguments_as_data(monkeypatch):
    """What the kernel evaluates: guard_kernel's own source, run in a namespace of its own, called with the
    grader's sources and bindings as literals; the report comes back as a literal list."""
    fake_package(monkeypatch)
    shell = StandInShell()
    shell.user_ns["checks"] = sys.modules["guarded.checks"]
    kernel_namespace = {"get_ipython": lambda: shell}
    sources = [("guarded.checks", "<trusted checks>", CHECKS_SOURCE)]
    bindings = [("checks", "guarded.checks", None)]

    eval(guard.snapshot_expression(), kernel_namespace)
    shell.input_transformers_cleanup.append(lambda lines: [])
    report = eval(guard.restore_expression(sources, bindings), kernel_namespace)

    assert ast.literal_eval(repr(report)) == [
        "IPython input_transformers_cleanup",
        "guarded.checks.check_equal",
    ]
    assert set(kernel_namespace) == {"get_ipython", "__builtins__"}, (
        "nothing of the guard stays in the kernel"
    )


def test_each_kernel_client_keeps_its_own_unreadable_messages():
    first, second = TolerantKernelClient(), TolerantKernelClient()
    first.iopub_channel_class.dropped.append("ValueError: Invalid Signature")
    assert second.dropped == [] and second.shell_channel_class.dropped is second.dropped
    assert first.take_dropped() == ["ValueError: Invalid Signature"]
    assert first.take_dropped() == []


def test_the_kit_is_visible_in_the_sandbox():
    """A kernel starts with the kit's launcher and runs its guard: both come from the kit's own folder."""
    import cnnlab_grade

    kit = Path(cnnlab_grade.__file__).resolve().parent
    assert any(kit.is_relative_to(folder) for folder in sandbox._read_only_folders())


def test_the_kits_kernels_shorten_ungraded_demonstrations_whatever_the_instructors_environment():
    from cnnlab.kernel_env import AUTOGRADE_ENV

    isolation = types.SimpleNamespace(sandboxed=False, data_dir=None)
    box = types.SimpleNamespace(home=Path("/tmp/home"), work=Path("/tmp/work"))
    environment = sandbox.kernel_environment(isolation, box, threads=1, gpu=None, inherited={})
    assert {k: environment.get(k) for k in AUTOGRADE_ENV} == AUTOGRADE_ENV


INSTRUCTOR_ONLY = {"nbgrader", "sqlalchemy", "psycopg", "cnnlab_grade"}


def imported_modules(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports, wherever in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.partition(".")[0])
    return names


def test_the_toolkit_never_imports_the_kit_or_what_only_the_kit_needs():
    """Students install cnnlab alone: nothing under cnnlab/ may import the kit, nbgrader, SQLAlchemy or psycopg."""
    files = sorted((ROOT / "cnnlab").rglob("*.py"))
    assert len(files) > 10
    offending = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & INSTRUCTOR_ONLY)
        for path in files
        if imported_modules(path) & INSTRUCTOR_ONLY
    }
    assert offending == {}
    assert not (ROOT / "cnnlab" / "grade").exists()


def test_the_scan_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def later():\n    from nbgrader.api import Gradebook\n    import sqlalchemy.orm\n")
    assert imported_modules(module) == {"nbgrader", "sqlalchemy"}


def test_what_a_preprocessor_notes_reaches_the_workers_list(monkeypatch):
    """nbconvert runs preprocessors on a deep copy of the resources: the notes come back in the resources it
    returns, which the worker's Autograde reads as it writes the notebook."""
    from nbconvert.exporters import NotebookExporter
    from nbconvert.preprocessors import Preprocessor
    from nbformat.v4 import new_notebook
    from nbgrader.converters import Autograde

    from cnnlab_grade import worker
    from cnnlab_grade.execute import NOTES

    note = {"kind": "restored", "notebook": "foundations", "cell": "tiny_net_check", "detail": "undone"}

    class Noting(Preprocessor):
        def preprocess(self, nb, resources):
            resources.setdefault(NOTES, []).append(note)
            return nb, resources

    exporter = NotebookExporter()
    exporter.register_preprocessor(Noting(), enabled=True)
    given: dict = {}
    output, returned = exporter.from_notebook_node(new_notebook(), resources=given)
    assert NOTES not in given, "the preprocessor wrote into a copy"

    written = []
    monkeypatch.setattr(Autograde, "write_single_notebook", lambda self, out, res: written.append(out))
    notes: list[dict] = []
    worker._noted_autograde(notes)().write_single_notebook(output, returned)
    assert notes == [note] and written == [output]
