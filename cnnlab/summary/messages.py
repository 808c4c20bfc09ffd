"""The sentences a student reads when a model cannot take its input: which layer, what it takes, what came.

``ForwardTrace`` knows, while a forward pass runs, which layer is running and which finished last, so a failure
is told in the course's words (with a hint) rather than in PyTorch's. ``summarize``, ``fit`` and the checks use
it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import first_line
from .table import describe_config
from .tensors import first_tensor


def _in_words(error: Exception) -> str:
    """``Type: message`` with no closing full stop (the sentence goes on), or ``Type: (no message)``."""
    return first_line(error).rstrip(".") if str(error).strip() else f"{type(error).__name__}: (no message)"


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
        self.names: dict[nn.Module, str] = {}  # every module of the model, each once, by its first name
        self.modules_by_name: dict[str, nn.Module] = {}
        self.leaves: list[nn.Module] = []
        for name, module in model.named_modules():
            self.names[module] = name
            self.modules_by_name[name] = module
            if all(child is None for child in module._modules.values()):
                self.leaves.append(module)
        self.model = model
        self.input_shape = tuple(int(d) for d in input_shape)
        self._open: list[tuple[nn.Module, list]] = []  # leaves whose forward has begun, innermost last
        self.last_finished: tuple[nn.Module, tuple[int, ...]] | None = None  # the last leaf that finished
        self.last_map: tuple[int, ...] | None = self.input_shape if len(self.input_shape) >= 3 else None
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
        first = first_tensor(output)
        if first is not None:
            shape = tuple(first.shape[1:])
            self.last_finished = (module, shape)
            if len(shape) >= 3:
                self.last_map = shape

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
        refusal = _refusal(module, x, subject, self.last_map)
        if refusal is not None:
            sentence, hint = refusal
            return f"{sentence}. Hint: {hint}"
        given = f"its {_size_text(x.shape[1:])} input" if x is not None else "its input"
        if isinstance(error, RuntimeError):
            return (
                f"{subject} cannot take {given}. Hint: compare this layer's settings with the shape it "
                "receives (print x.shape just before it)."
            )
        return f"{subject} failed on {given}: {_in_words(error)}"

    def _explain_outside_layers(self, error: Exception, what: str | None) -> str:
        subject = what or type(self.model).__name__
        if self.last_finished is not None:
            module, shape = self.last_finished
            name = self._name(module) or type(module).__name__
            where = f"after layer '{name}' (output {_size_text(shape)})"
        else:
            where = "before its first layer"
        # torch's RuntimeError text is about its internals; any other error is the student's own, in their words
        reason = f" ({type(error).__name__})" if isinstance(error, RuntimeError) else f": {_in_words(error)}"
        return (
            f"{subject} failed in its own forward code, {where}, on a {_size_text(self.input_shape)} input"
            f"{reason}. Hint: print x.shape after each step of forward(); a view or reshape with a "
            "hard-coded size, or a missing flatten, is the usual cause."
        )
