"""Stand-in blocks: a whole-network check counts the student's assembly, not the student's blocks again.

A net built from blocks (ResNet from ``BasicBlock``, GoogLeNet from ``Inception``) has two kinds of mistakes: in a
block, which the block's own check catches, and in the assembly (a stage's width, a stride in the wrong block, a
missing stem layer). A whole-network check that builds the net from the student's blocks fails for both, and blames
a later layer for the block's mistake. Built from stand-ins, it sees the assembly alone:

    StandInBlock = stand_in(BasicBlock, out_channels=lambda a: a["channels"], stride=lambda a: a["stride"])
    net = ResNet(StandInBlock, (2, 2, 2, 2))
    checks.check_assembly(net, (3, 224, 224), "ResNet-18", params=..., macs=...)

A stand-in takes the block's arguments (its signature is the block's), remembers how it was called, and is one
1×1 convolution without bias from its input channels to the block's output channels, at the block's stride: a
block whose counts follow from its arguments alone, and which holds nothing of the block's answer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from torch import nn

from .errors import CheckFailed

__all__ = ["StandIn", "stand_in", "standing_in", "blocks_built"]

Arguments = dict[str, Any]


class StandIn(nn.Module):
    """One stand-in block: a 1×1 conv (no bias) at the block's stride; ``call`` says how it was built."""

    block_name = "Block"
    _signature: inspect.Signature
    _in_channels: Callable[[Arguments], int]
    _out_channels: Callable[[Arguments], int]
    _stride: Callable[[Arguments], int]

    def __init__(self, *args, **kwargs):
        super().__init__()
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            given = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
            raise CheckFailed(
                f"{self.block_name} was called as {self.block_name}({given}), which its signature "
                f"{self.block_name}{self._signature} does not take: {error}."
            ) from None
        bound.apply_defaults()
        self.arguments: Arguments = dict(bound.arguments)
        self.call = _call_text(self.block_name, self._signature, self.arguments)
        in_channels, out_channels, stride = (
            int(rule(self.arguments)) for rule in (self._in_channels, self._out_channels, self._stride)
        )
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)

    def forward(self, x):
        return self.conv(x)

    def extra_repr(self) -> str:
        return f"standing in for {self.call}"


def _rule(value: int | str | Callable[[Arguments], int], what: str) -> Callable[[Arguments], int]:
    """A number, an argument's name, or a function of the arguments: each becomes a function of the arguments."""
    if callable(value):
        return value
    if isinstance(value, str):
        return lambda arguments: arguments[value]
    if isinstance(value, int) and not isinstance(value, bool):
        return lambda arguments: value
    raise TypeError(f"stand_in's {what} should be an int, an argument's name or a function; got {value!r}")


def stand_in(
    block,
    *,
    out_channels: int | str | Callable[[Arguments], int],
    in_channels: int | str | Callable[[Arguments], int] = "in_channels",
    stride: int | str | Callable[[Arguments], int] = 1,
    name: str | None = None,
) -> type[StandIn]:
    """A stand-in class for ``block`` (a class or a function that builds a block), with the same signature.

    ``in_channels``, ``out_channels`` and ``stride`` say what the stand-in's 1×1 conv does: each is a number, the
    name of one of the block's arguments, or a function of the arguments (a dict, defaults filled in), as in
    ``out_channels=lambda a: a["channels"] * 4``. Class attributes of ``block`` that are numbers (a bottleneck's
    ``expansion``) are copied, so a builder that reads them still can.
    """
    if not callable(block):
        raise TypeError(f"stand_in needs the block's class or function, got {type(block).__name__}")
    try:
        signature = inspect.signature(block)
    except (TypeError, ValueError) as error:
        raise TypeError(f"stand_in cannot read the signature of {block!r}: {error}") from None
    block_name = name or getattr(block, "__name__", "Block")
    numbers = {}
    if isinstance(block, type):
        numbers = {
            key: value
            for klass in reversed(block.__mro__)
            for key, value in vars(klass).items()
            if not key.startswith("_") and isinstance(value, int | float) and not isinstance(value, bool)
        }
    attributes = {
        "block_name": block_name,
        "_signature": signature,
        "_in_channels": staticmethod(_rule(in_channels, "in_channels")),
        "_out_channels": staticmethod(_rule(out_channels, "out_channels")),
        "_stride": staticmethod(_rule(stride, "stride")),
        "__doc__": f"A stand-in for {block_name}: a 1×1 conv from its input channels to its output channels.",
        **numbers,
    }
    return type(f"StandIn{block_name}", (StandIn,), attributes)


def _call_text(name: str, signature: inspect.Signature, arguments: Arguments) -> str:
    """``BasicBlock(64, 128, stride=2)``: the arguments without a default by position, the others only when set."""
    parts = []
    for parameter in signature.parameters.values():
        if parameter.name not in arguments:
            continue
        value = arguments[parameter.name]
        if parameter.kind is parameter.VAR_POSITIONAL:
            parts += [repr(v) for v in value]
        elif parameter.kind is parameter.VAR_KEYWORD:
            parts += [f"{k}={v!r}" for k, v in value.items()]
        elif parameter.default is parameter.empty:
            parts.append(repr(value))
        elif value != parameter.default:
            parts.append(f"{parameter.name}={value!r}")
    return f"{name}({', '.join(parts)})"


def blocks_built(model: nn.Module) -> list[str]:
    """How each stand-in in ``model`` was called, in the model's order, runs of equal calls counted: ``× 2``."""
    calls = [module.call for module in model.modules() if isinstance(module, StandIn)]
    runs: list[list] = []
    for call in calls:
        if runs and runs[-1][0] == call:
            runs[-1][1] += 1
        else:
            runs.append([call, 1])
    return [call if count == 1 else f"{call} × {count}" for call, count in runs]


@contextmanager
def standing_in(namespace: MutableMapping[str, Any], **replacements) -> Iterator[None]:
    """Within the block, ``namespace[name]`` (a notebook's ``globals()``) is the stand-in given for ``name``.

    For a builder that reaches its blocks by name (``Inception(...)`` in ``GoogLeNet.__init__``) rather than as an
    argument. The names are restored afterwards, whatever happens.
    """
    missing = [name for name in replacements if name not in namespace]
    if missing:
        raise CheckFailed(
            f"expected {', '.join(missing)} to be defined in the notebook before this check; run the cells above."
        )
    saved = {name: namespace[name] for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        namespace.update(saved)
