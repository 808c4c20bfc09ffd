"""What ``explore`` is asked: the controls' ranges and the baseline, checked up front.

A *configuration* is the dict of keyword arguments given to ``build`` (plus ``input_size``, the
input's height and width, which ``build`` receives only when its signature names it).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import ConfigError
from ..summary import parse_input_shape

__all__ = ["INPUT_SIZE", "Choice", "Choices", "IntRange", "Setup", "choices", "resolve"]

INPUT_SIZE = "input_size"
_NO_DEFAULT = inspect.Parameter.empty


@dataclass(frozen=True)
class Choices:
    """The marker ``choices([...])`` returns: a control picking one of these values."""

    options: tuple


def choices(options) -> Choices:
    """A dropdown control: ``explore(build, pool=choices(["max", "avg"]), width=choices([32, 64]))``."""
    options = tuple(options)
    if not options:
        raise ConfigError("choices() needs at least one value to choose from")
    return Choices(options)


@dataclass(frozen=True)
class IntRange:
    """An integer control (a slider): low, low + step, ..., up to high."""

    name: str
    low: int
    high: int
    step: int = 1

    def __contains__(self, value) -> bool:
        return _is_int(value) and self.low <= value <= self.high and (value - self.low) % self.step == 0

    def describe(self) -> str:
        values = list(range(self.low, self.high + 1, self.step))
        shown = (
            ", ".join(map(str, values))
            if len(values) <= 5
            else f"{values[0]}, {values[1]}, ..., {values[-1]}"
        )
        return f"one of {shown}"


@dataclass(frozen=True)
class Choice:
    """A control that picks one of a few values (a dropdown)."""

    name: str
    options: tuple

    def __contains__(self, value) -> bool:
        return any(value is o or (type(value) is type(o) and value == o) for o in self.options)

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.options))


Control = IntRange | Choice


@dataclass(frozen=True)
class Setup:
    """explore()'s arguments, checked: the builder, its controls and the baseline configuration."""

    build: Callable
    controls: tuple[Control, ...]
    baseline: dict[str, Any]
    input_shape: tuple[int, int, int]  # used when the configuration has no input_size
    passes_input_size: bool  # build's signature names input_size

    def build_kwargs(self, config: dict) -> dict:
        return {k: v for k, v in config.items() if k != INPUT_SIZE or self.passes_input_size}

    def input_shape_of(self, config: dict) -> tuple[int, int, int]:
        size = config.get(INPUT_SIZE)
        return self.input_shape if size is None else (self.input_shape[0], size, size)


def resolve(build, input_shape, baseline, specs: dict) -> Setup:
    """Check every argument of explore() and work out the baseline configuration, or raise ConfigError."""
    if isinstance(build, nn.Module):
        raise ConfigError(
            f"explore() needs the function that builds the model, not a model ({type(build).__name__}): "
            "write explore(build, ...) rather than explore(build(), ...)"
        )
    if not callable(build):
        raise ConfigError(
            f"explore() needs a function that builds a model, such as `def build(kernel=3): ...`; "
            f"got {type(build).__name__}"
        )
    defaults, takes_any = _signature(build)
    shape = parse_input_shape(input_shape)
    known = {*defaults, INPUT_SIZE}
    base = _check_baseline(baseline, known, takes_any)
    controls = tuple(_parse_control(name, spec, known, takes_any) for name, spec in specs.items())
    for control in controls:
        base[control.name] = _start_value(control, base, defaults, shape)
    if defaults.get(INPUT_SIZE, _NO_DEFAULT) is not _NO_DEFAULT:
        base.setdefault(INPUT_SIZE, defaults[INPUT_SIZE])  # the input follows build's own input_size
    missing = [n for n, d in defaults.items() if d is _NO_DEFAULT and n not in base]
    if missing:
        raise ConfigError(
            f"{_name(build)}() needs {', '.join(map(repr, missing))}, with no default: "
            f"give a value in baseline={{{missing[0]!r}: ...}} or a range for it"
        )
    return Setup(build, controls, base, shape, passes_input_size=INPUT_SIZE in defaults)


def _signature(build) -> tuple[dict[str, Any], bool]:
    """{keyword argument: default or _NO_DEFAULT}, and whether build takes **kwargs."""
    try:
        parameters = inspect.signature(build).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: accept any argument
        return {}, True
    keywords = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    defaults = {p.name: p.default for p in parameters if p.kind in keywords}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return defaults, takes_any


def _check_name(name: str, known: set, takes_any: bool, where: str) -> None:
    if name in known or takes_any:
        return
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    names = ", ".join(sorted(known - {INPUT_SIZE}))
    raise ConfigError(
        f"{where} names {name!r}, which is not an argument of the builder (its arguments: {names}; "
        f"input_size sets the input's height and width){hint}"
    )


def _check_baseline(baseline, known: set, takes_any: bool) -> dict:
    if baseline is None:
        return {}
    if not isinstance(baseline, dict):
        raise ConfigError(
            f"baseline should be a dict of build's arguments, such as {{'kernel': 3}}; got {baseline!r}"
        )
    for name in baseline:
        _check_name(name, known, takes_any, "baseline")
    return dict(baseline)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_control(name: str, spec, known: set, takes_any: bool) -> Control:
    """kernel=(3, 11) or (3, 11, 2) -> IntRange; a list, a tuple of non-ints, or choices([...]) -> Choice."""
    _check_name(name, known, takes_any, f"the control {name}=...")
    if isinstance(spec, Choices):
        return Choice(name, spec.options)
    if isinstance(spec, tuple) and spec and all(_is_int(v) for v in spec):
        return _int_range(name, spec)
    if isinstance(spec, (list, tuple)) and spec:
        return Choice(name, tuple(spec))
    raise ConfigError(
        f"{name}={spec!r} is not a control: give a range of ints (min, max) or (min, max, step), "
        f"or a list of values to choose from"
    )


def _int_range(name: str, spec: tuple) -> IntRange:
    if len(spec) not in (2, 3):
        raise ConfigError(
            f"{name}={spec!r}: a tuple of ints is a range (min, max) or (min, max, step); "
            f"for a set of values write a list, {list(spec)!r}"
        )
    low, high, step = (*spec, 1)[:3]
    if low > high:
        raise ConfigError(f"{name}={spec!r} is an empty range: its min {low} is above its max {high}")
    if step < 1:
        raise ConfigError(f"{name}={spec!r}: the step should be at least 1; got {step}")
    if high > low and step > high - low:
        raise ConfigError(
            f"{name}={spec!r} reads as (min, max, step) and holds only {low}; "
            f"for these three values write a list, {list(spec)!r}"
        )
    return IntRange(name, low, high, step)


def _start_value(control: Control, base: dict, defaults: dict, shape: tuple) -> Any:
    """The baseline's value, else build's default, else (input_size) the input's height, else the low end."""
    name = control.name
    if name in base:
        value, source = base[name], "the baseline's value"
    elif defaults.get(name, _NO_DEFAULT) is not _NO_DEFAULT:
        value, source = defaults[name], "build's default"
    elif name == INPUT_SIZE:
        value, source = shape[1], "the height of input_shape"
    else:
        return control.low if isinstance(control, IntRange) else control.options[0]
    if value not in control:
        fix = "change the baseline" if name in base else f"give baseline={{{name!r}: ...}}"
        raise ConfigError(
            f"{name} starts at {value!r} ({source}), which its control does not offer "
            f"({control.describe()}): widen the range or {fix}"
        )
    return value


def _name(build) -> str:
    return getattr(build, "__name__", type(build).__name__)
