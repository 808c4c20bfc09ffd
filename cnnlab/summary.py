"""A per-layer table of any ``nn.Module``: output shapes, parameters, MACs and activation memory.

The forward pass runs on PyTorch's *meta* device, which tracks shapes and dtypes but holds no data,
so summarising VGG-16 at 224×224 costs milliseconds and allocates no weights. MACs come from
``torch.utils.flop_counter.FlopCounterMode`` (one multiply-accumulate = two FLOPs), not from
hand-written per-layer formulas, so any layer torch can count is counted.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import fmt
from .errors import ConfigError

__all__ = ["LayerRow", "Summary", "summarize", "parse_input_shape"]


@dataclass(frozen=True)
class LayerRow:
    """One call of one leaf module during the forward pass."""

    name: str  # the module's path in the model, e.g. "features.0"
    kind: str  # its class name, e.g. "Conv2d"
    config: str  # kernel/stride/padding, or in→out features
    output_shape: tuple[int, ...]  # without the batch axis
    params: int  # counted at the module's first call only, so shared modules count once
    macs: int  # per batch (per image when batch_size is 1)
    activation_bytes: int  # memory of the outputs this call allocated (0 for in-place ops)


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
        return "\n".join([render(lines[0]), rule, *body, rule, render(lines[-1]), "", self.headline()])

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
        f"<tr class='total'>{total}</tr></tbody></table><p>{esc(summary.headline())}</p>"
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


def summarize(model: nn.Module, input_shape=(3, 32, 32), *, batch_size: int = 1) -> Summary:
    """Run one forward pass on the meta device and tabulate every layer it called.

    ``input_shape`` is (C, H, W) of one image. MACs and memory are per forward pass of
    ``batch_size`` images. Parameters are the exact sum of ``numel`` over ``model.parameters()``.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"summarize() needs a torch nn.Module; got {type(model).__name__}")
    shape = parse_input_shape(input_shape)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size should be a positive int; got {batch_size!r}")

    recorder = _LayerRecorder(model)
    counter = FlopCounterMode(display=False)
    training_flags = {m: m.training for m in model.modules()}
    model.eval()  # batch statistics of one image are undefined; dropout is identity in eval
    try:
        with recorder.hooks(counter), counter, torch.no_grad():
            output = _forward_on_meta(model, (batch_size, *shape))
    except ConfigError:
        raise
    except Exception as error:  # the student's model broke: say where, in a sentence
        raise recorder.explain(error, shape) from error
    finally:
        for module, flag in training_flags.items():
            module.training = flag

    rows = recorder.rows
    total_macs = counter.get_total_flops() // 2
    unattributed = total_macs - sum(r.macs for r in rows)
    if unattributed:  # e.g. a matmul written in a parent module's forward
        rows.append(LayerRow("(functional ops)", "", "", (), 0, unattributed, 0))
    own_params = recorder.params_outside_leaves()
    if own_params:
        rows.append(LayerRow("(other parameters)", "", "", (), own_params, 0, 0))

    params = list({id(p): p for p in model.parameters()}.values())
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


def _forward_on_meta(model: nn.Module, batch_shape: tuple[int, ...]):
    """The forward pass with meta copies of the weights, so the model itself is never touched."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    x = torch.empty(batch_shape, dtype=dtype, device="meta")
    if all(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        return model(x)
    state = {
        **{name: torch.empty_like(p, device="meta") for name, p in model.named_parameters()},
        **{name: torch.empty_like(b, device="meta") for name, b in model.named_buffers()},
    }
    return torch.func.functional_call(model, state, (x,))


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


class _LayerRecorder:
    """Forward hooks on the leaf modules that record one LayerRow per call."""

    def __init__(self, model: nn.Module):
        self.names = {m: name for name, m in model.named_modules()}
        self.leaves = [m for m in model.modules() if not list(m.children())]
        self.model = model
        self.rows: list[LayerRow] = []
        self._open: list[tuple[nn.Module, int, list]] = []  # modules whose forward has begun
        self._seen: set[int] = set()

    def hooks(self, counter: FlopCounterMode):
        recorder = self

        class _Hooks:
            def __enter__(self):
                self.handles = []
                for module in recorder.leaves:
                    self.handles.append(module.register_forward_pre_hook(recorder._before(counter)))
                    self.handles.append(module.register_forward_hook(recorder._after(counter)))
                return self

            def __exit__(self, *exc):
                for handle in self.handles:
                    handle.remove()
                return False

        return _Hooks()

    def _before(self, counter):
        def hook(module, args):
            inputs = [t for t in args if isinstance(t, torch.Tensor)]
            self._open.append((module, counter.get_total_flops(), inputs))

        return hook

    def _after(self, counter):
        def hook(module, args, output):
            _, flops_before, inputs = self._open.pop()
            first_call = id(module) not in self._seen
            self._seen.add(id(module))
            new_outputs = [t for t in _tensors(output) if not _shares_memory_with(t, inputs)]
            first = _first_tensor(output)
            self.rows.append(
                LayerRow(
                    name=self.names.get(module, "?") or type(module).__name__,
                    kind=type(module).__name__,
                    config=describe_config(module),
                    output_shape=tuple(first.shape[1:]) if first is not None else (),
                    params=sum(p.numel() for p in module.parameters()) if first_call else 0,
                    macs=(counter.get_total_flops() - flops_before) // 2,
                    activation_bytes=sum(t.numel() * t.element_size() for t in new_outputs),
                )
            )

        return hook

    def params_outside_leaves(self) -> int:
        """Parameters that no called leaf owns: held directly by a parent, or by a leaf never called."""
        counted = {id(p) for m in self.leaves if id(m) in self._seen for p in m.parameters()}
        return sum(
            p.numel() for p in {id(p): p for p in self.model.parameters()}.values() if id(p) not in counted
        )

    def explain(self, error: Exception, input_shape: tuple[int, ...]) -> ConfigError:
        """A sentence naming the layer that failed and the shape it was given."""
        reason = (
            str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
        )
        if not self._open:
            return ConfigError(
                f"{type(self.model).__name__} failed on an input of shape {fmt.shape(input_shape)} "
                f"outside any layer (in its forward code): {type(error).__name__}: {reason}"
            )
        module, _, inputs = self._open[-1]
        name = self.names.get(module, type(module).__name__)
        given = fmt.shape(inputs[0].shape[1:]) if inputs else "?"
        config = describe_config(module)
        where = f"layer '{name}' ({type(module).__name__}{' ' + config if config else ''})"
        hint = ""
        if isinstance(module, (nn.Linear,)) and inputs:
            hint = (
                f" It expects {module.in_features} features but got {inputs[0].shape[-1]}:"
                " check in_features against the flattened output of the layer before."
            )
        elif inputs and inputs[0].dim() >= 3 and min(inputs[0].shape[2:]) < 1:
            hint = " The feature map has already shrunk to nothing before this layer."
        elif (
            isinstance(module, nn.modules.conv._ConvNd)
            and inputs
            and inputs[0].shape[1] != module.in_channels
        ):
            hint = f" It expects {module.in_channels} input channels but got {inputs[0].shape[1]}."
        return ConfigError(f"{where} cannot take an input of shape {given}: {reason}.{hint}")
