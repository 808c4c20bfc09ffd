"""Kernel-side code that undoes tampering before each graded cell, and a probe that must fail.

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
from pathlib import Path

# in import order: each module after those it imports (the summary package's modules, then the package, then checks)
RESTORED_MODULES = (
    *(f"cnnlab.summary.{name}" for name in ("tensors", "table", "macs", "messages", "replay", "forward")),
    "cnnlab.summary",
    "cnnlab.checks",
)
SHELL_METHODS = (
    "run_cell",
    "run_cell_async",
    "_run_cell",
    "run_ast_nodes",
    "run_code",
    "transform_cell",
    "transform_ast",
    "should_run_async",
    "showtraceback",
    "_showtraceback",
)
KERNEL_METHODS = ("do_execute", "execute_request", "send_response", "finish_metadata")
TRANSFORMER_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")

_SNAPSHOT = f"""
def snapshot():
    import builtins
    ip = get_ipython()
    watched = {SHELL_METHODS + KERNEL_METHODS!r}
    ip._cnnlab_grade_pristine = {{
        "builtins": dict(vars(builtins)),
        "transformers": {{name: list(getattr(ip, name)) for name in {TRANSFORMER_LISTS!r}}},
        "methods": [
            (cls, name, cls.__dict__[name])
            for owner in (ip, ip.kernel)
            for cls in type(owner).__mro__
            for name in watched
            if name in cls.__dict__
        ],
        "handlers": dict(ip.kernel.shell_handlers),
        "instance": [
            (owner, name, vars(owner)[name])
            for owner in (ip, ip.kernel, ip.kernel.session)
            for name in watched + ("send",)
            if name in vars(owner)
        ],
    }}
snapshot()
"""

_RESTORE = """
def restore(sources, bindings):
    import builtins, sys, types
    ip = get_ipython()
    undone = []
    pristine = getattr(ip, "_cnnlab_grade_pristine", None)
    if pristine is None:
        undone.append("the grader's snapshot of the kernel is gone")
    else:
        for name, value in pristine["builtins"].items():
            # ipykernel swaps input() for each request
            if not name.startswith("_") and name != "input" and vars(builtins).get(name) is not value:
                setattr(builtins, name, value)
                undone.append("builtins." + name)
        for name, items in pristine["transformers"].items():
            if list(getattr(ip, name)) != items:
                getattr(ip, name)[:] = items  # in place: some of these lists are read-only properties
                undone.append("IPython " + name)
        for cls, name, value in pristine["methods"]:
            if cls.__dict__.get(name) is not value:
                setattr(cls, name, value)
                undone.append(cls.__name__ + "." + name)
        for name, handler in pristine["handlers"].items():
            if ip.kernel.shell_handlers.get(name) != handler:
                ip.kernel.shell_handlers[name] = handler
                undone.append("the kernel's " + name + " handler")
    before = {(id(owner), name): value for owner, name, value in (pristine or {}).get("instance", [])}
    for owner in (ip, ip.kernel, ip.kernel.session):
        for name in list(vars(owner)):
            if name not in __METHODS__ or not callable(getattr(type(owner), name, None)):
                continue
            if (id(owner), name) in before:
                if vars(owner)[name] != before[(id(owner), name)]:
                    setattr(owner, name, before[(id(owner), name)])
                    undone.append(type(owner).__name__ + "." + name + " (on the instance)")
            else:
                delattr(owner, name)
                undone.append(type(owner).__name__ + "." + name + " (on the instance)")
    for event, callbacks in ip.events.callbacks.items():
        for callback in list(callbacks):
            if getattr(callback, "__module__", None) == "__main__":
                callbacks.remove(callback)
                undone.append("an IPython " + event + " callback defined in the notebook")
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.settrace(None)
        sys.setprofile(None)
        undone.append("a trace or profile function")
    package = sys.modules.get("cnnlab") or __import__("cnnlab")
    previous = {}
    for module_name, filename, source in sources:
        previous[module_name] = old = sys.modules.get(module_name)
        fresh = types.ModuleType(module_name)
        fresh.__file__ = filename
        fresh.__package__ = module_name.rpartition(".")[0]
        sys.modules[module_name] = fresh
        exec(compile(source, filename, "exec", dont_inherit=True), fresh.__dict__)
        setattr(package, module_name.rpartition(".")[2], fresh)
        for name, value in vars(fresh).items():
            if isinstance(value, types.FunctionType) and value.__module__ == module_name:
                if getattr(getattr(old, name, None), "__code__", None) != value.__code__:
                    undone.append(module_name + "." + name)
    for name, module_name, attribute in bindings:
        if name not in ip.user_ns:
            continue
        module = sys.modules[module_name]
        fresh = module if attribute is None else getattr(module, attribute)
        old = previous.get(module_name)
        original = old if attribute is None else getattr(old, attribute, None)
        if ip.user_ns[name] is not original and ip.user_ns[name] is not fresh:
            undone.append("the name " + name)
        ip.user_ns[name] = fresh
    ip._cnnlab_grade_report = undone
restore(__SOURCES__, __BINDINGS__)
"""


def _expression(code: str, result: str) -> str:
    """``code`` run as a user expression: IPython evaluates those without its input transformers, events
    or history, so a transformer that rewrites every cell cannot rewrite this; returns ``result``."""
    return f"exec(compile({code!r}, '<cnnlab.grade>', 'exec'), {{'get_ipython': get_ipython}}) or {result}"


def snapshot_expression() -> str:
    """Records the kernel's pristine state; run before the notebook's first cell."""
    return _expression(_SNAPSHOT, "'ok'")


def restore_expression(
    sources: list[tuple[str, str, str]], bindings: list[tuple[str, str, str | None]]
) -> str:
    """The restore step, with the trusted module sources and the names to rebind written into it; evaluates
    to the list of what it had to undo."""
    methods = SHELL_METHODS + KERNEL_METHODS + ("send",)
    code = (
        _RESTORE.replace("__METHODS__", repr(methods))
        .replace("__BINDINGS__", repr(list(bindings)))
        .replace("__SOURCES__", repr(list(sources)))  # last: the sources are long and hold no placeholder
    )
    return _expression(code, "get_ipython()._cnnlab_grade_report")


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
