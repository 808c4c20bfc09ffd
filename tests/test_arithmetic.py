"""cnnlab.arithmetic against PyTorch itself, plus the lecture's worked examples.

Every formula is checked on hundreds of random configurations against what torch actually does:
a forward pass for output sizes, the modules' parameter counts, FlopCounterMode for MACs and
autograd for receptive fields. Where torch refuses a configuration we must raise ConfigError,
and only there.
"""

import ast
import doctest
import inspect
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlab import arithmetic
from cnnlab.arithmetic import (
    ReceptiveField,
    activation_bytes,
    conv_macs,
    conv_output_shape,
    conv_output_size,
    conv_params,
    fits_exactly,
    linear_macs,
    linear_params,
    pool_output_shape,
    pool_output_size,
    receptive_field,
    receptive_field_of,
)
from cnnlab.errors import ConfigError

# derandomize: CI sees the same examples on every run; deadline: torch's first call is slow
many = settings(
    max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
some = settings(many, max_examples=300)
# ceil_mode and the refusals are where off-by-one mistakes hide: more examples
thorough = settings(many, max_examples=800)

TORCH_REFUSES = (RuntimeError, ValueError)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors gain nothing from threads, and on a busy machine waiting threads cost 50× the op."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_result(compute):
    """What torch computes, or None where it refuses the configuration."""
    try:
        return compute()
    except TORCH_REFUSES:
        return None


def our_result(compute):
    """What we compute, or None where we raise ConfigError (any other exception fails the test)."""
    try:
        return compute()
    except ConfigError:
        return None


def assert_same_outcome(ours, theirs):
    """Same result as torch, and ConfigError exactly where torch refuses."""
    expected = torch_result(theirs)
    event("torch refuses" if expected is None else "torch computes")  # --hypothesis-show-statistics
    assert our_result(ours) == expected


def int_or_pair(values):
    return st.one_of(values, st.tuples(values, values))


def as_pair(value):
    return value if isinstance(value, tuple) else (value, value)


def zeros(*shape):
    return torch.zeros(shape)


# --- conv output size -----------------------------------------------------------------------------------


@st.composite
def conv2d_configs(draw):
    groups = draw(st.integers(1, 3))
    return dict(
        hw=draw(int_or_pair(st.integers(1, 20))),
        kernel=draw(int_or_pair(st.integers(1, 9))),
        stride=draw(int_or_pair(st.integers(1, 4))),
        padding=draw(int_or_pair(st.integers(0, 4))),
        dilation=draw(int_or_pair(st.integers(1, 3))),
        groups=groups,
        in_channels=groups * draw(st.integers(1, 2)),
        out_channels=groups * draw(st.integers(1, 2)),
    )


def torch_conv2d_hw(config):
    (h, w), (kh, kw) = as_pair(config["hw"]), as_pair(config["kernel"])
    groups = config["groups"]
    out = F.conv2d(
        zeros(1, config["in_channels"], h, w),
        zeros(config["out_channels"], config["in_channels"] // groups, kh, kw),
        stride=config["stride"],
        padding=config["padding"],
        dilation=config["dilation"],
        groups=groups,
    )
    return tuple(out.shape[-2:])


@many
@given(conv2d_configs())
@example(dict(hw=3, kernel=7, stride=1, padding=1, dilation=1, groups=1, in_channels=1, out_channels=1))
def test_conv_output_shape_matches_conv2d(config):
    assert_same_outcome(
        lambda: conv_output_shape(
            config["hw"], config["kernel"], config["stride"], config["padding"], config["dilation"]
        ),
        lambda: torch_conv2d_hw(config),
    )


# A wider range than a working conv needs: zero and negative values, which torch must refuse as well.
@thorough
@given(
    size=st.integers(1, 16),
    kernel=st.integers(0, 6),
    stride=st.integers(-1, 4),
    padding=st.integers(-2, 3),
    dilation=st.integers(-1, 3),
)
def test_conv_output_size_matches_conv1d_and_refuses_what_it_refuses(size, kernel, stride, padding, dilation):
    assert_same_outcome(
        lambda: conv_output_size(size, kernel, stride, padding, dilation),
        lambda: F.conv1d(
            zeros(1, 1, size), zeros(1, 1, kernel), stride=stride, padding=padding, dilation=dilation
        ).shape[-1],
    )


@some
@given(
    size=st.integers(1, 20),
    kernel=st.integers(1, 9),
    stride=st.integers(1, 4),
    padding=st.integers(0, 4),
)
def test_fits_exactly_means_the_last_window_ends_on_the_padded_edge(size, kernel, stride, padding):
    out = torch_result(
        lambda: F.conv1d(zeros(1, 1, size), zeros(1, 1, kernel), stride=stride, padding=padding)
    )
    if out is None:
        with pytest.raises(ConfigError):
            fits_exactly(size, kernel, stride, padding)
    else:
        last_window_end = (out.shape[-1] - 1) * stride + kernel
        assert fits_exactly(size, kernel, stride, padding) == (last_window_end == size + 2 * padding)


# --- pool output size -----------------------------------------------------------------------------------


@st.composite
def pool2d_configs(draw, dilation=True):
    return dict(
        hw=draw(int_or_pair(st.integers(1, 28))),
        kernel=draw(int_or_pair(st.integers(1, 6))),
        stride=draw(st.none() | int_or_pair(st.integers(1, 4))),
        padding=draw(int_or_pair(st.integers(0, 2))),  # beyond kernel // 2 at times: torch refuses it
        dilation=draw(int_or_pair(st.integers(1, 3))) if dilation else 1,
        ceil_mode=draw(st.booleans()),
    )


@thorough
@given(pool2d_configs())
@example(dict(hw=5, kernel=2, stride=2, padding=0, dilation=1, ceil_mode=True))  # last window overhangs
@example(dict(hw=5, kernel=3, stride=2, padding=1, dilation=1, ceil_mode=True))  # and starts in the padding
def test_pool_output_shape_matches_maxpool2d(config):
    (h, w), rest = as_pair(config["hw"]), {k: v for k, v in config.items() if k != "hw"}
    pool = nn.MaxPool2d(rest.pop("kernel"), **rest)
    assert_same_outcome(
        lambda: pool_output_shape(**config), lambda: tuple(pool(zeros(1, 1, h, w)).shape[-2:])
    )


@thorough
@given(pool2d_configs(dilation=False))
def test_pool_output_shape_matches_avgpool2d(config):
    (h, w), rest = as_pair(config["hw"]), {k: v for k, v in config.items() if k not in ("hw", "dilation")}
    pool = nn.AvgPool2d(rest.pop("kernel"), **rest)
    assert_same_outcome(
        lambda: pool_output_shape(**config), lambda: tuple(pool(zeros(1, 1, h, w)).shape[-2:])
    )


@thorough
@given(
    size=st.integers(1, 24),
    kernel=st.integers(0, 6),
    stride=st.none() | st.integers(-1, 4),
    padding=st.integers(-1, 3),
    dilation=st.integers(0, 3),
    ceil_mode=st.booleans(),
)
def test_pool_output_size_matches_pool1d_and_refuses_what_it_refuses(
    size, kernel, stride, padding, dilation, ceil_mode
):
    def ours():
        return pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)

    x = zeros(1, 1, size)
    assert_same_outcome(ours, lambda: F.max_pool1d(x, kernel, stride, padding, dilation, ceil_mode).shape[-1])
    if dilation == 1:
        assert_same_outcome(ours, lambda: F.avg_pool1d(x, kernel, stride, padding, ceil_mode).shape[-1])


# --- parameters and MACs --------------------------------------------------------------------------------


@many
@given(
    in_channels=st.integers(1, 12),
    out_channels=st.integers(1, 12),
    kernel=int_or_pair(st.integers(1, 7)),
    groups=st.integers(1, 4),
    bias=st.booleans(),
)
def test_conv_params_matches_conv2d(in_channels, out_channels, kernel, groups, bias):
    def torch_params():
        conv = nn.Conv2d(in_channels, out_channels, kernel, groups=groups, bias=bias, device="meta")
        return sum(p.numel() for p in conv.parameters())

    assert_same_outcome(
        lambda: conv_params(in_channels, out_channels, kernel, groups=groups, bias=bias), torch_params
    )


@some
@given(in_features=st.integers(1, 5000), out_features=st.integers(1, 5000), bias=st.booleans())
def test_linear_params_matches_linear(in_features, out_features, bias):
    linear = nn.Linear(in_features, out_features, bias=bias, device="meta")
    assert linear_params(in_features, out_features, bias) == sum(p.numel() for p in linear.parameters())


def counted_macs(compute) -> int:
    with FlopCounterMode(display=False) as counter:
        compute()
    flops = counter.get_total_flops()
    assert flops % 2 == 0  # one multiply and one add per MAC
    return flops // 2


@many
@given(config=conv2d_configs(), bias=st.booleans())
def test_conv_macs_matches_flop_counter(config, bias):
    output_hw = torch_result(lambda: torch_conv2d_hw(config))
    assume(output_hw is not None)  # a conv torch refuses has no MACs; the shape tests cover the refusal
    (h, w), (kh, kw) = as_pair(config["hw"]), as_pair(config["kernel"])
    groups, in_channels, out_channels = config["groups"], config["in_channels"], config["out_channels"]
    expected = counted_macs(
        lambda: F.conv2d(
            zeros(1, in_channels, h, w),
            zeros(out_channels, in_channels // groups, kh, kw),
            zeros(out_channels) if bias else None,
            config["stride"],
            config["padding"],
            config["dilation"],
            groups,
        )
    )
    assert conv_macs(in_channels, out_channels, config["kernel"], output_hw, groups=groups) == expected


@some
@given(in_features=st.integers(1, 300), out_features=st.integers(1, 300), bias=st.booleans())
def test_linear_macs_matches_flop_counter(in_features, out_features, bias):
    linear = nn.Linear(in_features, out_features, bias=bias, device="meta")
    expected = counted_macs(lambda: linear(torch.empty(1, in_features, device="meta")))
    assert linear_macs(in_features, out_features) == expected


@some
@given(
    shape=st.lists(st.integers(0, 7), max_size=5),
    dtype=st.sampled_from([torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64]),
)
def test_activation_bytes_matches_tensor_nbytes(shape, dtype):
    nbytes = torch.empty(shape, dtype=dtype, device="meta").nbytes
    assert activation_bytes(shape, dtype.itemsize) == nbytes
    assert activation_bytes(tuple(shape), dtype) == nbytes


# --- receptive field ------------------------------------------------------------------------------------


def conv1d_of_ones(kernel, stride, dilation):
    conv = nn.Conv1d(1, 1, kernel, stride, dilation=dilation, bias=False, dtype=torch.float64)
    nn.init.ones_(conv.weight)  # all-positive weights: no input pixel's influence can cancel out
    return conv


layer_specs = st.lists(
    st.tuples(
        st.sampled_from(["conv", "avgpool", "relu"]),
        st.integers(1, 5),  # kernel
        st.integers(1, 3),  # stride
        st.integers(1, 3),  # dilation (convs only)
    ),
    min_size=1,
    max_size=5,
)


def measured_receptive_field(stack: nn.Module, length: int) -> tuple[int, int]:
    """(size, jump) read off autograd: which input pixels reach output units 0 and 1."""
    x = torch.ones(1, 1, length, dtype=torch.float64, requires_grad=True)
    out = stack(x)
    assert out.shape[-1] >= 2, "the input was too short to hold two output units"
    first_unit, second_unit = (
        torch.autograd.grad(out[0, 0, unit], x, retain_graph=True)[0][0, 0].nonzero().flatten()
        for unit in (0, 1)
    )
    size = int(first_unit[-1] - first_unit[0]) + 1
    return size, int(second_unit[0] - first_unit[0])


@some
@given(layer_specs)
@example([("conv", 3, 1, 1)] * 3)
def test_receptive_field_matches_autograd(specs):
    layers, geometry = [], []
    for kind, kernel, stride, dilation in specs:
        if kind == "conv":
            layers.append(conv1d_of_ones(kernel, stride, dilation))
            geometry.append((kernel, stride, dilation))
        elif kind == "avgpool":
            layers.append(nn.AvgPool1d(kernel, stride))
            geometry.append((kernel, stride))
        else:
            layers.append(nn.ReLU())  # not spatial: skipped by receptive_field_of
    stack = nn.Sequential(*layers)
    field = receptive_field_of(stack)
    assert field == receptive_field(geometry)
    # Our prediction only sizes the input; the margin keeps the check meaningful if it were wrong.
    assert measured_receptive_field(stack, field.size + 3 * field.jump + 7) == (field.size, field.jump)


def test_receptive_field_per_layer_lists_and_empty_stack():
    field = receptive_field([(3, 1), (2, 2), (3, 1, 2)])
    assert field == ReceptiveField(size=12, jump=2, sizes=[3, 4, 12], jumps=[1, 2, 2])
    assert receptive_field([]) == ReceptiveField(size=1, jump=1, sizes=[], jumps=[])


def test_receptive_field_accepts_objects_with_kernel_and_stride():
    layers = [SimpleNamespace(kernel=3, stride=1), SimpleNamespace(kernel_size=(2, 2), stride=None)]
    assert receptive_field(layers) == receptive_field([(3, 1), (2, 2)])
    assert receptive_field([nn.Conv2d(1, 1, 5, stride=2, dilation=2)]).size == 9


def vgg16() -> nn.Sequential:
    layers, channels = [], 3
    for width, depth in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(depth):
            layers += [nn.Conv2d(channels, width, 3, padding=1, device="meta"), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(nn.Sequential(*layers), nn.Flatten(), nn.Linear(512 * 7 * 7, 4096, device="meta"))


def test_receptive_field_of_vgg16_walks_nested_modules():
    field = receptive_field_of(vgg16())
    assert (field.sizes[-2], field.size, field.jump) == (196, 212, 32)  # conv5_3, pool5


def test_receptive_field_of_rejects_a_non_module():
    with pytest.raises(ConfigError, match="nn.Module"):
        receptive_field_of([(3, 1)])


# --- the lecture's worked examples ----------------------------------------------------------------------


def test_lecture_7x7_input_3x3_filter():
    assert conv_output_size(7, 3, stride=1) == 5
    assert conv_output_size(7, 3, stride=2) == 3
    assert fits_exactly(7, 3, 1) and fits_exactly(7, 3, 2)
    assert not fits_exactly(7, 3, 3)  # (7 - 3) / 3 + 1 = 2.33: stride 3 doesn't fit
    assert conv_output_size(7, 3, stride=3) == 2  # PyTorch rounds down and drops the last column


def test_lecture_32x32x3_input_ten_5x5_filters():
    assert conv_output_shape(32, 5, stride=1, padding=2) == (32, 32)
    assert conv_params(3, 10, 5) == 760  # 10 · (5·5·3 + 1)


def test_lecture_alexnet_conv1():
    assert conv_output_size(227, 11, stride=4) == 55
    assert conv_params(3, 96, 11) == 34_944
    assert activation_bytes((96, 55, 55)) == 96 * 55 * 55 * 4
    assert conv_macs(3, 96, 11, 55) == 105_415_200  # 290,400 outputs × 363 MACs each
    assert pool_output_size(55, 3, stride=2) == 27
    assert linear_params(256 * 6 * 6, 4096) == 37_752_832  # FC6


def test_lecture_alexnet_receptive_field():
    conv_pool = [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)]
    assert (receptive_field(conv_pool).size, receptive_field(conv_pool).jump) == (195, 32)


def test_lecture_three_3x3_convs_see_as_much_as_one_7x7_with_fewer_params():
    assert receptive_field([(3, 1)] * 3).size == receptive_field([(7, 1)]).size == 7
    channels = 64
    assert 3 * conv_params(channels, channels, 3, bias=False) == 27 * channels**2
    assert conv_params(channels, channels, 7, bias=False) == 49 * channels**2


def test_lecture_resnet_stem():
    assert conv_output_size(224, 7, stride=2, padding=3) == 112
    assert pool_output_size(112, 3, stride=2, padding=1) == 56


# --- errors ---------------------------------------------------------------------------------------------


def test_an_empty_output_is_explained_in_one_sentence():
    with pytest.raises(ConfigError) as error:
        conv_output_size(3, 7, padding=1)
    assert str(error.value) == (
        "kernel 7 is larger than the padded input 5 (input 3 + 2×padding 1): the output would be empty"
    )
    with pytest.raises(ConfigError, match=r"along the width, dilated kernel 5 \(kernel 3 with dilation 2\)"):
        conv_output_shape((8, 4), 3, dilation=2)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv_output_size(7, 3.0), r"kernel must be an int, but got 3\.0 \(float\)"),
        (lambda: conv_output_size(7, 3, stride=True), "stride must be an int"),
        (lambda: conv_output_size(7, 3, stride=0), "stride must be at least 1, but got 0"),
        (lambda: conv_output_size(7, 3, padding=-1), "padding must be at least 0, but got -1"),
        (lambda: conv_output_size("7", 3), "size must be an int"),
        (lambda: conv_output_shape((3, 32, 32), 3), r"but got \(3, 32, 32\): leave out the channel axis"),
        (lambda: conv_output_shape(32, (3, 0)), "kernel width must be at least 1"),
        (lambda: pool_output_size(8, 3, padding=2), r"more than half the pooling window 3 \(.* at most 1\)"),
        (lambda: pool_output_shape(8, (2, 3), padding=(1, 2)), "along the width, padding 2"),
        (lambda: conv_params(4, 6, 3, groups=4), "out_channels 6 cannot be split into 4 equal groups"),
        (lambda: conv_macs(6, 4, 3, (5, 5), groups=4), "in_channels 6 cannot be split into 4"),
        (lambda: linear_macs(0, 10), "in_features must be at least 1"),
        (lambda: activation_bytes(5), "shape must be a sequence of ints"),
        (lambda: activation_bytes((2, -1)), r"shape\[1\] must be at least 0"),
        (lambda: receptive_field([(3,)]), r"layer 0 must be a \(kernel, stride\)"),
        (lambda: receptive_field([object()]), "layer 0 must be a .* but got object"),
        (lambda: receptive_field([(3, 0)]), "layer 0 stride must be at least 1"),
        (lambda: fits_exactly(3, 5, 1), "kernel 5 is larger than the input 3"),
    ],
)
def test_bad_arguments_raise_config_error(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_integer_like_values_are_accepted():
    assert conv_output_size(torch.tensor(7), np.int64(3)) == 5
    assert activation_bytes(torch.Size([2, 3]), torch.float16) == 12


# --- the module itself ----------------------------------------------------------------------------------


def test_docstring_examples():
    assert doctest.testmod(arithmetic).failed == 0


def imported_modules(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return []


def test_torch_is_imported_only_inside_receptive_field_of():
    tree = ast.parse(inspect.getsource(arithmetic))
    torch_imports = [
        node for node in ast.walk(tree) if any(name.startswith("torch") for name in imported_modules(node))
    ]
    function = next(node for node in tree.body if getattr(node, "name", None) == "receptive_field_of")
    assert torch_imports and set(torch_imports) <= set(ast.walk(function))


def test_all_lists_every_public_function_and_class():
    defined_here = {
        name
        for name, value in vars(arithmetic).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == arithmetic.__name__
    }
    assert defined_here == set(arithmetic.__all__)


# --- layer=: a refusal names its layer (issue 9, item 7) -------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv_output_size(5, 7, layer="C3"), "C3: kernel 7 is larger than the input 5: the output would be empty"),
        (lambda: pool_output_size(1, 3, 2, layer="POOL3"), "POOL3: pooling window 3 is larger than the input 1: the output would be empty"),
        (lambda: conv_output_shape((5, 9), 7, layer="C3"), "C3: along the height, kernel 7 is larger than the input 5"),
        (lambda: pool_output_shape(2, 3, layer="S4"), "S4: along the height, pooling window 3 is larger than the input 2"),
        (lambda: fits_exactly(5, 7, 1, layer="C3"), "C3: kernel 7 is larger than the input 5"),
        (lambda: conv_output_size(32, 0, layer="C1"), "C1: kernel must be at least 1, but got 0"),
    ],
)  # fmt: skip
def test_size_functions_name_the_layer_they_refuse(call, message):
    with pytest.raises(ConfigError) as error:
        call()
    assert str(error.value).startswith(message), str(error.value)


def test_layer_names_change_nothing_else():
    assert conv_output_size(32, 5, layer="C1") == conv_output_size(32, 5) == 28
    assert pool_output_size(28, 2, layer="S2") == 14 and conv_output_shape(32, 5, layer="C1") == (28, 28)
    with pytest.raises(ConfigError, match="kernel 7 is larger") as error:
        conv_output_size(5, 7)
    assert str(error.value).startswith("kernel 7"), "without a layer, the message is unchanged"
    with pytest.raises(ConfigError, match="layer must be the layer's name"):
        conv_output_size(32, 5, layer=3)
