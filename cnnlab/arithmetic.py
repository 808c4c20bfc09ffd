"""Conv arithmetic in plain Python: output sizes, receptive fields, parameters, MACs and memory.

Lecture notation: an input of width N, a filter (kernel) of width F, stride S, padding P, dilation D.
Every size follows PyTorch exactly (the tests compare against torch on hundreds of configurations),
and a configuration that PyTorch refuses raises ``ConfigError`` here, with a sentence saying why.
"""

import operator
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import ConfigError

__all__ = [
    "ReceptiveField",
    "activation_bytes",
    "conv_macs",
    "conv_output_shape",
    "conv_output_size",
    "conv_params",
    "fits_exactly",
    "linear_macs",
    "linear_params",
    "pool_output_shape",
    "pool_output_size",
    "receptive_field",
    "receptive_field_of",
]

_AXES = ("height", "width")


# --- argument checks ------------------------------------------------------------------------------------


def _int(value, name: str, minimum: int) -> int:
    """``value`` as an int ≥ ``minimum``; numpy and other integer types pass, bools and floats do not."""
    # bool is an int subclass, but stride=True is a mistake, not a stride of 1
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise ConfigError(f"{name} must be an int, but got {value!r} ({type(value).__name__})")
    try:
        value = operator.index(value)
    except TypeError:  # a float tensor: its class has __index__, but the value is not an integer
        raise ConfigError(f"{name} must be an int, but got {value!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, but got {value}")
    return value


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int (used for both axes) or a (height, width) pair, as a pair of checked ints."""
    if isinstance(value, bool) or hasattr(type(value), "__index__"):
        value = _int(value, name, minimum)
        return value, value
    try:
        items = tuple(value)
    except TypeError:
        items = None
    if items is None or len(items) != 2:
        is_chw = name == "input size" and items is not None and len(items) == 3
        hint = ": leave out the channel axis" if is_chw else ""
        raise ConfigError(f"{name} must be an int or a pair (height, width), but got {value!r}{hint}")
    return _int(items[0], f"{name} height", minimum), _int(items[1], f"{name} width", minimum)


def _channel_groups(in_channels, out_channels, groups) -> tuple[int, int, int]:
    in_channels = _int(in_channels, "in_channels", 1)
    out_channels = _int(out_channels, "out_channels", 1)
    groups = _int(groups, "groups", 1)
    for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
        if channels % groups:
            raise ConfigError(
                f"groups must divide both channel counts, but {name} {channels} "
                f"cannot be split into {groups} equal groups"
            )
    return in_channels, out_channels, groups


def _kernel_too_large(what: str, size: int, kernel: int, padding: int, dilation: int, axis: str) -> str:
    """'kernel 7 is larger than the padded input 5 (input 3 + 2×padding 1): the output would be empty'."""
    where = f"along the {axis}, " if axis else ""
    if dilation == 1:
        window = f"{what} {kernel}"
    else:
        window = f"dilated {what} {dilation * (kernel - 1) + 1} ({what} {kernel} with dilation {dilation})"
    if padding == 0:
        room = f"the input {size}"
    else:
        room = f"the padded input {size + 2 * padding} (input {size} + 2×padding {padding})"
    return f"{where}{window} is larger than {room}: the output would be empty"


@contextmanager
def _named(layer):
    """A ConfigError raised inside starts with the layer's name: 'C3: kernel 7 is larger than the input 5: ...'."""
    if layer is not None and (not isinstance(layer, str) or not layer.strip()):
        raise ConfigError(f'layer must be the layer\'s name, such as "C3", but got {layer!r}')
    try:
        yield
    except ConfigError as error:
        if layer is None:
            raise
        raise ConfigError(f"{layer.strip()}: {error}") from None


# --- output sizes ---------------------------------------------------------------------------------------


def _conv_size(size, kernel, stride, padding, dilation, axis: str = "") -> int:
    span = dilation * (kernel - 1) + 1  # the filter's footprint on the input
    if size + 2 * padding < span:
        raise ConfigError(_kernel_too_large("kernel", size, kernel, padding, dilation, axis))
    return (size + 2 * padding - span) // stride + 1


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, *, layer: str | None = None
) -> int:
    """Output width of a convolution along one axis: (N − F + 2P) / S + 1, rounded down.

    With dilation D the filter covers D·(F − 1) + 1 input pixels, which takes the place of F.
    A stride that does not fit (see ``fits_exactly``) drops the last input rows, as PyTorch does.
    Raises ``ConfigError`` when the filter is larger than the padded input; with ``layer="C3"`` its
    message starts with the layer's name ("C3: kernel 7 is larger than the input 5: ...").

    >>> conv_output_size(7, 3, stride=2)
    3
    """
    with _named(layer):
        return _conv_size(
            _int(size, "size", 1),
            _int(kernel, "kernel", 1),
            _int(stride, "stride", 1),
            _int(padding, "padding", 0),
            _int(dilation, "dilation", 1),
        )


def conv_output_shape(
    hw, kernel, stride=1, padding=0, dilation=1, *, layer: str | None = None
) -> tuple[int, int]:
    """Output (height, width) of a 2-D convolution; each argument is an int or a (height, width) pair.

    With ``layer="CONV1"`` a ConfigError's message starts with the layer's name.

    >>> conv_output_shape((32, 32), 5, stride=1, padding=2)
    (32, 32)
    """
    with _named(layer):
        args = zip(
            _pair(hw, "input size", 1),
            _pair(kernel, "kernel", 1),
            _pair(stride, "stride", 1),
            _pair(padding, "padding", 0),
            _pair(dilation, "dilation", 1),
            _AXES,
        )
        return tuple(_conv_size(*axis_args) for axis_args in args)


def _pool_size(size, kernel, stride, padding, dilation, ceil_mode, axis: str = "") -> int:
    where = f"along the {axis}, " if axis else ""
    if padding > kernel // 2:
        raise ConfigError(
            f"{where}padding {padding} is more than half the pooling window {kernel} "
            f"(PyTorch allows at most {kernel // 2})"
        )
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span
    if ceil_mode:
        out = (room + stride - 1) // stride + 1  # floor division of a negative room rounds down, as in torch
        # the last window must start inside the input or the left padding, never in the right padding
        if (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = room // stride + 1
    if out < 1:
        raise ConfigError(_kernel_too_large("pooling window", size, kernel, padding, dilation, axis))
    return out


def pool_output_size(
    size: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    *,
    layer: str | None = None,
) -> int:
    """Output width of a max or average pooling along one axis, as ``nn.MaxPool2d`` computes it.

    (N − F + 2P) / S + 1 rounded down, or rounded up with ``ceil_mode=True``; the stride S defaults
    to the window F. In ceil mode the last window may hang over the right edge, but it must start
    inside the input or the left padding. P may be at most F // 2, as in PyTorch. With ``layer="S4"``
    a ConfigError's message starts with the layer's name.

    >>> pool_output_size(55, 3, stride=2)
    27
    """
    with _named(layer):
        kernel = _int(kernel, "kernel", 1)
        return _pool_size(
            _int(size, "size", 1),
            kernel,
            kernel if stride is None else _int(stride, "stride", 1),
            _int(padding, "padding", 0),
            _int(dilation, "dilation", 1),
            bool(ceil_mode),
        )


def pool_output_shape(
    hw, kernel, stride=None, padding=0, dilation=1, ceil_mode=False, *, layer: str | None = None
) -> tuple[int, int]:
    """Output (height, width) of a 2-D pooling; each argument is an int or a (height, width) pair.

    With ``layer="POOL1"`` a ConfigError's message starts with the layer's name.
    """
    with _named(layer):
        kernels = _pair(kernel, "kernel", 1)
        args = zip(
            _pair(hw, "input size", 1),
            kernels,
            kernels if stride is None else _pair(stride, "stride", 1),
            _pair(padding, "padding", 0),
            _pair(dilation, "dilation", 1),
            (bool(ceil_mode),) * 2,
            _AXES,
        )
        return tuple(_pool_size(*axis_args) for axis_args in args)


def fits_exactly(size: int, kernel: int, stride: int, padding: int = 0, *, layer: str | None = None) -> bool:
    """Whether the filter's last position ends exactly on the padded input's edge: (N − F + 2P) % S == 0.

    When it does not (N = 7, F = 3, S = 3), PyTorch drops the leftover input rows silently.
    Raises ``ConfigError`` when the filter is larger than the padded input, as it fits nowhere (its
    message starts with ``layer``, when given).
    """
    with _named(layer):
        size, kernel = _int(size, "size", 1), _int(kernel, "kernel", 1)
        stride, padding = _int(stride, "stride", 1), _int(padding, "padding", 0)
        _conv_size(size, kernel, stride, padding, 1)
    return (size - kernel + 2 * padding) % stride == 0


# --- receptive field ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of a stack of layers, in input pixels along one axis.

    ``size``: how many input pixels one unit of the last layer sees; ``jump``: how far apart in the
    input two neighbouring units of the last layer are. ``sizes`` and ``jumps`` hold the same for
    every layer in turn, so ``sizes[-1] == size``.
    """

    size: int
    jump: int
    sizes: list[int]
    jumps: list[int]


def _first_axis(value, name: str) -> int:
    """An int, or the first entry of a per-axis tuple such as a module's ``kernel_size=(3, 3)``."""
    if not isinstance(value, bool) and not hasattr(type(value), "__index__"):
        try:
            value = tuple(value)[0]
        except (TypeError, IndexError):
            raise ConfigError(f"{name} must be an int or a tuple of ints, but got {value!r}") from None
    return _int(value, name, 1)


def _layer_geometry(layer, index: int) -> tuple[int, int, int]:
    """(kernel, stride, dilation) of a tuple spec or of an object with kernel/stride attributes."""
    name = f"layer {index}"
    if isinstance(layer, (tuple, list)):
        if len(layer) not in (2, 3):
            raise ConfigError(
                f"{name} must be a (kernel, stride) or (kernel, stride, dilation) tuple, but got {layer!r}"
            )
        kernel, stride, *rest = layer
        dilation = rest[0] if rest else 1
    else:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            kernel = getattr(layer, "kernel_size", None)
        if kernel is None:
            raise ConfigError(
                f"{name} must be a (kernel, stride) tuple or have a kernel and a stride, "
                f"but got {type(layer).__name__}"
            )
        stride = getattr(layer, "stride", None)
        stride = kernel if stride is None else stride  # a pooling layer's stride defaults to its window
        dilation = getattr(layer, "dilation", 1)
    return (
        _first_axis(kernel, f"{name} kernel"),
        _first_axis(stride, f"{name} stride"),
        _first_axis(dilation, f"{name} dilation"),
    )


def receptive_field(layers: Iterable) -> ReceptiveField:
    """Receptive field of a stack of conv and pooling layers, first layer first.

    Each layer is a (F, S) or (F, S, D) tuple, or an object with ``kernel`` (or ``kernel_size``),
    ``stride`` and optionally ``dilation`` attributes. Padding moves the field but does not change
    its size. With r_0 = 1 and j_0 = 1 (one input pixel):

        r_l = r_{l−1} + (F_l − 1)·D_l·j_{l−1}        j_l = j_{l−1}·S_l

    >>> receptive_field([(3, 1)] * 3).size   # three 3×3 convs see as much as one 7×7
    7
    """
    size, jump = 1, 1
    sizes, jumps = [], []
    for index, layer in enumerate(layers):
        kernel, stride, dilation = _layer_geometry(layer, index)
        size += (kernel - 1) * dilation * jump
        jump *= stride
        sizes.append(size)
        jumps.append(jump)
    return ReceptiveField(size=size, jump=jump, sizes=sizes, jumps=jumps)


def receptive_field_of(module) -> ReceptiveField:
    """Receptive field of a torch module, along its first spatial axis.

    Walks the module tree in registration order and takes every Conv1d/2d/3d and max, average
    and LP pooling layer; activations, norms, dropout and linear layers do not change it.
    The walk treats the tree as one chain, so it fits plain stacks (AlexNet, VGG) but not
    branching networks: a ResNet's shortcut convs would be counted as if they were in line.
    """
    from torch import nn  # lazily: the rest of this module needs no torch

    if not isinstance(module, nn.Module):
        raise ConfigError(f"expected a torch nn.Module, but got {type(module).__name__}")
    kinds = tuple(
        getattr(nn, name)
        for dims in ("1d", "2d", "3d")
        for name in (f"Conv{dims}", f"MaxPool{dims}", f"AvgPool{dims}", f"LPPool{dims}")
        if hasattr(nn, name)  # LPPool3d is recent
    )
    return receptive_field(layer for layer in module.modules() if isinstance(layer, kinds))


# --- parameters, MACs and memory ------------------------------------------------------------------------


def conv_params(in_channels: int, out_channels: int, kernel, groups: int = 1, bias: bool = True) -> int:
    """Learnable parameters of a conv layer: K filters of size F·F·C/groups, plus K biases.

    >>> conv_params(3, 10, 5)   # 10 filters of 5×5×3, each with a bias
    760
    """
    in_channels, out_channels, groups = _channel_groups(in_channels, out_channels, groups)
    kernel_h, kernel_w = _pair(kernel, "kernel", 1)
    weights = out_channels * (in_channels // groups) * kernel_h * kernel_w
    return weights + (out_channels if bias else 0)


def conv_macs(in_channels: int, out_channels: int, kernel, output_hw, groups: int = 1) -> int:
    """Multiply-accumulates of a conv layer on one image: (K·H'·W' outputs) × (C/groups·F·F each).

    Bias additions are not counted, as in ``torch.utils.flop_counter``; FLOPs ≈ 2 × MACs.

    >>> conv_macs(3, 96, 11, 55)   # AlexNet CONV1
    105415200
    """
    in_channels, out_channels, groups = _channel_groups(in_channels, out_channels, groups)
    kernel_h, kernel_w = _pair(kernel, "kernel", 1)
    out_h, out_w = _pair(output_hw, "output size", 1)
    return out_h * out_w * out_channels * (in_channels // groups) * kernel_h * kernel_w


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Learnable parameters of a fully connected layer: a weight matrix plus one bias per output."""
    in_features, out_features = _int(in_features, "in_features", 1), _int(out_features, "out_features", 1)
    return in_features * out_features + (out_features if bias else 0)


def linear_macs(in_features: int, out_features: int) -> int:
    """Multiply-accumulates of a fully connected layer on one input vector (bias additions not counted)."""
    in_features, out_features = _int(in_features, "in_features", 1), _int(out_features, "out_features", 1)
    return in_features * out_features


def activation_bytes(shape, bytes_per_element=4) -> int:
    """Memory of a tensor of this shape: the product of its dimensions × bytes per element.

    ``bytes_per_element`` is an int (4 for float32) or a dtype with an ``itemsize``, such as
    ``torch.float16``.

    >>> activation_bytes((96, 55, 55))   # AlexNet CONV1's output, float32
    1161600
    """
    if hasattr(bytes_per_element, "itemsize") and not hasattr(type(bytes_per_element), "__index__"):
        bytes_per_element = bytes_per_element.itemsize
    total = _int(bytes_per_element, "bytes_per_element", 1)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ConfigError(f"shape must be a sequence of ints, but got {shape!r}") from None
    for axis, dim in enumerate(dims):
        total *= _int(dim, f"shape[{axis}]", 0)
    return total
