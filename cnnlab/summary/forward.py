"""``summarize``: one forward pass on PyTorch's *meta* device, recorded layer by layer into a ``Summary``.

The meta device tracks shapes and dtypes but holds no data, so summarising VGG-16 at 224×224 costs milliseconds
and allocates no weights. Hooks on the leaf modules record one row per call; ``MacCounter`` counts the MACs;
``BlockReplay`` replays repeated blocks; ``ForwardTrace`` turns a failure into a sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import ConfigError
from .macs import MacCounter
from .messages import ForwardTrace
from .replay import BlockMemory, BlockReplay
from .table import NO_OWN_MEMORY, LayerRow, Summary, describe_config
from .tensors import first_tensor, output_tensors, shares_memory_with


def parse_input_shape(input_shape) -> tuple[int, int, int]:
    """(C, H, W) from (C, H, W), or from (H, W) / an int size for 3-channel images."""
    if isinstance(input_shape, int):
        input_shape = (3, input_shape, input_shape)
    try:
        dims = tuple(int(d) for d in input_shape)
        valid = all(d == d0 for d, d0 in zip(dims, input_shape)) and len(dims) in (2, 3)
    except (TypeError, ValueError):
        valid = False
    if not valid or any(d < 1 for d in dims):
        raise ConfigError(
            f"input_shape should be (channels, height, width) of one image, such as (3, 32, 32); "
            f"got {input_shape!r}"
        )
    return dims if len(dims) == 3 else (3, *dims)


def summarize(
    model: nn.Module, input_shape=(3, 32, 32), *, batch_size: int = 1, blocks: BlockMemory | None = None
) -> Summary:
    """Run one forward pass on the meta device and tabulate every layer it called.

    ``input_shape`` is (C, H, W) of one image. MACs and memory are per forward pass of
    ``batch_size`` images. Parameters are the exact sum of ``numel`` over ``model.parameters()``.
    ``blocks`` carries the runs of repeated blocks from one summary to the next (an explorer keeps one for
    its life, so a block met in an earlier configuration is replayed, not run); without it, only blocks
    repeated within this model are.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"summarize() needs a torch nn.Module; got {type(model).__name__}")
    shape = parse_input_shape(input_shape)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size should be a positive int; got {batch_size!r}")

    counter = MacCounter()
    recorder = LayerRecorder(model, shape, counter, blocks if blocks is not None else BlockMemory())
    modules = (
        recorder.names
    )  # every module once, in model.modules()'s order: walked once, not for each question
    # model.parameters(), a shared parameter once
    params = list({id(p): p for m in modules for p in m._parameters.values() if p is not None}.values())
    training_flags = {m: m.training for m in modules}
    model.eval()  # batch statistics of one image are undefined; dropout is identity in eval
    try:
        with recorder, counter, torch.no_grad():
            output = _forward_on_meta(model, (batch_size, *shape), params, modules)
    except ConfigError:
        raise
    except Exception as error:  # the student's model broke: say where, in a sentence
        raise ConfigError(recorder.explain(error)) from error
    finally:
        for module, flag in training_flags.items():
            vars(module)["training"] = flag  # a plain attribute: put back as it was, without __setattr__

    rows = recorder.rows
    total_macs = counter.flops // 2
    unattributed = total_macs - sum(r.macs for r in rows)
    if unattributed:  # e.g. a matmul written in a parent module's forward
        rows.append(LayerRow("(functional ops)", "", "", (), 0, unattributed, 0))
    own_params = recorder.params_outside_leaves(params)
    if own_params:
        rows.append(LayerRow("(other parameters)", "", "", (), own_params, 0, 0))

    first_output = first_tensor(output)
    return Summary(
        model_name=type(model).__name__,
        input_shape=shape,
        batch_size=batch_size,
        rows=tuple(rows),
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=total_macs,
        activation_bytes=sum(r.activation_bytes for r in rows),
        input_bytes=batch_size * shape[0] * shape[1] * shape[2] * 4,
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        output_shape=tuple(first_output.shape[1:]) if first_output is not None else (),
    )


def _forward_on_meta(model: nn.Module, batch_shape: tuple[int, ...], params: list[torch.Tensor], modules):
    """The forward pass with meta copies of the weights, so the model itself is never touched."""
    dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)
    x = torch.empty(batch_shape, dtype=dtype, device="meta")
    buffers = (b for m in modules for b in m._buffers.values() if b is not None)
    if all(p.is_meta for p in params) and all(b.is_meta for b in buffers):
        return model(x)
    with meta_weights(model):
        return model(x)


@contextmanager
def meta_weights(model: nn.Module):
    """Every parameter and buffer swapped for a meta copy, and the very same tensors put back afterwards.

    Also the diagram's tracer runs its forward pass inside it, so the diagram never touches the weights either.

    A tensor shared by two modules gets one copy, so the weights stay tied. (``torch.func.functional_call`` was
    used before, and left a module that appears twice in a model holding its meta copies.)
    """
    copies: dict[int, torch.Tensor] = {}
    swapped: list[tuple[dict, str, torch.Tensor]] = []
    try:
        for module in model.modules():
            for store in (module._parameters, module._buffers):
                for name, tensor in store.items():
                    if tensor is None or tensor.is_meta:
                        continue
                    copy = copies.get(id(tensor))
                    if copy is None:
                        copy = torch.empty_like(tensor, device="meta")
                        if isinstance(tensor, nn.Parameter):
                            copy = nn.Parameter(copy, requires_grad=tensor.requires_grad)
                        copies[id(tensor)] = copy
                    swapped.append((store, name, tensor))
                    store[name] = copy
        yield
    finally:
        for store, name, tensor in swapped:
            store[name] = tensor


class LayerRecorder(ForwardTrace):
    """Forward hooks on the leaf modules that record one LayerRow per call; repeated blocks are replayed."""

    def __init__(
        self, model: nn.Module, input_shape: Sequence[int], counter: MacCounter, blocks: BlockMemory
    ):
        super().__init__(model, input_shape)
        self.counter = counter
        self.rows: list[LayerRow] = []
        self._flops_before: list[int] = []
        self.called: set[int] = set()
        self._replay = BlockReplay(self, blocks)

    def __enter__(self) -> LayerRecorder:
        self._replay.install()  # first: it looks for hooks of the model's own, before ours are added
        return super().__enter__()

    def __exit__(self, *exc) -> bool:
        self._replay.remove()
        return super().__exit__(*exc)

    def _before(self, module, args) -> None:
        super()._before(module, args)
        self._flops_before.append(self.counter.flops)

    def _after(self, module, args, output) -> None:
        inputs = self._open[-1][1]
        super()._after(module, args, output)
        flops_before = self._flops_before.pop()
        first_call = id(module) not in self.called
        self.called.add(id(module))
        if isinstance(module, NO_OWN_MEMORY):
            own_bytes = 0
        else:
            new_outputs = [t for t in output_tensors(output) if not shares_memory_with(t, inputs)]
            own_bytes = sum(t.numel() * t.element_size() for t in new_outputs)
        first = first_tensor(output)
        self.rows.append(
            LayerRow(
                name=self.names.get(module) or type(module).__name__,
                kind=type(module).__name__,
                config=describe_config(module),
                output_shape=tuple(first.shape[1:]) if first is not None else (),
                params=sum(p.numel() for p in _own_parameters(module)) if first_call else 0,
                macs=(self.counter.flops - flops_before) // 2,
                activation_bytes=own_bytes,
            )
        )

    def params_outside_leaves(self, params: list[torch.Tensor]) -> int:
        """Of the model's ``params``, those that no called leaf owns: held by a parent, or by a leaf never called."""
        counted = {
            id(p)
            for m in self.leaves
            if id(m) in self.called
            for p in m._parameters.values()
            if p is not None
        }
        return sum(p.numel() for p in params if id(p) not in counted)


def _own_parameters(leaf: nn.Module) -> list[torch.Tensor]:
    """``leaf.parameters()`` of a module without children, read from its own store: each tensor once."""
    return list({id(p): p for p in leaf._parameters.values() if p is not None}.values())
