"""A per-layer table of any ``nn.Module``: output shapes, parameters, MACs and activation memory.

The forward pass runs on PyTorch's *meta* device, which tracks shapes and dtypes but holds no data,
so summarising VGG-16 at 224×224 costs milliseconds and allocates no weights. MACs come from torch's own
FLOP formulas, the registry of ``torch.utils.flop_counter`` (one multiply-accumulate = two FLOPs), not from
hand-written per-layer formulas, so any op torch can count is counted, wherever it runs.

Two things keep an explorer's update fast on deep nets. The counter is a small dispatch mode over that registry
(``FlopCounterMode`` also tracks every module's parents, which the hooks here already know). And a block that
repeats one already run, with the same structure and input shape (ResNet-101 runs 23 identical bottlenecks in
its third stage), is not run again: its rows are replayed under its own name (``_BlockReplay``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from . import fmt
from .errors import ConfigError

__all__ = [
    "MEMORY_CONVENTION",
    "BlockMemory",
    "ForwardTrace",
    "LayerRow",
    "Summary",
    "summarize",
    "parse_input_shape",
]


@dataclass(frozen=True)
class LayerRow:
    """One call of one leaf module during the forward pass."""

    name: str  # the module's path in the model, e.g. "features.0"
    kind: str  # its class name, e.g. "Conv2d"
    config: str  # kernel/stride/padding, or in→out features
    output_shape: tuple[int, ...]  # without the batch axis
    params: int  # counted at the module's first call only, so shared modules count once
    macs: int  # per batch (per image when batch_size is 1)
    activation_bytes: int  # memory of the output this call keeps (0 for activations, dropout, views)


@dataclass(frozen=True)
class Summary:
    """What ``summarize`` measured. Renders as plain text (``print``) and as HTML in Jupyter."""

    model_name: str
    input_shape: tuple[int, ...]  # (C, H, W), without the batch axis
    batch_size: int
    rows: tuple[LayerRow, ...]
    total_params: int
    trainable_params: int
    total_macs: int
    activation_bytes: int  # the sum over rows: forward activations, input excluded
    input_bytes: int
    param_bytes: int
    output_shape: tuple[int, ...]

    def row(self, name: str) -> LayerRow:
        """The first row of the module called ``name`` (e.g. "conv1" or "features.0")."""
        for layer in self.rows:
            if layer.name == name:
                return layer
        known = ", ".join(r.name for r in self.rows[:12])
        raise KeyError(f"no layer named {name!r} in {self.model_name}; the layers are: {known}, ...")

    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """{layer name: output shape} for the first call of every layer."""
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in self.rows:
            shapes.setdefault(layer.name, layer.output_shape)
        return shapes

    # --- rendering -------------------------------------------------------------------------------
    _HEADERS = ("layer", "type", "kernel / features", "output", "params", "MACs", "memory")

    def _cells(self, layer: LayerRow) -> tuple[str, ...]:
        return (
            layer.name,
            layer.kind,
            layer.config,
            fmt.shape(layer.output_shape),
            f"{layer.params:,}",
            fmt.count(layer.macs),
            fmt.num_bytes(layer.activation_bytes),
        )

    def _total_cells(self) -> tuple[str, ...]:
        return (
            "total",
            "",
            "",
            fmt.shape(self.output_shape),
            f"{self.total_params:,}",
            fmt.count(self.total_macs),
            fmt.num_bytes(self.activation_bytes),
        )

    def headline(self) -> str:
        """One line: the totals a student compares against the lecture."""
        return (
            f"{self.model_name} on {fmt.shape(self.input_shape)} input: {self.total_params:,} params "
            f"({fmt.num_bytes(self.param_bytes)}), {self.total_macs:,} MACs ({fmt.count(self.total_macs)}), "
            f"{fmt.num_bytes(self.activation_bytes)} of activations per forward pass"
            + (f" for a batch of {self.batch_size}" if self.batch_size != 1 else "")
        )

    def table_text(self) -> str:
        lines = [self._HEADERS, *(self._cells(r) for r in self.rows), self._total_cells()]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self._HEADERS))]
        numeric = {3, 4, 5, 6}

        def render(cells):
            return "  ".join(
                c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        rule = "-" * len(render(lines[0]))
        body = [render(line) for line in lines[1:-1]]
        return "\n".join(
            [
                render(lines[0]),
                rule,
                *body,
                rule,
                render(lines[-1]),
                "",
                self.headline(),
                MEMORY_CONVENTION + ".",
            ]
        )

    def __str__(self) -> str:
        return self.table_text()

    def _repr_html_(self) -> str:
        return summary_html(self)


_TABLE_STYLE = (
    "<style>.cnnlab-summary td,.cnnlab-summary th{padding:1px 8px;font-family:monospace;white-space:nowrap}"
    ".cnnlab-summary td.n{text-align:right}.cnnlab-summary tr.total td{font-weight:bold;"
    "border-top:1px solid #888}</style>"
)


def summary_html(summary: Summary, highlight: Sequence[str] = ()) -> str:
    """The table as HTML; rows whose layer name is in ``highlight`` are tinted (the explorer marks changes)."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in Summary._HEADERS)
    body = []
    for layer in summary.rows:
        cells = summary._cells(layer)
        tds = "".join(
            f'<td class="n">{esc(c)}</td>' if i >= 3 else f"<td>{esc(c)}</td>" for i, c in enumerate(cells)
        )
        tint = ' style="background:#fff3c4"' if layer.name in highlight else ""
        body.append(f"<tr{tint} title='{layer.macs:,} MACs'>{tds}</tr>")
    total = "".join(
        f'<td class="n">{esc(c)}</td>' if i >= 3 else f"<td>{esc(c)}</td>"
        for i, c in enumerate(summary._total_cells())
    )
    return (
        f"{_TABLE_STYLE}<table class='cnnlab-summary'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        f"<tr class='total'>{total}</tr></tbody></table><p>{esc(summary.headline())}<br>"
        f"<small>{esc(MEMORY_CONVENTION)}.</small></p>"
    )


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

    params = list({id(p): p for p in model.parameters()}.values())  # a shared parameter counts once
    counter = _MacCounter()
    recorder = _LayerRecorder(model, shape, counter, blocks if blocks is not None else BlockMemory())
    training_flags = {m: m.training for m in model.modules()}
    model.eval()  # batch statistics of one image are undefined; dropout is identity in eval
    try:
        with recorder, counter, torch.no_grad(), _shape_only_norms_and_relus():
            output = _forward_on_meta(model, (batch_size, *shape), params)
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

    first_output = _first_tensor(output)
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


class _MacCounter(TorchDispatchMode):
    """FLOPs of every op that runs under it, from torch's own formulas (``FlopCounterMode``'s registry).

    It counts what ``FlopCounterMode`` counts, op by op, in the same way: an op without a formula is first
    decomposed, where torch has a decomposition, so that a composite op's matmuls are found.
    """

    _FORMULAS = FlopCounterMode(display=False).flop_registry
    _DECOMPOSABLE: dict = {}  # op → whether it has a CompositeImplicitAutograd kernel (asked once per op)
    _QUERIES = {  # metadata queries: never counted, never decomposed (as in FlopCounterMode)
        torch.ops.aten.is_contiguous.default,
        torch.ops.aten.is_contiguous.memory_format,
        torch.ops.aten.size.default,
        torch.ops.aten.stride.default,
        torch.ops.aten.storage_offset.default,
        torch.ops.aten.numel.default,
        torch.ops.aten.dim.default,
        torch.ops.prim.layout.default,
        torch.ops.prim.device.default,
    }

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
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


@contextmanager
def _shape_only_norms_and_relus():
    """On the meta device, batch norm and ReLU return an empty tensor of their input's shape at once.

    Their meta kernels are Python decompositions that run op by op under the FLOP counter: about 70% of
    summarising ResNet-50 (53 batch norms, 49 ReLUs). They hold no MACs and keep the input's shape, so
    the summary is the same: a new tensor for batch norm and for a ReLU that is not in place, the input
    itself for one that is (the activation-memory convention sees both as before). Tensors that are not
    on the meta device, and a batch norm whose size does not fit its input, go through the real functions
    (which refuse the misfit as before).
    """
    batch_norm, relu = F.batch_norm, F.relu

    def meta_batch_norm(input, running_mean, running_var, weight=None, bias=None, *args, **kwargs):
        channels = (input.shape[1],) if input.dim() > 1 else None
        statistics = (running_mean, running_var, weight, bias)
        if input.is_meta and all(t is None or tuple(t.shape) == channels for t in statistics):
            return torch.empty_like(input)
        return batch_norm(input, running_mean, running_var, weight, bias, *args, **kwargs)  # raises if wrong

    def meta_relu(input, inplace=False):
        if not input.is_meta:
            return relu(input, inplace)
        return input if inplace else torch.empty_like(input)

    F.batch_norm, F.relu = meta_batch_norm, meta_relu
    try:
        yield
    finally:
        F.batch_norm, F.relu = batch_norm, relu


def _forward_on_meta(model: nn.Module, batch_shape: tuple[int, ...], params: list[torch.Tensor]):
    """The forward pass with meta copies of the weights, so the model itself is never touched."""
    dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)
    x = torch.empty(batch_shape, dtype=dtype, device="meta")
    if all(p.is_meta for p in params) and all(b.is_meta for b in model.buffers()):
        return model(x)
    with _meta_weights(model):
        return model(x)


@contextmanager
def _meta_weights(model: nn.Module):
    """Every parameter and buffer swapped for a meta copy, and the very same tensors put back afterwards.

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


def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((t for t in output if isinstance(t, torch.Tensor)), None)
    if isinstance(output, dict):
        return next((t for t in output.values() if isinstance(t, torch.Tensor)), None)
    return None


def _tensors(output):
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for t in output if isinstance(t, torch.Tensor)]
    if isinstance(output, dict):
        return [t for t in output.values() if isinstance(t, torch.Tensor)]
    return []


def _shares_memory_with(tensor: torch.Tensor, inputs: list[torch.Tensor]) -> bool:
    """True for in-place results and views (ReLU(inplace=True), Flatten): they allocate nothing new."""
    roots = {id(i._base if i._base is not None else i) for i in inputs}
    root = tensor._base if tensor._base is not None else tensor
    return id(root) in roots


def describe_config(module: nn.Module) -> str:
    """The hyper-parameters a student reads off the lecture: '11×11 /4 p2 g2', '9216→4096'."""

    def pair(v):
        v = (v, v) if isinstance(v, int) else tuple(v)
        return f"{v[0]}" if len(set(v)) == 1 else "×".join(map(str, v))

    def size(v):
        v = (v, v) if isinstance(v, int) else tuple(v)
        return "×".join(map(str, v))

    if isinstance(module, nn.modules.conv._ConvNd):
        text = (
            f"{module.in_channels}→{module.out_channels}, {size(module.kernel_size)} /{pair(module.stride)}"
        )
        padding = module.padding if isinstance(module.padding, str) else pair(module.padding)
        text += f" p{padding}"
        if any(d != 1 for d in module.dilation):
            text += f" d{pair(module.dilation)}"
        if module.groups != 1:
            text += f" g{module.groups}"
        return text
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool1d, nn.AvgPool1d)):
        text = f"{size(module.kernel_size)} /{pair(module.stride)}"
        if pair(module.padding) != "0":
            text += f" p{pair(module.padding)}"
        return text + (" ceil" if module.ceil_mode else "")
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return f"→ {size(module.output_size)}"
    if isinstance(module, nn.Linear):
        return f"{module.in_features}→{module.out_features}"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return str(module.num_features)
    if isinstance(module, nn.LocalResponseNorm):
        return f"size {module.size}"
    if isinstance(module, nn.Dropout):
        return f"p={module.p}"
    return ""


# Layers that hold no activation memory of their own in the summary's convention: element-wise activations
# and layers that can run in place (or are views). Whether a student writes ReLU(inplace=True) or ReLU()
# must not change the numbers; the lecture's tables (VGG-16's memory) count conv, pool, norm and FC outputs.
NO_OWN_MEMORY = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Tanh,
    nn.Sigmoid,
    nn.LogSigmoid,
    nn.Softplus,
    nn.Softsign,
    nn.Tanhshrink,
    nn.Threshold,
    nn.modules.dropout._DropoutNd,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
)
MEMORY_CONVENTION = (
    "memory: the output each layer keeps; activations such as ReLU, dropout and flattens count none of "
    "their own, in place or not, as in the lecture's tables"
)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _layer_label(module: nn.Module) -> str:
    config = describe_config(module)
    return f"{type(module).__name__}{' ' + config if config else ''}"


def _size_text(dims) -> str:
    return "×".join(str(int(d)) for d in dims)


def _window_overflow(module: nn.Module, spatial: Sequence[int]) -> str | None:
    """'7×7 kernel is larger than its 5×5 input: ...' when a conv's or pool's window does not fit, else None."""
    nd = len(spatial)

    def per_axis(value):
        if isinstance(value, str):
            return None
        return tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd

    kernel = per_axis(module.kernel_size)
    padding = per_axis(module.padding) if module.padding != "valid" else (0,) * nd
    if padding is None:  # padding="same" never empties a map
        return None
    dilation = per_axis(getattr(module, "dilation", 1) or 1)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    padded = [n + 2 * p for n, p in zip(spatial, padding)]
    if all(room >= span for room, span in zip(padded, spans)):
        return None
    window = "kernel" if isinstance(module, nn.modules.conv._ConvNd) else "window"
    dilated = " (dilated)" if any(d != 1 for d in dilation) else ""
    room = f"{_size_text(spatial)} input"
    if any(padding):
        room += f" (padded to {_size_text(padded)})"
    return f"{_size_text(spans)}{dilated} {window} is larger than its {room}: the output would be empty"


def _possessive(subject: str, rest: str) -> str:
    """'C5's 7×7 kernel ...', or after a parenthesis 'layer '6' (Conv2d ...): its 7×7 kernel ...'."""
    return f"{subject}: its {rest}" if subject.endswith(")") else f"{subject}'s {rest}"


def _refusal(module: nn.Module, x: torch.Tensor | None, subject: str, last_map) -> tuple[str, str] | None:
    """(sentence, hint) saying why ``module`` cannot take ``x``, for the usual mistakes; None otherwise."""
    if x is None:
        return None
    given = _size_text(x.shape[1:])
    if x.dim() >= 2 and 0 in x.shape[1:]:
        return (
            f"the map has already shrunk to nothing ({given}) before {subject}",
            "an earlier layer's kernel, stride or pooling leaves no pixel: (N − F + 2P)/S + 1 at each layer.",
        )
    if isinstance(module, nn.Linear):
        wanted = module.in_features
        if x.dim() >= 3 and x.shape[-1] != wanted:
            flat = x[0].numel()
            return (
                f"{subject} takes {_plural(wanted, 'input feature')}, but its input is a {given} map "
                "that was not flattened",
                f"flatten it first (nn.Flatten() or x.flatten(1)); in_features must then equal channels × "
                f"height × width ({flat:,}).",
            )
        if x.shape[-1] != wanted:
            got = int(x.shape[-1])
            source = f" ({_size_text(last_map)})" if last_map and math.prod(last_map) == got else ""
            hint = (
                "in_features must equal channels × height × width of what comes in."
                if source
                else "in_features must equal the size of what comes in: the out_features of the layer "
                "before, or channels × height × width after a flatten."
            )
            return (
                f"{subject} takes {_plural(wanted, 'input feature')}, but its input has {got:,}{source}",
                hint,
            )
        return None
    spatial_kinds = (
        nn.modules.conv._ConvNd,
        nn.modules.pooling._MaxPoolNd,
        nn.modules.pooling._AvgPoolNd,
        nn.modules.pooling._AdaptiveAvgPoolNd,
        nn.modules.pooling._AdaptiveMaxPoolNd,
    )
    if isinstance(module, spatial_kinds):
        nd = int(type(module).__name__[-2]) if type(module).__name__[-2].isdigit() else 2
        if x.dim() < nd + 1:
            expected = "C×" + "×".join("DHW"[-nd:])
            return (
                f"{subject} takes a {expected} map, but its input is flat ({given})",
                "flatten only where the fully connected layers begin, after the last conv or pool.",
            )
        batched = x.dim() == nd + 2
        channels = int(x.shape[1]) if batched else int(x.shape[0])
        spatial = tuple(int(d) for d in x.shape[-nd:])
        if isinstance(module, nn.modules.conv._ConvNd) and channels != module.in_channels:
            return (
                f"{subject} takes {_plural(module.in_channels, 'input channel')}, but its input has "
                f"{channels:,} ({given})",
                "in_channels must equal the channels of what comes in: the number of filters "
                "(out_channels) of the conv before, or the image's channels for the first layer.",
            )
        if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
            kernel = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
            padding = module.padding if isinstance(module.padding, int) else module.padding[0]
            if padding > kernel // 2:
                return (
                    _possessive(subject, f"padding {padding} is more than half its window {kernel}"),
                    f"PyTorch pads a pooling window by at most half its size ({kernel // 2} here).",
                )
        if not isinstance(
            module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
        ):
            overflow = _window_overflow(module, spatial)
            if overflow:
                return (
                    _possessive(subject, overflow),
                    "the window F must fit in N + 2P: check this layer's kernel size and padding, and whether "
                    "earlier layers (kernel, stride, pooling) shrink the map too much, with (N − F + 2P)/S + 1.",
                )
        return None
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and x.dim() >= 2:
        if int(x.shape[1]) != module.num_features:
            return (
                f"{subject} normalises {_plural(module.num_features, 'channel')}, but its input has "
                f"{int(x.shape[1]):,} ({given})",
                "num_features must equal the channels of what comes in: the out_channels of the conv before.",
            )
    return None


class ForwardTrace:
    """Hooks on a model's leaf modules that know which one is running, to explain a failure in a sentence.

    with ForwardTrace(model, (3, 32, 32)) as trace:
        try:
            model(x)
        except Exception as error:
            sentence = trace.explain(error)
    """

    def __init__(self, model: nn.Module, input_shape: Sequence[int]):
        self.names: dict[nn.Module, str] = {}
        self.leaves: list[nn.Module] = []
        for name, module in model.named_modules():
            self.names[module] = name
            if all(child is None for child in module._modules.values()):
                self.leaves.append(module)
        self.model = model
        self.input_shape = tuple(int(d) for d in input_shape)
        self._open: list[tuple[nn.Module, list]] = []  # leaves whose forward has begun, innermost last
        self._last: tuple[nn.Module, tuple[int, ...]] | None = None  # the last leaf that finished
        self._last_map: tuple[int, ...] | None = self.input_shape if len(self.input_shape) >= 3 else None
        self._handles: list = []

    def __enter__(self) -> ForwardTrace:
        # Two global hooks, not two per leaf: registering hundreds of hooks cost more than a summary's forward
        leaves = {id(module) for module in self.leaves}

        def before(module, args):
            if id(module) in leaves:
                self._before(module, args)

        def after(module, args, output):
            if id(module) in leaves:
                self._after(module, args, output)

        self._handles.append(nn.modules.module.register_module_forward_pre_hook(before))
        self._handles.append(nn.modules.module.register_module_forward_hook(after))
        return self

    def __exit__(self, *exc) -> bool:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        return False

    def _before(self, module, args) -> None:
        self._open.append((module, [t for t in args if isinstance(t, torch.Tensor)]))

    def _after(self, module, args, output) -> None:
        self._open.pop()
        first = _first_tensor(output)
        if first is not None:
            shape = tuple(first.shape[1:])
            self._last = (module, shape)
            if len(shape) >= 3:
                self._last_map = shape

    def _name(self, module: nn.Module) -> str:
        return self.names.get(module) or ""

    def explain(self, error: Exception, what: str | None = None) -> str:
        """A course sentence (with a hint) naming the layer that failed and the shape it was given.

        ``what`` names the model or layer under check ("FC6"); without it the layer is named by its path.
        PyTorch's own text is left out: the sentence says what the layer takes and what came instead.
        """
        if not self._open:
            return self._explain_outside_layers(error, what)
        module, inputs = self._open[-1]
        name = self._name(module)
        label = _layer_label(module)
        if what and not name:
            subject = what
        elif what:
            subject = f"{what}'s layer '{name}' ({label})"
        else:
            subject = f"layer '{name}' ({label})" if name else label
        x = inputs[0] if inputs else None
        refusal = _refusal(module, x, subject, self._last_map)
        if refusal is not None:
            sentence, hint = refusal
            return f"{sentence}. Hint: {hint}"
        given = f"its {_size_text(x.shape[1:])} input" if x is not None else "its input"
        if isinstance(error, RuntimeError):
            return (
                f"{subject} cannot take {given}. Hint: compare this layer's settings with the shape it "
                "receives (print x.shape just before it)."
            )
        return f"{subject} failed on {given}: {type(error).__name__}: {_first_line(error)}"

    def _explain_outside_layers(self, error: Exception, what: str | None) -> str:
        subject = what or type(self.model).__name__
        if self._last is not None:
            module, shape = self._last
            name = self._name(module) or type(module).__name__
            where = f"after layer '{name}' (output {_size_text(shape)})"
        else:
            where = "before its first layer"
        reason = (
            f" ({type(error).__name__})"
            if isinstance(error, RuntimeError)
            else f": {type(error).__name__}: {_first_line(error)}"
        )
        return (
            f"{subject} failed in its own forward code, {where}, on a {_size_text(self.input_shape)} input"
            f"{reason}. Hint: print x.shape after each step of forward(); a view or reshape with a "
            "hard-coded size, or a missing flatten, is the usual cause."
        )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0].rstrip(".") if text else "(no message)"


class _LayerRecorder(ForwardTrace):
    """Forward hooks on the leaf modules that record one LayerRow per call; repeated blocks are replayed."""

    def __init__(
        self, model: nn.Module, input_shape: Sequence[int], counter: _MacCounter, blocks: BlockMemory
    ):
        super().__init__(model, input_shape)
        self.counter = counter
        self.rows: list[LayerRow] = []
        self._flops_before: list[int] = []
        self._seen: set[int] = set()
        self._replay = _BlockReplay(self, blocks)

    def __enter__(self) -> _LayerRecorder:
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
        first_call = id(module) not in self._seen
        self._seen.add(id(module))
        if isinstance(module, NO_OWN_MEMORY):
            own_bytes = 0
        else:
            new_outputs = [t for t in _tensors(output) if not _shares_memory_with(t, inputs)]
            own_bytes = sum(t.numel() * t.element_size() for t in new_outputs)
        first = _first_tensor(output)
        self.rows.append(
            LayerRow(
                name=self.names.get(module) or type(module).__name__,
                kind=type(module).__name__,
                config=describe_config(module),
                output_shape=tuple(first.shape[1:]) if first is not None else (),
                params=sum(p.numel() for p in module.parameters()) if first_call else 0,
                macs=(self.counter.flops - flops_before) // 2,
                activation_bytes=own_bytes,
            )
        )

    def params_outside_leaves(self, params: list[torch.Tensor]) -> int:
        """Of the model's ``params``, those that no called leaf owns: held by a parent, or by a leaf never called."""
        counted = {
            id(p) for m in self.leaves if id(m) in self._seen for p in m._parameters.values() if p is not None
        }
        return sum(p.numel() for p in params if id(p) not in counted)


class BlockMemory:
    """The blocks ``summarize`` has run, by signature and input shape, to replay their twins (``_BlockReplay``).

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


class _BlockReplay:
    """Runs a block once per signature and input shape; its twins' rows are copies of the first run's, renamed.

    Two blocks are twins when they have the same signature: the same class, the same plain attributes (a stride,
    a flag), the same parameter and buffer shapes, and twin children in the same order. A block is replayed only
    on the meta device, with one tensor in and a new tensor out, when none of its modules has run before (a shared
    module's parameters count once) and none has hooks of its own or a patched ``forward``. Anything else runs as
    usual, so the replay changes the time a summary takes, never its numbers
    (tests/test_summary.py compares every course model with and without it).
    """

    _MODULE_INTERNALS = frozenset(vars(nn.Module()))  # nn.Module's own bookkeeping, the same for every module

    def __init__(self, recorder: _LayerRecorder, memory: BlockMemory):
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

        def run(*args, **kwargs):
            x = args[0] if len(args) == 1 and not kwargs else None
            if not isinstance(x, torch.Tensor) or not x.is_meta:
                return forward(*args, **kwargs)
            if any(id(module) in recorder._seen for module in block.modules()):
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
        if not isinstance(output, torch.Tensor) or not output.is_meta or _shares_memory_with(output, [x]):
            return output  # replayed, it could not be told apart from a new tensor: never replay it
        prefix = f"{recorder.names.get(block)}."
        rows = recorder.rows[first_row:]
        if not all(row.name.startswith(prefix) for row in rows):
            return output  # a module outside the block ran inside it: the names would not carry over
        last = recorder._last
        last_leaf = recorder.names.get(last[0], "")[len(prefix) :] if last and rows else None
        self.memory.records[key] = _BlockRecord(
            rows=tuple((row.name[len(prefix) :], row) for row in rows),
            flops=recorder.counter.flops - flops_before,
            output_shape=output.shape,
            output_dtype=output.dtype,
            last_leaf=last_leaf,
            last_map=recorder._last_map,
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
        modules = dict(block.named_modules())
        recorder._seen.update(id(modules[relative]) for relative, _ in record.rows if relative in modules)
        if record.last_leaf in modules:
            recorder._last = (modules[record.last_leaf], record.rows[-1][1].output_shape)
            recorder._last_map = record.last_map
        return torch.empty(record.output_shape, dtype=record.output_dtype, device="meta")


def _signature(
    module: nn.Module, interned: dict[tuple, int], memo: dict[nn.Module, int | None]
) -> int | None:
    """A small int shared by twin modules (see ``_BlockReplay``), or None for a module that is never replayed.

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
    names = attributes.keys() - _BlockReplay._MODULE_INTERNALS
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
