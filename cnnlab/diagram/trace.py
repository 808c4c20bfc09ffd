"""Which layer feeds which: one forward pass on the meta device, watched through torch's own extension points.

Global module forward hooks see every module call (a leaf becomes a node, a parent opens and closes a block), and
a ``TorchFunctionMode`` sees what a forward does between them: ``torch.cat`` and ``+`` between two activations
become nodes of their own (the Inception module's concatenation, ResNet's addition), and a reshape or a
functional activation passes its input's producer on. Nothing of torch is replaced; the model's own
parameters are swapped for meta copies while the pass lasts, and the very same tensors are put back.

A run of identical blocks in an ``nn.Sequential`` (ResNet-101's 22 twin blocks of its third stage) is traced through
its first block alone: the diagram draws the run once, as that block ×N, and the blocks after it would only repeat
its graph. While the pass lasts, the Sequential holds that block in place of the run (its ``_modules``, put back
after); the block is then known to stand for N (``BlockCall.stands_for``). Where that is not sure to draw the same
diagram (the block changes the shape, or the pass fails), the model is traced again in full.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..summary.forward import meta_weights

__all__ = ["BlockCall", "OpCall", "Trace", "trace_forward"]

# Ops that combine two activations into one, by the name the diagram gives them
_COMBINING = {
    "add": "add",
    "add_": "add",
    "__add__": "add",
    "__iadd__": "add",
    "__radd__": "add",
    "cat": "cat",
    "concat": "cat",
    "concatenate": "cat",
    "stack": "cat",
    "mul": "mul",
    "mul_": "mul",
    "__mul__": "mul",
    "__imul__": "mul",
    "__rmul__": "mul",
}


@dataclass
class OpCall:
    """One node of the traced graph: the input, a leaf module's call, or an op that combined activations."""

    index: int
    kind: str  # "input", a module class name ("Conv2d"), "add", "cat", "mul", or "error"
    name: str  # the module's path; for an op, its block's path and the op ("layer1.0/add")
    module: nn.Module | None
    block: int | None  # index of the innermost block call it ran in (None: the model itself)
    inputs: list[
        tuple[int, tuple[int, ...]]
    ]  # (producer index, shape of the tensor it passed), batch dropped
    shape: tuple[int, ...] | None  # output shape without the batch axis; None when the call failed
    leaf_call: int | None = None  # the how-many-th leaf call this is (to match the summary's rows)


@dataclass
class BlockCall:
    """One call of a module that has children (a block, a stage), below the model itself."""

    index: int
    name: str
    module: nn.Module
    parent: int | None
    inputs: list[int]  # producer indices of its tensor arguments
    input_shapes: tuple[tuple[int, ...], ...]
    nodes: list[int] = field(default_factory=list)  # nodes that ran directly in it (not in a child block)
    children: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)  # producers of what it returned
    output_shapes: tuple[tuple[int, ...], ...] = ()
    signature: object = None  # what makes two calls identical; None: the module's structure decides
    kind: str = ""  # the block's class name
    stands_for: int = 1  # the identical blocks in a row this call was traced for (see _shortened_runs)


@dataclass
class Trace:
    nodes: list[OpCall]
    blocks: list[BlockCall]
    top_nodes: list[int]  # nodes that ran in the model's own forward
    top_blocks: list[int]
    outputs: list[int]  # producers of the model's output
    output_shapes: tuple[tuple[int, ...], ...]
    failed: int | None  # index of the node whose call raised
    error: BaseException | None


class _Tracer(TorchFunctionMode):
    """Records producers of tensors; runs inside the model's forward only through the hooks it installs."""

    def __init__(self, model: nn.Module, known_shapes: dict[str, list[tuple[int, ...]]] | None = None):
        super().__init__()
        self.model = model
        # {layer name: output shape of each call}, from the summary: a conv's or linear's output is taken from
        # there instead of computed again by its meta kernel (a Python function, most of a ResNet's trace)
        self.known_shapes = {name: list(reversed(shapes)) for name, shapes in (known_shapes or {}).items()}
        self._answer: tuple[type, tuple[int, ...]] | None = None
        self.names = {module: name for name, module in model.named_modules()}
        self.leaves = {id(m) for m in self.names if not m._modules}
        self.nodes: list[OpCall] = []
        self.blocks: list[BlockCall] = []
        self.producer: dict[int, int] = {}  # id(tensor) -> node index
        self._alive: list[torch.Tensor] = []  # every tensor mapped, so that no id is reused while tracing
        self._open_blocks: list[int] = []
        self._open_leaf: list[tuple[nn.Module, list]] = []
        self._leaf_calls = 0
        self.top_nodes: list[int] = []
        self.top_blocks: list[int] = []
        # the model's own call opens no box; a model that is one layer (nn.Conv2d) is that layer's node
        self._skipped = model if model._modules else None

    # --- producers -------------------------------------------------------------------------------
    def _mark(self, output, index: int) -> None:
        for tensor in _tensors(output):
            self.producer[id(tensor)] = index
            self._alive.append(tensor)

    def _sources(self, tensors) -> list[tuple[int, tuple[int, ...]]]:
        sources, seen = [], set()
        for tensor in tensors:
            index = self.producer.get(id(tensor))
            if index is not None and index not in seen:
                seen.add(index)
                sources.append((index, tuple(tensor.shape[1:])))
        return sources

    def _add_node(self, kind, name, module, inputs, shape, leaf_call=None) -> int:
        block = self._open_blocks[-1] if self._open_blocks else None
        node = OpCall(len(self.nodes), kind, name, module, block, inputs, shape, leaf_call)
        self.nodes.append(node)
        (self.blocks[block].nodes if block is not None else self.top_nodes).append(node.index)
        return node.index

    def add_input(self, x: torch.Tensor) -> None:
        index = self._add_node("input", "input", None, [], tuple(x.shape[1:]))
        self._mark(x, index)

    # --- module hooks ----------------------------------------------------------------------------
    def before(self, module, args) -> None:
        if module is self._skipped or module not in self.names:
            return
        tensors = _tensors(args)
        if id(module) in self.leaves:
            self._open_leaf.append((module, tensors))
            shapes = self.known_shapes.get(self.names[module] or type(module).__name__)
            known = shapes.pop() if shapes else None
            op = _ONE_OP_LAYERS.get(type(module))
            self._answer = (op, known) if op is not None and known is not None and tensors else None
            return
        parent = self._open_blocks[-1] if self._open_blocks else None
        call = BlockCall(
            len(self.blocks),
            self.names[module],
            module,
            parent,
            [i for i, _ in self._sources(tensors)],
            tuple(tuple(t.shape[1:]) for t in tensors),
            kind=type(module).__name__,
        )
        self.blocks.append(call)
        (self.blocks[parent].children if parent is not None else self.top_blocks).append(call.index)
        self._open_blocks.append(call.index)

    def after(self, module, args, output) -> None:
        if module is self._skipped or module not in self.names:
            return
        if id(module) in self.leaves:
            _, tensors = self._open_leaf.pop()
            self._answer = None  # unused if the layer never called its op: no later call may take it
            first = _first_tensor(output)
            index = self._add_node(
                type(module).__name__,
                self.names[module] or type(module).__name__,
                module,
                self._sources(tensors),
                tuple(first.shape[1:]) if first is not None else (),
                self._leaf_calls,
            )
            self._leaf_calls += 1
            self._mark(output, index)
            return
        call = self.blocks[self._open_blocks.pop()]
        outputs = _tensors(output)
        call.outputs = [i for i, _ in self._sources(outputs)]
        call.output_shapes = tuple(tuple(t.shape[1:]) for t in outputs)

    def fail(self) -> int:
        """The node of the leaf that raised, or an 'error' node after the last one when the forward code did."""
        if self._open_leaf:
            module, tensors = self._open_leaf[-1]
            name = self.names[module] or type(module).__name__
            return self._add_node(type(module).__name__, name, module, self._sources(tensors), None)
        block = self._open_blocks[-1] if self._open_blocks else None
        where = self.blocks[block].name if block is not None else ""
        last = [(len(self.nodes) - 1, self.nodes[-1].shape or ())] if self.nodes else []
        return self._add_node("error", f"{where}/forward" if where else "forward", None, last, None)

    # --- ops between layers ----------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shortcut = _SHAPE_ONLY.get(func)
        answer = self._answer
        if answer is not None and func is answer[0] and _meta_args(args):
            self._answer = None  # the layer's one op: its output shape is the summary's
            output = torch.empty((args[0].shape[0], *answer[1]), dtype=args[0].dtype, device="meta")
        elif shortcut is not None and _meta_args(args):
            output = shortcut(*args, **kwargs)  # the same shape, without the meta decomposition
        else:
            output = func(*args, **kwargs)
        if self._open_leaf or not isinstance(output, (torch.Tensor, tuple, list)):
            return output  # inside a layer the layer's own node stands for it; a size query is no activation
        outputs = _tensors(output)
        if not outputs:
            return output
        sources = self._sources(_tensors(args) + _tensors(kwargs) if kwargs else _tensors(args))
        if not sources:
            return output
        op = _COMBINING.get(getattr(func, "__name__", ""))
        if op is not None and len(sources) >= 2:
            block = self._open_blocks[-1] if self._open_blocks else None
            prefix = self.blocks[block].name if block is not None else ""
            index = self._add_node(op, f"{prefix}/{op}", None, sources, tuple(outputs[0].shape[1:]))
            self._mark(output, index)
        else:
            self._mark(output, sources[0][0])  # a reshape, a functional ReLU: the same activation flows on
        return output


def _like(tensor: torch.Tensor) -> torch.Tensor:
    """A new meta tensor of ``tensor``'s shape and dtype (``empty_like`` is a slow Python reference on meta)."""
    return torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")


def _meta_batch_norm(input, running_mean, running_var, weight=None, bias=None, *args, **kwargs):
    channels = (input.shape[1],) if input.dim() > 1 else None
    if all(t is None or tuple(t.shape) == channels for t in (running_mean, running_var, weight, bias)):
        return _like(input)
    return F.batch_norm(input, running_mean, running_var, weight, bias, *args, **kwargs)  # raises as usual


def _meta_relu(input, inplace=False):
    return input if inplace else _like(input)


def _meta_add(input, other, *args, **kwargs):
    """A sum of two activations of one shape (ResNet's shortcut) has that shape; anything else adds as usual."""
    if isinstance(other, torch.Tensor) and other.shape == input.shape and other.dtype == input.dtype:
        return _like(input)
    return torch.add(input, other, *args, **kwargs)


def _meta_add_in_place(input, other, *args, **kwargs):
    if isinstance(other, torch.Tensor) and other.shape == input.shape and other.dtype == input.dtype:
        return input
    return input.add_(other, *args, **kwargs)


# On the meta device, batch norm, ReLU and addition are Python decompositions that run op by op, most of a
# forward's time; they keep their input's shape, so the trace answers them at once (the graph is the same).
_SHAPE_ONLY = {
    F.batch_norm: _meta_batch_norm,
    F.relu: _meta_relu,
    torch.relu: _meta_relu,
    torch.add: _meta_add,
    torch.Tensor.add: _meta_add,
    torch.Tensor.__add__: _meta_add,
    torch.Tensor.__radd__: _meta_add,
    torch.Tensor.add_: _meta_add_in_place,
    torch.Tensor.__iadd__: _meta_add_in_place,
}


# Layers whose forward is one op on their input, that op, and nothing else of note: nn.Conv2d (after a pad for
# padding modes other than zeros, which runs as usual) and nn.Linear.
_ONE_OP_LAYERS = {nn.Conv2d: torch.conv2d, nn.Linear: F.linear}


def _meta_args(args) -> bool:
    return len(args) >= 1 and isinstance(args[0], torch.Tensor) and args[0].is_meta


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    elif not isinstance(value, (tuple, list)):
        return []
    found = []
    for item in value:
        if isinstance(item, torch.Tensor):
            found.append(item)
        elif isinstance(item, (tuple, list, dict)):
            found += _tensors(item)
    return found


def _first_tensor(value) -> torch.Tensor | None:
    tensors = _tensors(value)
    return tensors[0] if tensors else None


def structure(module: nn.Module) -> tuple:
    """What makes two blocks identical: every submodule's path, class, settings and parameter shapes."""
    return tuple(
        (
            name,
            type(m),
            m.extra_repr(),
            tuple((k, tuple(p.shape)) for k, p in m._parameters.items() if p is not None),
        )
        for name, m in module.named_modules()
    )


def _hooked(module: nn.Module) -> bool:
    """A hook may read or change what a block computes: such a block is traced as it is."""
    return any(
        m._forward_hooks or m._forward_pre_hooks or getattr(m, "_forward_hooks_with_kwargs", None)
        for m in module.modules()
    )


@contextmanager
def _shortened_runs(model: nn.Module, structures: dict[int, tuple]):
    """Every run of 2 or more identical blocks in an ``nn.Sequential`` (of the Sequential's own forward, no hook)
    replaced by its first block while the context lasts; yields {id(that block): the run's length}."""
    stands_for: dict[int, int] = {}
    replaced: list[tuple[nn.Module, dict]] = []

    def key(module: nn.Module) -> tuple:
        if id(module) not in structures:
            structures[id(module)] = structure(module)
        return (type(module), structures[id(module)])

    try:
        for container in list(model.modules()):
            if type(container).forward is not nn.Sequential.forward or len(container._modules) < 2:
                continue
            items = [(name, m) for name, m in container._modules.items() if m is not None]
            kept, i = [], 0
            while i < len(items):
                first = items[i][1]
                j = i + 1
                if first._modules and not _hooked(first):  # a block, not a layer
                    while j < len(items) and items[j][1]._modules and not _hooked(items[j][1]):
                        if key(items[j][1]) != key(first):
                            break
                        j += 1
                kept.append(items[i])
                if j - i > 1 and id(first) not in stands_for:
                    stands_for[id(first)] = j - i
                else:
                    kept += items[i + 1 : j]
                i = j
            if len(kept) < len(items):
                replaced.append((container, container._modules))
                container._modules = dict(kept)
        yield stands_for
    finally:
        for container, modules in reversed(replaced):
            container._modules = modules


def trace_forward(
    model: nn.Module,
    input_shape: tuple[int, ...],
    known_shapes: dict[str, list[tuple[int, ...]]] | None = None,
    *,
    training: bool = False,
    whole: bool = False,
) -> Trace:
    """The graph of one forward pass of a batch of one ``input_shape`` image, on the meta device.

    ``known_shapes``: {layer name: its output shape at each call}, from the model's summary at this input.
    ``training``: trace the forward of training mode (layers that run only in training are drawn), not eval's.
    A run of identical blocks in an ``nn.Sequential`` is traced through its first block, which stands for the run
    (``BlockCall.stands_for``); ``whole=True`` traces every block.
    """
    if whole:
        return _trace(model, input_shape, known_shapes, training)
    structures: dict[int, tuple] = {}
    with _shortened_runs(model, structures) as stands_for:
        trace = _trace(model, input_shape, known_shapes, training)
    if not stands_for:
        return trace
    calls = {}
    for call in trace.blocks:
        if id(call.module) in stands_for:
            calls.setdefault(id(call.module), []).append(call)
    # the run's first block must hand its own shape on (then each twin does the same) and be called once
    holds = trace.failed is None and all(
        len(found) == 1 and len(found[0].outputs) == 1 and found[0].input_shapes == found[0].output_shapes
        for found in calls.values()
    )
    if not holds or len(calls) != len(stands_for):
        return _trace(model, input_shape, known_shapes, training)
    for call in trace.blocks:
        call.stands_for = stands_for.get(id(call.module), 1)
        if id(call.module) in structures:  # computed already: the graph compares blocks by it
            call.signature = (type(call.module), structures[id(call.module)])
    return trace


def _trace(model: nn.Module, input_shape: tuple[int, ...], known_shapes, training: bool = False) -> Trace:
    tracer = _Tracer(model, known_shapes)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    x = torch.empty((1, *input_shape), dtype=dtype, device="meta")
    tracer.add_input(x)
    modes = {m: m.training for m in model.modules()}
    # eval by default: batch statistics of one image are undefined, dropout is the identity. In training mode
    # batch norm is answered by its shape alone, and its running statistics are the meta copies' (see below)
    model.train(training)
    hooks = [
        nn.modules.module.register_module_forward_pre_hook(tracer.before),
        nn.modules.module.register_module_forward_hook(tracer.after),
    ]
    failed, error, output = None, None, None
    try:
        with meta_weights(model), torch.no_grad(), tracer:
            output = model(x)
    except Exception as raised:  # the net cannot run: the diagram stops at the layer that raised
        failed, error = tracer.fail(), raised
    finally:
        for handle in hooks:
            handle.remove()
        for module, flag in modes.items():
            vars(module)["training"] = flag  # a plain attribute: put back without __setattr__
    outputs = _tensors(output)
    return Trace(
        nodes=tracer.nodes,
        blocks=tracer.blocks,
        top_nodes=tracer.top_nodes,
        top_blocks=tracer.top_blocks,
        outputs=[i for i, _ in tracer._sources(outputs)],
        output_shapes=tuple(tuple(t.shape[1:]) for t in outputs),
        failed=failed,
        error=error,
    )
