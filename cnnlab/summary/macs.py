"""MACs of a forward pass, from torch's own FLOP formulas (one multiply-accumulate = two FLOPs).

``MacCounter`` is a small dispatch mode over the registry of ``torch.utils.flop_counter``, not hand-written
per-layer formulas, so any op torch can count is counted, wherever it runs. (``FlopCounterMode`` itself also
tracks every module's parents, which ``summarize``'s hooks already know, at a cost an explorer notices.)
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def _batch_norm_shape(input, weight, bias, running_mean, running_var, *args, **kwargs):
    """``native_batch_norm`` on the meta device: the normalised output and the two per-channel statistics.

    None (run the op) for a tensor with data, and for statistics whose size does not fit the input, which the
    op itself refuses as before.
    """
    if not input.is_meta or input.dim() < 2:
        return None
    channels = (input.shape[1],)
    if any(t is not None and tuple(t.shape) != channels for t in (weight, bias, running_mean, running_var)):
        return None
    return torch.empty_like(input), input.new_empty(channels), input.new_empty(channels)


def _relu_shape(input):
    return torch.empty_like(input) if input.is_meta else None


def _relu_in_place_shape(input):
    return input if input.is_meta else None


class MacCounter(TorchDispatchMode):
    """FLOPs of every op that runs under it, from torch's own formulas (``FlopCounterMode``'s registry).

    It counts what ``FlopCounterMode`` counts, op by op, in the same way: an op without a formula is first
    decomposed, where torch has a decomposition, so that a composite op's matmuls are found.

    Batch norm and ReLU on the meta device skip their meta kernels (``SHAPE_ONLY``): those are Python
    decompositions, about 70% of summarising ResNet-50 (53 batch norms, 49 ReLUs), and their results are only
    a shape, the input's. They hold no MACs, so the count is the same: a new tensor for batch norm and for a
    ReLU that is not in place, the input itself for one that is (the memory convention sees both as before).
    """

    _FORMULAS = FlopCounterMode(display=False).flop_registry
    _DECOMPOSABLE: dict = {}  # op → whether it has a CompositeImplicitAutograd kernel (asked once per op)
    _QUERIES = {  # metadata queries: never counted, never decomposed (as in FlopCounterMode)
        aten.is_contiguous.default,
        aten.is_contiguous.memory_format,
        aten.size.default,
        aten.stride.default,
        aten.storage_offset.default,
        aten.numel.default,
        aten.dim.default,
        torch.ops.prim.layout.default,
        torch.ops.prim.device.default,
    }
    # op → its result on the meta device, worked out from its inputs' shapes (None: run the op itself)
    SHAPE_ONLY = {
        aten.native_batch_norm.default: _batch_norm_shape,
        aten.relu.default: _relu_shape,
        aten.relu_.default: _relu_in_place_shape,
    }

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shape_only = self.SHAPE_ONLY.get(func)
        if shape_only is not None:
            result = shape_only(*args, **kwargs)
            if result is not None:
                return result
        formula = self._FORMULAS.get(func._overloadpacket)
        if formula is None and func not in self._QUERIES and self._decomposable(func):
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        out = func(*args, **kwargs)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out

    @classmethod
    def _decomposable(cls, func) -> bool:
        known = cls._DECOMPOSABLE.get(func)
        if known is None:
            key = torch._C.DispatchKey.CompositeImplicitAutograd
            known = key in func.py_kernels or torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), key)
            cls._DECOMPOSABLE[func] = known
        return known
