"""The assertions that notebook test cells call.

Each check prints one ``✓`` line when it passes, and otherwise raises ``CheckFailed`` with a message
that says what was expected, what came instead, where it went wrong and a hint. ``CheckFailed`` is
an ``AssertionError``, so nbgrader scores the cell as failed; Jupyter shows the sentence, not a
traceback.
"""

from __future__ import annotations

import math
import types
from collections.abc import Sequence
from contextlib import nullcontext

import torch
from torch import nn

from . import fmt
from .errors import CheckFailed, ConfigError, CourseError
from .stand_ins import StandIn, blocks_built
from .summary import Summary, summarize
from .summary.messages import ForwardTrace

__all__ = [
    "check_equal",
    "check_layer",
    "check_close",
    "check_shape",
    "check_params",
    "check_macs",
    "check_layer_shapes",
    "check_assembly",
    "check_learns",
    "check_raises",
    "check_own_work",
]

# Layers that keep their input's shape: skipped when a reference table is matched by position.
SHAPE_PRESERVING = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softmax,
    nn.LogSoftmax,
    nn.Dropout,
    nn.Dropout2d,
    nn.modules.batchnorm._BatchNorm,
    nn.LocalResponseNorm,
    nn.Identity,
)
# Skipped too: a flatten is as often written in forward() (x.flatten(1)) as a layer.
_SKIPPED_BY_POSITION = {cls.__name__ for cls in SHAPE_PRESERVING} | {"Flatten", "Unflatten"}


def _passed(message: str) -> None:
    print(f"✓ {message}")


def _fail(what: str, expected: str, got: str, hint: str | None = None) -> CheckFailed:
    message = f"{what}: expected {expected}, got {got}."
    if hint:
        message += f" Hint: {hint}"
    return CheckFailed(message)


def check_equal(actual, expected, what: str, hint: str | None = None) -> None:
    """``actual == expected`` exactly (ints, strings, tuples).

    With a bool expected, ``what`` is read as a statement ("the model has ReLU layers"): a failure says
    that it does not hold (or holds), never "expected True, got False".
    """
    truth = _as_bool(actual)
    if isinstance(expected, bool) and truth is not None:
        if truth is not expected:
            message = (
                f"expected that {what}, but it does not hold."
                if expected
                else f"expected this to be false: {what}; but it holds."
            )
            raise CheckFailed(message + (f" Hint: {hint}" if hint else ""))
        _passed(what if expected else f"not so: {what}")
        return
    if actual != expected:
        raise _fail(what, repr(expected), repr(actual), hint)
    _passed(f"{what} = {actual!r}")


def _as_bool(value) -> bool | None:
    """A Python, NumPy or one-element torch bool as a bool; None for anything else."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":  # numpy.bool_
        return bool(value)
    if isinstance(value, torch.Tensor) and value.dtype == torch.bool and value.numel() == 1:
        return bool(value)
    return None


def check_close(actual, expected: float, what: str, rel: float = 1e-6, hint: str | None = None) -> None:
    """A float within ``rel`` of the expected value."""
    try:
        ok = math.isclose(float(actual), float(expected), rel_tol=rel, abs_tol=rel)
    except (TypeError, ValueError):
        raise _fail(what, f"a number close to {expected}", repr(actual), hint) from None
    if not ok:
        raise _fail(what, f"{expected} (within {rel:g})", repr(actual), hint)
    _passed(f"{what} = {actual}")


def _as_shape(value) -> tuple[int, ...] | None:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    try:
        return tuple(int(d) for d in value)
    except (TypeError, ValueError):
        return None


def shape_hint(expected: Sequence[int], got: Sequence[int]) -> str:
    """The hint that fits how two shapes differ: channels come from the filter count (out_channels),
    height and width from kernel, stride and padding, a flat size from out_features or a flatten.

    Shapes may hold the batch axis or not; the channel axis is the third from the end.
    """
    expected, got = tuple(expected), tuple(got)
    formula = "kernel size, stride and padding, with (N − F + 2P)/S + 1"
    if len(expected) != len(got):
        if len(got) > len(expected):
            return (
                "the output is still a map where a flat vector is expected: flatten it before the fully "
                "connected layers (nn.Flatten() or x.flatten(1))."
            )
        return (
            "the output is flat where a map is expected: flatten only where the fully connected layers begin."
        )
    if len(expected) >= 3:
        channels_differ = expected[-3] != got[-3]
        size_differs = expected[-2:] != got[-2:]
        if channels_differ and size_differs:
            return (
                "both differ: the channels are the number of filters (out_channels), and the height and "
                f"width follow from the {formula}."
            )
        if channels_differ:
            return "the channels of a conv's output are its number of filters: check out_channels."
        if size_differs:
            return f"check the {formula}."
        return "the leading (batch) axis differs: keep the batch axis first and unchanged."
    if expected[-1:] != got[-1:]:
        return "a fully connected layer's output size is its out_features."
    return "the leading (batch) axis differs: keep the batch axis first and unchanged."


def check_shape(actual, expected: Sequence[int], what: str = "output shape", hint: str | None = None) -> None:
    """A tensor's shape (or a shape tuple) equals ``expected``.

    Without ``hint``, a failure's hint fits the difference (see ``shape_hint``).
    """
    shape = _as_shape(actual)
    expected = tuple(expected)
    if shape is None:
        raise _fail(what, f"a tensor of shape {expected}", f"{type(actual).__name__} {actual!r}", hint)
    if shape != expected:
        raise _fail(what, str(expected), str(shape), hint or shape_hint(expected, shape))
    _passed(f"{what} {shape}")


def _param_count(model_or_count) -> int:
    if isinstance(model_or_count, nn.Module):
        return sum(p.numel() for p in {id(p): p for p in model_or_count.parameters()}.values())
    if isinstance(model_or_count, int) and not isinstance(model_or_count, bool):
        return model_or_count
    raise CheckFailed(f"expected a model or an int parameter count, got {type(model_or_count).__name__}")


def check_params(model_or_count, expected: int, what: str = "parameters", hint: str | None = None) -> None:
    """The exact number of parameters of a model (or a count the student computed)."""
    count = _param_count(model_or_count)
    if not isinstance(expected, int) or isinstance(expected, bool):
        raise CheckFailed(f"check_params needs the expected count as an int; got {type(expected).__name__}")
    if count != expected:
        diff = count - expected
        raise _fail(what, f"{expected:,}", f"{count:,} ({fmt.signed_count(diff)})", hint)
    _passed(f"{what}: {count:,}")


def _summary_of(model: nn.Module, input_shape, what: str = "the model", hint: str | None = None) -> Summary:
    try:
        return summarize(model, input_shape)
    except ConfigError as error:
        where = f"the model does not run on a {fmt.shape(input_shape)} input: {error}"
        raise CheckFailed(_crashed(what, input_shape, where, hint)) from None


def check_macs(
    model: nn.Module, input_shape, expected: int, what: str = "MACs", hint: str | None = None
) -> None:
    """The exact multiply-accumulates of one forward pass of one image."""
    macs = _summary_of(model, input_shape, what, hint).total_macs
    if macs != expected:
        raise _fail(what, f"{expected:,} ({fmt.count(expected)})", f"{macs:,} ({fmt.count(macs)})", hint)
    _passed(f"{what}: {macs:,} ({fmt.count(macs)})")


def _shape_argument(shape, name: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in shape)
        if all(d == d0 for d, d0 in zip(dims, shape)) and all(d >= 1 for d in dims):
            return dims
    except (TypeError, ValueError):
        pass
    raise CheckFailed(f"{name} should be a shape without the batch axis, such as (3, 32, 32); got {shape!r}")


_PARAMS_HINT = (
    "a conv layer holds filters × (F × F × input channels + 1) parameters, one bias per filter; "
    "a fully connected layer out × (in + 1)."
)


def check_layer(
    layer, input_shape, expected_shape, what: str, *, params: int | None = None, hint: str | None = None
) -> torch.Tensor:
    """One step of a build: ``layer`` (a layer or a block) on a FRESH input, its output shape and parameters.

    Feeds ``torch.randn(2, *input_shape)`` (shapes leave the batch axis out), in eval mode and without
    gradients, so a mistake in an earlier step never fails this one. Checks that the output has shape
    ``(2, *expected_shape)`` and, when ``params`` is given, the exact parameter count. A forward that
    raises becomes a sentence naming ``what`` and the layer ("FC6 takes 43,264 input features, but its
    input has 9,216 (256×6×6)"). Without ``hint``, a wrong shape's hint fits the difference (channels:
    the filter count; height and width: (N − F + 2P)/S + 1). Prints one ✓ line; returns the output.
    """
    input_shape = _shape_argument(input_shape, "input_shape")
    expected_shape = _shape_argument(expected_shape, "expected_shape")
    if isinstance(layer, type):
        raise CheckFailed(
            f"{what}: expected a built layer, got the class {layer.__name__} itself. "
            f"Hint: build one, as in {layer.__name__}(...)."
        )
    if not callable(layer):
        raise CheckFailed(f"{what}: expected a layer (an nn.Module), got {type(layer).__name__} {layer!r}.")
    module = layer if isinstance(layer, nn.Module) else None
    parameter = next(iter(module.parameters()), None) if module is not None else None
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    device = parameter.device if parameter is not None and not parameter.is_meta else torch.device("cpu")
    inputs = torch.randn(2, *input_shape, dtype=dtype, device=device)

    modes = {m: m.training for m in module.modules()} if module is not None else {}
    trace = ForwardTrace(module, input_shape) if module is not None else None
    try:
        if module is not None:
            module.eval()  # no batch-norm statistics change, no dropout draws
        with torch.no_grad(), trace if trace is not None else nullcontext():
            output = layer(inputs)
    except CourseError as error:
        where = f"{what} refused a {fmt.shape(input_shape)} input: {error}"
        raise CheckFailed(_crashed(what, input_shape, where, hint)) from None
    except Exception as error:  # noqa: BLE001 - the student's layer broke: one sentence, no torch text
        if trace is None:
            where = f"{what} failed on a {fmt.shape(input_shape)} input: {type(error).__name__}"
        else:
            where = trace.explain(error, what)
        raise CheckFailed(_crashed(what, input_shape, where, hint)) from error
    finally:
        for submodule, flag in modes.items():
            submodule.training = flag

    if not isinstance(output, torch.Tensor):
        raise _fail(
            f"{what} output",
            f"a tensor of shape {fmt.shape(expected_shape)}",
            f"a {type(output).__name__}",
            hint or "forward() must return the output tensor.",
        )
    got = tuple(output.shape)
    if got[:1] != (2,):
        raise _fail(
            f"{what} output shape",
            f"a batch of 2 first, then {fmt.shape(expected_shape)}",
            "shape " + fmt.shape(got),
            hint or "keep the batch axis first: flatten with x.flatten(1) or nn.Flatten(), not x.flatten().",
        )
    if got[1:] != expected_shape:
        raise _fail(
            f"{what} output shape",
            fmt.shape(expected_shape),
            fmt.shape(got[1:]),
            hint or shape_hint(expected_shape, got[1:]),
        )
    text = f"{what}: {fmt.shape(input_shape)} → {fmt.shape(expected_shape)}"
    if params is not None:
        if module is None:
            raise CheckFailed(f"{what}: params= needs an nn.Module, got {type(layer).__name__}.")
        count = _param_count(module)
        if count != params:
            raise _fail(
                f"{what} parameters",
                f"{params:,}",
                f"{count:,} ({fmt.signed_count(count - params)})",
                hint or _PARAMS_HINT,
            )
        text += f", {count:,} parameters"
    _passed(text)
    return output


def _crashed(what: str, input_shape, where: str, hint: str | None) -> str:
    """A forward that raised: the check's own hint first (it knows the usual cause), then where it crashed.

    Without a hint, the sentence that says where it crashed is the whole message."""
    if not hint:
        return where
    where = where.split(" Hint: ")[0]  # the generic advice gives way to the check's own
    return f"{what} did not run on a {fmt.shape(input_shape)} input. Hint: {hint}\nWhere it crashed: {where}"


def check_layer_shapes(
    model: nn.Module, input_shape, reference: Sequence[tuple[str, Sequence[int]]], hint: str | None = None
) -> Summary:
    """Every layer's output shape against a reference table of (layer name, shape without batch).

    When every reference name is a module name of the model, layers are matched by name; otherwise
    by position, skipping layers that keep their input's shape (activations, dropout, norms) and
    flattens.
    The failure names the first layer whose output shape differs. Returns the summary.
    """
    summary = _summary_of(model, input_shape)
    shapes = summary.output_shapes()
    reference = [(name, tuple(shape)) for name, shape in reference]
    if all(name in shapes for name, _ in reference):
        pairs = [(name, name, shapes[name]) for name, _ in reference]
    else:
        rows = [r for r in summary.rows if r.kind and r.kind not in _SKIPPED_BY_POSITION]
        if len(rows) != len(reference):
            got = ", ".join(f"{r.name} ({r.kind})" for r in rows)
            raise CheckFailed(
                f"expected {len(reference)} shape-changing layers ({', '.join(n for n, _ in reference)}), "
                f"but the model has {len(rows)}: {got}. Hint: compare your layers with the table above."
            )
        pairs = [(name, row.name, row.output_shape) for (name, _), row in zip(reference, rows)]
    for (ref_name, expected), (_, layer_name, got) in zip(reference, pairs):
        if got != expected:
            where = f"layer '{layer_name}'" + (
                f" (the reference's {ref_name})" if layer_name != ref_name else ""
            )
            raise _fail(
                f"{where} output shape",
                fmt.shape(expected),
                fmt.shape(got),
                hint or shape_hint(expected, got),
            )
    _passed(f"all {len(reference)} layer shapes match, ending in {fmt.shape(summary.output_shape)}")
    return summary


def check_assembly(
    model: nn.Module,
    input_shape,
    what: str,
    *,
    params: int,
    macs: int | None = None,
    output_shape: Sequence[int] | None = None,
    hint: str | None = None,
) -> Summary:
    """A net built from stand-in blocks (``cnnlab.stand_ins``): its assembly, whatever the student's blocks are.

    ``params`` and ``macs`` are the counts the reference net has with the same stand-ins. A failure lists the blocks
    the net built, in order, and the parameters outside them, so the student compares them with the table in the
    text; a mistake inside a block never fails this check (the block's own check catches it).
    """
    stand_ins = [m for m in model.modules() if isinstance(m, StandIn)]
    if not stand_ins:
        raise CheckFailed(
            f"{what}: the net holds no stand-in block, so its assembly cannot be checked apart from its blocks. "
            "Hint: build the blocks from the block class (or the name) the builder is given, not from a copy."
        )
    count = _param_count(model)
    outside = count - sum(_param_count(m) for m in stand_ins)
    built = "; ".join(blocks_built(model))
    advice = hint or "compare each block's arguments and the layers around the blocks with the table above."
    if count != params:
        raise CheckFailed(
            f"{what}, built with stand-in blocks (each a 1×1 conv, so that only the assembly counts): expected "
            f"{params:,} parameters, got {count:,} ({fmt.signed_count(count - params)}). The blocks it built, in "
            f"order: {built}; the layers outside the blocks hold {outside:,} parameters. Hint: {advice}"
        )
    summary = _summary_of(model, input_shape, f"{what} (with stand-in blocks)", hint)
    if output_shape is not None and summary.output_shape != tuple(output_shape):
        raise _fail(f"{what} output shape", fmt.shape(output_shape), fmt.shape(summary.output_shape), hint)
    if macs is not None and summary.total_macs != macs:
        raise CheckFailed(
            f"{what}, built with stand-in blocks: expected {macs:,} MACs on a {fmt.shape(input_shape)} input, got "
            f"{summary.total_macs:,} ({fmt.signed_count(summary.total_macs - macs)}): the maps between the blocks "
            f"have other sizes. The blocks it built, in order: {built}. Hint: "
            + (hint or "compare the strides and pools around and inside the stages with the table above.")
        )
    _passed(
        f"{what}'s assembly: {len(stand_ins)} blocks, {outside:,} parameters outside them, as in the reference"
    )
    return summary


def check_learns(history, min_test_acc: float, min_loss_drop: float = 0.1, hint: str | None = None) -> None:
    """A training run learned: the loss fell and test accuracy cleared ``min_test_acc`` (a fraction).

    ``history`` is what ``cnnlab.fit`` returned. The loss must fall by at least ``min_loss_drop``
    (a fraction of the untrained model's loss), so a model stuck at chance fails even if lucky.
    """
    for attribute in ("test_acc", "train_loss", "initial_loss"):
        if not hasattr(history, attribute):
            raise CheckFailed(
                f"expected the History that cnnlab.fit returns, got {type(history).__name__}. "
                "Hint: history = fit(model, data) and pass that history."
            )
    if getattr(history, "diverged", False):
        raise CheckFailed(
            "the training run diverged (the loss became NaN or infinite), so the model learned nothing. "
            "Hint: look for a missing activation or a layer that blows up its input."
        )
    if not history.test_acc:
        raise CheckFailed(
            "the History holds no finished epoch: the training run stopped before the first one."
        )
    first, last = history.initial_loss, history.train_loss[-1]
    if not last < first * (1 - min_loss_drop):
        raise _fail(
            "training loss",
            f"to fall by at least {min_loss_drop:.0%} from {first:.3f}",
            f"{last:.3f}",
            hint
            or "a loss that does not fall means the gradient does not reach the weights, "
            "or the model's output does not depend on its input.",
        )
    acc = history.test_acc[-1]
    chance = 1 / history.num_classes if getattr(history, "num_classes", None) else None
    if acc < min_test_acc:
        expected = f"test accuracy ≥ {min_test_acc:.0%}" + (f" (chance is {chance:.0%})" if chance else "")
        raise _fail(
            "the training run",
            expected,
            f"{acc:.1%} after {len(history.test_acc)} epochs on {history.device}",
            hint
            or "a net stuck near chance usually has a bug in forward: a missing activation, "
            "a wrong flatten, or a constant output.",
        )
    _passed(
        f"the model learns: loss {first:.3f} → {last:.3f}, test accuracy {acc:.1%} ≥ {min_test_acc:.0%} "
        f"({history.device}, {history.total_seconds:.1f} s)"
    )


def check_raises(
    function,
    error_type=ConfigError,
    what: str = "an impossible configuration",
    *,
    message_starts_with: str | None = None,
    **kwargs,
) -> str:
    """``function(**kwargs)`` raises ``error_type`` with a non-empty message; returns the message.

    With ``message_starts_with="CONV1"`` the message must start with that text (case aside). It is one
    check: a ✓ only when everything holds, and a failure says what the message was.
    """
    try:
        function(**kwargs)
    except error_type as error:
        message = str(error).strip()
        if not message:
            raise CheckFailed(f"{what} raised {error_type.__name__}, but with an empty message.") from None
        prefix = message_starts_with
        if prefix is not None and not message.casefold().startswith(prefix.strip().casefold()):
            raise CheckFailed(
                f"{what} is refused, but the message should start with {prefix.strip()!r}; it reads: "
                f"{message!r}. Hint: begin the message with {prefix.strip()!r}."
            ) from None
        _passed(f"{what} is refused: {message}")
        return message
    except Exception as error:  # noqa: BLE001 - report what came instead
        raise _fail(what, f"{error_type.__name__}", f"{type(error).__name__}: {error}") from None
    raise _fail(what, f"{error_type.__name__} to be raised", "no error")


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):  # nested functions, comprehensions
            names |= _names_used(constant)
    return names


def check_own_work(function, toolkit_module: types.ModuleType, what: str | None = None) -> None:
    """``function`` does not call into ``toolkit_module`` (say, ``cnnlab.arithmetic``).

    For exercises that ask a student to write by hand what the toolkit already has. It looks at the
    globals the function's code refers to, including aliases such as ``from cnnlab.arithmetic import
    conv_output_size as f``.
    """
    what = what or f"{getattr(function, '__name__', 'your function')}"
    code = getattr(function, "__code__", None)
    if code is None:
        raise CheckFailed(
            f"{what}: expected a function written in the notebook, got {type(function).__name__}."
        )
    module_name = toolkit_module.__name__
    used = []
    for name in sorted(_names_used(code)):
        value = function.__globals__.get(name)
        origin = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        if origin and (origin == module_name or origin.startswith(module_name + ".")):
            used.append(name)
        elif value is not None and getattr(value, module_name.rsplit(".", 1)[-1], None) is toolkit_module:
            used.append(name)  # e.g. the cnnlab package, reached as cnnlab.arithmetic
    if used:
        raise CheckFailed(
            f"{what} calls {module_name} ({', '.join(used)}): this exercise asks you to write the formula "
            "yourself. Hint: use only plain Python arithmetic here; the toolkit comes afterwards."
        )
    _passed(f"{what} is your own work (it does not call {module_name})")
