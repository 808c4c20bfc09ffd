"""The guard's kernel side: the code that runs inside a student's kernel, before the first cell and before each
graded test cell (``guard`` sends it; docs/grading.md tells why and what it cannot stop).

The grader does not import this module into the kernel, where the student's code could replace its functions
between two graded cells: each time, it sends this file's source, read from its own installation, and the kernel
runs it in a namespace of its own, then calls :func:`snapshot` or :func:`restore` with the grader's data as
arguments. So this module imports only the standard library, at call time, and keeps nothing between calls but
what it stores on the shell (the pristine state).
"""

from __future__ import annotations

# Names on the shell and the kernel whose replacement would let a notebook change how cells run or what they report
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
WATCHED = SHELL_METHODS + KERNEL_METHODS
# Also watched on the instances (the session's ``send`` carries every reply)
INSTANCE_METHODS = WATCHED + ("send",)
TRANSFORMER_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
PRISTINE = "_cnnlab_grade_pristine"  # the shell's attribute that holds the state before the first cell


def snapshot(ip) -> None:
    """Records the kernel's pristine state on the shell ``ip``; run before the notebook's first cell."""
    import builtins

    setattr(
        ip,
        PRISTINE,
        {
            "builtins": dict(vars(builtins)),
            "transformers": {name: list(getattr(ip, name)) for name in TRANSFORMER_LISTS},
            "methods": [
                (cls, name, cls.__dict__[name])
                for owner in (ip, ip.kernel)
                for cls in type(owner).__mro__
                for name in WATCHED
                if name in cls.__dict__
            ],
            "handlers": dict(ip.kernel.shell_handlers),
            "instance": [
                (owner, name, vars(owner)[name])
                for owner in (ip, ip.kernel, ip.kernel.session)
                for name in INSTANCE_METHODS
                if name in vars(owner)
            ],
        },
    )


def restore(ip, sources: list, bindings: list) -> list[str]:
    """Undoes tampering on the shell ``ip``: everything :func:`snapshot` recorded, event callbacks defined in the
    notebook, a trace function; rebuilds each module of ``sources`` ((module, file, source), the grader's trusted
    copies) and rebinds the notebook's names of ``bindings`` ((name, module, attribute or None)) to them.

    Returns what it had to undo, one phrase each."""
    undone = _restore_pristine(ip)
    _remove_notebook_callbacks(ip, undone)
    _remove_trace(undone)
    previous = _rebuild_modules(sources, undone)
    _rebind(ip, bindings, previous, undone)
    return undone


def _restore_pristine(ip) -> list[str]:
    import builtins

    undone = []
    pristine = getattr(ip, PRISTINE, None)
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
            if name not in INSTANCE_METHODS or not callable(getattr(type(owner), name, None)):
                continue
            if (id(owner), name) in before:
                if vars(owner)[name] != before[(id(owner), name)]:
                    setattr(owner, name, before[(id(owner), name)])
                    undone.append(type(owner).__name__ + "." + name + " (on the instance)")
            else:
                delattr(owner, name)
                undone.append(type(owner).__name__ + "." + name + " (on the instance)")
    return undone


def _remove_notebook_callbacks(ip, undone: list[str]) -> None:
    for event, callbacks in ip.events.callbacks.items():
        for callback in list(callbacks):
            if getattr(callback, "__module__", None) == "__main__":
                callbacks.remove(callback)
                undone.append("an IPython " + event + " callback defined in the notebook")


def _remove_trace(undone: list[str]) -> None:
    import sys

    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.settrace(None)
        sys.setprofile(None)
        undone.append("a trace or profile function")


def _rebuild_modules(sources: list, undone: list[str]) -> dict:
    """Each module rebuilt from its trusted source, in order, and set on its package; returns the modules they
    replaced, by name."""
    import importlib
    import sys
    import types

    previous = {}
    for module_name, filename, source in sources:
        package_name, _, attribute = module_name.rpartition(".")
        package = sys.modules.get(package_name) or importlib.import_module(package_name)
        previous[module_name] = old = sys.modules.get(module_name)
        fresh = types.ModuleType(module_name)
        fresh.__file__ = filename
        fresh.__package__ = package_name
        sys.modules[module_name] = fresh
        exec(compile(source, filename, "exec", dont_inherit=True), fresh.__dict__)
        setattr(package, attribute, fresh)
        for name, value in vars(fresh).items():
            if isinstance(value, types.FunctionType) and value.__module__ == module_name:
                if getattr(getattr(old, name, None), "__code__", None) != value.__code__:
                    undone.append(module_name + "." + name)
    return previous


def _rebind(ip, bindings: list, previous: dict, undone: list[str]) -> None:
    import sys

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
