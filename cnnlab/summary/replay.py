"""The speed-up for repeated blocks: a block that repeats one already run is not run again, its rows are replayed.

ResNet-101 runs 23 identical bottlenecks in its third stage; an explorer meets the same blocks again each time a
slider moves back. ``BlockReplay`` runs a block once per signature and input shape and copies its rows, under
their own names, for its twins. ``BlockMemory`` keeps those runs from one summary to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from .table import LayerRow
from .tensors import shares_memory_with

if TYPE_CHECKING:
    from .forward import LayerRecorder


class BlockMemory:
    """The blocks ``summarize`` has run, by signature and input shape, to replay their twins (``BlockReplay``).

    A signature names the block's class object and its plain attributes, so a class defined again (its cell run
    again) is a new signature. Keep one memory for the life of one explorer, not longer: a block whose forward
    reads a global variable would not see the global change.
    """

    def __init__(self):
        self.signatures: dict[tuple, int] = {}
        self.records: dict[tuple, _BlockRecord] = {}


@dataclass(frozen=True)
class _BlockRecord:
    """What one run of a block left: its rows (names relative to the block), FLOPs and output."""

    rows: tuple[tuple[str, LayerRow], ...]
    flops: int
    output_shape: torch.Size
    output_dtype: torch.dtype
    last_leaf: str | None  # relative name of the last leaf that finished, for ForwardTrace's messages
    last_map: tuple[int, ...] | None


class BlockReplay:
    """Runs a block once per signature and input shape; its twins' rows are copies of the first run's, renamed.

    Two blocks are twins when they have the same signature: the same class, the same plain attributes (a stride,
    a flag), the same parameter and buffer shapes, and twin children in the same order. A block is replayed only
    on the meta device, with one tensor in and a new tensor out, when none of its modules has run before (a shared
    module's parameters count once) and none has hooks of its own or a patched ``forward``. Anything else runs as
    usual, so the replay changes the time a summary takes, never its numbers
    (tests/test_summary.py compares every course model with and without it).
    """

    _MODULE_INTERNALS = frozenset(vars(nn.Module()))  # nn.Module's own bookkeeping, the same for every module

    def __init__(self, recorder: LayerRecorder, memory: BlockMemory):
        self.recorder = recorder
        self.memory = memory
        self.installed: list[nn.Module] = []

    def install(self) -> None:
        """Wrap the forward of every block (a module with children, below the model) that has a signature."""
        memo: dict[nn.Module, int | None] = {}
        _signature(self.recorder.model, self.memory.signatures, memo)
        for module, signature in memo.items():
            if signature is not None and module is not self.recorder.model and module._modules:
                # straight into the instance's __dict__: nn.Module.__setattr__ is slow, and forward is no submodule
                vars(module)["forward"] = self._replaying(module, signature, module.forward)
                self.installed.append(module)

    def remove(self) -> None:
        for module in self.installed:
            del vars(module)["forward"]  # the class's forward shows through again
        self.installed.clear()

    def _replaying(self, block: nn.Module, signature: int, forward):
        recorder = self.recorder
        leaves: list[frozenset[int]] = []  # the block's leaves, found on its first call

        def leaf_ids() -> frozenset[int]:
            if not leaves:
                leaves.append(_leaf_ids(block))
            return leaves[0]

        def run(*args, **kwargs):
            x = args[0] if len(args) == 1 and not kwargs else None
            if not isinstance(x, torch.Tensor) or not x.is_meta:
                return forward(*args, **kwargs)
            if not recorder.called.isdisjoint(leaf_ids()):
                return forward(*args, **kwargs)
            key = (signature, tuple(x.shape), x.dtype)
            record = self.memory.records.get(key)
            if record is None:
                return self._run_and_record(block, key, forward, x)
            return self._replay(block, record)

        return run

    def _run_and_record(self, block: nn.Module, key: tuple, forward, x: torch.Tensor):
        recorder = self.recorder
        first_row, flops_before = len(recorder.rows), recorder.counter.flops
        output = forward(x)
        if not isinstance(output, torch.Tensor) or not output.is_meta or shares_memory_with(output, [x]):
            return output  # replayed, it could not be told apart from a new tensor: never replay it
        prefix = f"{recorder.names.get(block)}."
        rows = recorder.rows[first_row:]
        if not all(row.name.startswith(prefix) for row in rows):
            return output  # a module outside the block ran inside it: the names would not carry over
        last = recorder.last_finished
        last_leaf = recorder.names.get(last[0], "")[len(prefix) :] if last and rows else None
        self.memory.records[key] = _BlockRecord(
            rows=tuple((row.name[len(prefix) :], row) for row in rows),
            flops=recorder.counter.flops - flops_before,
            output_shape=output.shape,
            output_dtype=output.dtype,
            last_leaf=last_leaf,
            last_map=recorder.last_map,
        )
        return output

    def _replay(self, block: nn.Module, record: _BlockRecord) -> torch.Tensor:
        recorder = self.recorder
        prefix = f"{recorder.names.get(block)}."
        recorder.rows.extend(
            LayerRow(
                prefix + relative, r.kind, r.config, r.output_shape, r.params, r.macs, r.activation_bytes
            )
            for relative, r in record.rows
        )
        recorder.counter.flops += record.flops
        modules = _modules_by_relative_name(block, prefix, recorder.modules_by_name, record)
        recorder.called.update(id(modules[relative]) for relative, _ in record.rows if relative in modules)
        if record.last_leaf in modules:
            recorder.last_finished = (modules[record.last_leaf], record.rows[-1][1].output_shape)
            recorder.last_map = record.last_map
        return torch.empty(record.output_shape, dtype=record.output_dtype, device="meta")


def _leaf_ids(block: nn.Module) -> frozenset[int]:
    """The ids of the leaf modules below ``block`` (as ``ForwardTrace`` counts leaves), each once.

    A loop over ``_modules``, not ``block.modules()``: that generator nests one level per depth, and a summary
    asks this of every block, stages and the blocks inside them alike.
    """
    found: set[int] = set()
    seen: set[int] = set()
    stack = [block]
    while stack:
        module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        children = [child for child in module._modules.values() if child is not None]
        if children:
            stack.extend(children)
        else:
            found.add(id(module))
    return frozenset(found)


def _modules_by_relative_name(
    block: nn.Module, prefix: str, modules_by_name: dict[str, nn.Module], record: _BlockRecord
) -> dict[str, nn.Module]:
    """{name relative to ``block``: module} for the modules a record names, looked up by their full names.

    A module met earlier under another name (shared) has no full name here under this block: then the block's
    own ``named_modules`` answers, as it always did.
    """
    wanted = [relative for relative, _ in record.rows]
    if record.last_leaf is not None:
        wanted.append(record.last_leaf)
    found = {relative: modules_by_name.get(prefix + relative) for relative in wanted}
    if None in found.values():
        return dict(block.named_modules())
    return found


def _signature(
    module: nn.Module, interned: dict[tuple, int], memo: dict[nn.Module, int | None]
) -> int | None:
    """A small int shared by twin modules (see ``BlockReplay``), or None for a module that is never replayed.

    Children's signatures are interned first, so a block's key holds ints, not its whole subtree.
    """
    if module in memo:
        return memo[module]
    memo[module] = None  # a module that contains itself is never replayed
    children = [
        (name, None if child is None else _signature(child, interned, memo))
        for name, child in module._modules.items()
    ]
    own = _plain_attributes(module)
    plain = (
        own is not None
        and all(child is not None or module._modules[name] is None for name, child in children)
        and not module._forward_hooks
        and not module._forward_pre_hooks
        and "forward" not in vars(module)
    )
    if not plain:
        return None
    key = (
        type(module),
        own,
        tuple(children),
        tuple(
            (name, None if p is None else (tuple(p.shape), p.dtype, p.requires_grad))
            for name, p in module._parameters.items()
        ),
        tuple(
            (name, None if b is None else (tuple(b.shape), b.dtype)) for name, b in module._buffers.items()
        ),
    )
    memo[module] = interned.setdefault(key, len(interned))
    return memo[module]


_NOT_PLAIN = object()


def _plain_attributes(module: nn.Module) -> tuple | None:
    """(name, value) of the attributes a forward may read (stride, flags), or None when one is not plain data."""
    attributes = vars(module)
    names = attributes.keys() - BlockReplay._MODULE_INTERNALS
    items = []
    for name in sorted(names):
        value = _plain(attributes[name])
        if value is _NOT_PLAIN:
            return None
        items.append((name, value))
    return tuple(items)


_SCALARS = frozenset({bool, int, float, str, type(None), torch.dtype, torch.device})


def _plain(value):
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple or kind is list:
        items = tuple(map(_plain, value))
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else (kind, items)
    if callable(value) and not isinstance(value, (torch.Tensor, nn.Module)):
        try:
            hash(value)
        except TypeError:
            return _NOT_PLAIN
        return value  # a function: the same object in twins
    return _NOT_PLAIN
