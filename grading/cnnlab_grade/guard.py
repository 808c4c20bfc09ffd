"""The guard: what undoes tampering before each graded cell, and a probe that must fail (the grader's side;
the code that runs in the kernel is ``guard_kernel``).

A student's code runs in the same Python as the test cells, so it can replace ``checks.check_equal`` by a
function that always passes, or install an IPython input transformer that turns every later cell into
``pass``. Before each graded test cell the grader runs, silently:

1. ``restore``: the builtins, IPython's input/AST transformers, execution methods and event callbacks back
   to what they were before the first cell; ``cnnlab.checks`` and ``cnnlab.summary`` rebuilt from the
   source text the *grader* read from disk, and rebound wherever the assignment's own notebook imported
   them (``checks``, ``summarize``). It reports what it had to undo.
2. the probe: a call to ``checks.check_equal`` with two different numbers, sent like a cell. It must fail;
   if it passes, the kernel cannot be trusted, and the graded cell that follows scores 0.

This stops tampering that does not target the grader itself. Code written against this module (which
finds and edits the snapshot, or recognises the probe) can still win: nothing inside the student's own
process can be fully trusted. docs/grading.md says so.
"""

from __future__ import annotations

import ast
import random
from functools import cache
from pathlib import Path

from . import guard_kernel

# in import order: each module after those it imports (the summary package's modules, then the package, then checks)
RESTORED_MODULES = (
    *(f"cnnlab.summary.{name}" for name in ("tensors", "table", "macs", "messages", "replay", "forward")),
    "cnnlab.summary",
    "cnnlab.checks",
)


@cache
def _kernel_source() -> str:
    """guard_kernel.py as this installation holds it: trusted, and sent whole each time (its docstring says why)."""
    return Path(guard_kernel.__file__).read_text(encoding="utf-8")


def _call(function: str, *arguments) -> str:
    """A user expression that runs guard_kernel's source in a fresh namespace and calls ``function`` with the
    shell and ``arguments`` (data: written as Python literals). IPython evaluates user expressions without its
    input transformers, events or history, so a transformer that rewrites every cell cannot rewrite this."""
    code = f"compile({_kernel_source()!r}, {guard_kernel.__file__!r}, 'exec', dont_inherit=True)"
    values = "".join(f", {argument!r}" for argument in arguments)
    namespace = "{'__name__': 'cnnlab_grade.guard_kernel'}"
    return f"(lambda ns: exec({code}, ns) or ns[{function!r}](get_ipython(){values}))({namespace})"


def snapshot_expression() -> str:
    """Records the kernel's pristine state; run before the notebook's first cell."""
    return _call("snapshot")


def restore_expression(
    sources: list[tuple[str, str, str]], bindings: list[tuple[str, str, str | None]]
) -> str:
    """The restore step, with the trusted module sources and the names to rebind as its arguments; evaluates
    to the list of what it had to undo."""
    return _call("restore", list(sources), list(bindings))


def probe_code(checks_name: str, rng: random.Random) -> str:
    """A check that must fail: two different numbers, in the shape of a test cell's line."""
    expected = rng.randrange(10**6)
    got = expected + rng.randrange(1, 10**6)
    return f'{checks_name}.check_equal({got}, {expected}, "the value of step {rng.randrange(100)}")\n'


def trusted_sources() -> list[tuple[str, str, str]]:
    """(module, file, source) of each restored module, read from the grader's own installation."""
    import importlib.util

    sources = []
    for name in RESTORED_MODULES:
        filename = importlib.util.find_spec(name).origin  # found, not imported: importing them loads torch
        sources.append((name, filename, Path(filename).read_text(encoding="utf-8")))
    return sources


def bindings_of(notebook_paths: list[Path]) -> list[tuple[str, str, str | None]]:
    """Names the assignment's own notebooks bind to restored things: ('checks', 'cnnlab.checks', None), ...

    Read from the instructor's source notebooks (trusted), by parsing their import statements.
    """
    import nbformat

    import cnnlab

    def resolve(module: str, attribute: str | None):
        """The restored module (and attribute) that ``from module import attribute`` gives, if any."""
        if attribute is not None and f"{module}.{attribute}" in RESTORED_MODULES:
            return f"{module}.{attribute}", None
        if module == "cnnlab" and attribute in cnnlab._LAZY:  # lazily exported names, e.g. summarize
            module = cnnlab._LAZY[attribute]
        return (module, attribute) if module in RESTORED_MODULES else None

    found: dict[str, tuple[str, str | None]] = {}
    for path in notebook_paths:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue  # IPython magics; they import nothing of ours
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for alias in node.names:
                        target = resolve(node.module, alias.name)
                        if target:
                            found[alias.asname or alias.name] = target
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.asname and alias.name in RESTORED_MODULES:
                            found[alias.asname] = (alias.name, None)
    return [(name, module, attribute) for name, (module, attribute) in sorted(found.items())]


def checks_name(bindings: list[tuple[str, str, str | None]]) -> str | None:
    """The name under which the notebooks use cnnlab.checks, for the probe."""
    return next((name for name, module, attr in bindings if module == "cnnlab.checks" and attr is None), None)
