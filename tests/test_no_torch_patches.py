"""The toolkit never replaces an attribute of torch, even for a moment (issue 20).

A swap such as ``F.relu = fast_relu`` is process-wide while it lasts: every thread, and any code the student
runs meanwhile, sees it. Where the toolkit needs torch to behave differently it uses torch's own extension
points (dispatch and function modes, the meta device). This test reads every module of ``cnnlab`` with ``ast``
and fails on an assignment to, ``setattr`` on or ``delattr`` of anything reached from ``torch``, through whatever
name it was imported under, and on any use of torch's private ``_NormBase``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnlab"
# torch's settings, documented to be set by assignment (torch.backends.cudnn.benchmark = True): flags, not code
SETTINGS = "torch.backends."


def torch_patches(source: str) -> list[str]:
    """'line N: F.relu' for each place ``source`` replaces (or deletes) an attribute of something from torch."""
    tree = ast.parse(source)
    from_torch = _names_bound_to_torch(tree)

    def reaches_torch(node: ast.expr) -> bool:
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "vars":
            return bool(node.args) and reaches_torch(node.args[0])  # vars(torch.nn.init)["uniform_"] = ...
        return isinstance(node, ast.Name) and node.id in from_torch

    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and node.args
            and reaches_torch(node.args[0])
        ):
            found.append(f"line {node.lineno}: {node.func.id}({ast.unparse(node.args[0])}, ...)")
        for target in _flattened(targets):
            if isinstance(target, (ast.Attribute, ast.Subscript)) and reaches_torch(target):
                if not ast.unparse(target).startswith(SETTINGS):
                    found.append(f"line {target.lineno}: {ast.unparse(target)}")
        if (isinstance(node, ast.Attribute) and node.attr == "_NormBase") or (
            isinstance(node, ast.Name) and node.id == "_NormBase"
        ):
            found.append(f"line {node.lineno}: _NormBase (a private name of torch)")
    return found


def _names_bound_to_torch(tree: ast.Module) -> set[str]:
    """Names that stand for torch or a part of it: imports (``F``, ``nn``, ``init``) and plain aliases of those
    (``norm = nn.modules.batchnorm.BatchNorm2d``), wherever in the module they are bound."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "torch":
                    names.add(alias.asname or "torch")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            names.update(alias.asname or alias.name for alias in node.names)
    aliases_found = True
    while aliases_found:  # an alias of an alias: repeat until no new name appears
        aliases_found = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                pairs = _bound_pairs(node.targets, node.value)
                for name, value in pairs:
                    if name not in names and _rooted_in(value, names):
                        names.add(name)
                        aliases_found = True
    return names


def _bound_pairs(targets: list[ast.expr], value: ast.expr) -> list[tuple[str, ast.expr]]:
    """(name, value) for ``a = x`` and ``a, b = x, y``."""
    pairs = []
    for target in targets:
        if isinstance(target, ast.Name):
            pairs.append((target.id, value))
        elif (
            isinstance(target, ast.Tuple)
            and isinstance(value, ast.Tuple)
            and len(target.elts) == len(value.elts)
        ):
            pairs += [(t.id, v) for t, v in zip(target.elts, value.elts) if isinstance(t, ast.Name)]
    return pairs


def _rooted_in(node: ast.expr, names: set[str]) -> bool:
    """An attribute chain (no call) that starts at one of ``names``: ``nn.modules.batchnorm``, ``F.relu``."""
    if not isinstance(node, ast.Attribute):
        return False
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in names


def _flattened(targets: list[ast.expr]) -> list[ast.expr]:
    flat = []
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            flat += _flattened(target.elts)
        else:
            flat.append(target)
    return flat


@pytest.mark.parametrize(
    "patch",
    [
        "import torch.nn.functional as F\nF.batch_norm, F.relu = fast_norm, fast_relu",
        "from torch import nn\nsetattr(nn.init, 'uniform_', skip)",
        "from torch.nn import init\ninit.kaiming_uniform_ = skip",
        "import torch\ntorch.nn.functional.relu = fast_relu",
        "import torch\nvars(torch.nn.init)['zeros_'] = skip",
        "from torch import nn\nnorm = nn.modules.batchnorm.BatchNorm2d\nnorm.reset_running_stats = skip",
        "from torch import nn\nnn.Module.dump_patches += 1",
        "from torch import nn\ndelattr(nn.Conv2d, 'reset_parameters')",
        "from torch import nn\nbase = nn.modules.batchnorm._NormBase",
    ],
)
def test_the_detector_finds_each_way_of_patching_torch(patch):
    assert torch_patches(patch), f"not found: {patch!r}"


def test_the_detector_leaves_the_toolkits_own_objects_alone():
    own = (
        "import torch\nfrom torch import nn\n"
        "def f(module, x):\n"
        "    vars(module)['forward'] = x\n"
        "    module.training = False\n"
        "    y = torch.empty(3)\n"
        "    y.requires_grad = True\n"
        "    store = module._parameters\n"
        "    store['weight'] = x\n"
    )
    assert torch_patches(own) == []
    assert torch_patches("import torch\ntorch.backends.cudnn.benchmark = True") == []


def test_no_module_of_the_toolkit_patches_torch():
    found = {
        str(path.relative_to(PACKAGE.parent)): patches
        for path in sorted(PACKAGE.rglob("*.py"))
        if (patches := torch_patches(path.read_text(encoding="utf-8")))
    }
    assert not found, f"cnnlab replaces attributes of torch (use a dispatch or function mode): {found}"
