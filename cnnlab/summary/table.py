"""The table ``summarize`` returns: one row per layer call, its totals, and how it reads as text and as HTML.

The memory column follows one convention, the lecture's (``MEMORY_CONVENTION``): a layer counts the output it
keeps, and the layers of ``NO_OWN_MEMORY`` (activations, dropout, flattens) count none, in place or not.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from .. import fmt


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
