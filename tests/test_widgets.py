"""explore(): the explorer's logic, driven from Python without a browser, and one headless notebook run."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch
from course import explorer_cell, solution_code
from nbclient import NotebookClient
from torch import nn

from cnnlab import explore, fmt
from cnnlab.arithmetic import conv_output_size
from cnnlab.errors import ConfigError
from cnnlab.summary import summarize, summary_html
from cnnlab.widgets import choices

REPO = Path(__file__).resolve().parents[1]
SHAPE = (3, 32, 32)
TINT = "#fff3c4"  # summary_html's highlight


def net(kernel=3, stride=1, filters=8, pool="max"):
    """Two convs: kernel/stride/filters shape the first, pool the pooling between them."""
    pooling = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
    return nn.Sequential(
        nn.Conv2d(3, filters, kernel, stride), nn.ReLU(), pooling, nn.Conv2d(filters, 16, 3), nn.ReLU()
    )


def real(**kwargs):
    """The summary of net(**kwargs), built on the CPU: what the explorer must agree with."""
    return summarize(net(**kwargs), SHAPE)


@pytest.fixture
def explorer():
    return explore(
        net, input_shape=SHAPE, kernel=(1, 11), stride=(1, 20), filters=[4, 8, 16], pool=["max", "avg"]
    )


def test_initial_table_is_the_baseline(explorer):
    assert explorer.values == {"kernel": 3, "stride": 1, "filters": 8, "pool": "max"}
    assert explorer.summary == real() == explorer.baseline_summary
    assert explorer.table_html == summary_html(real())  # nothing highlighted
    assert explorer.message == ""
    assert explorer.diff.params.delta == 0 and explorer.diff.changed_layers == ()
    assert f"{real().total_params:,}" in explorer.table_html


def test_set_updates_table_chart_and_diff(explorer):
    explorer.set(kernel=5)
    after, before = real(kernel=5), real()
    assert explorer.summary == after
    assert explorer.table_html == summary_html(after, highlight=explorer.diff.changed_layers)
    assert TINT in explorer.table_html
    assert fmt.count(after.row("0").params) in explorer.chart_html
    assert explorer.chart_html != explore(net, input_shape=SHAPE, kernel=(1, 11)).chart_html
    diff = explorer.diff
    assert (diff.params.before, diff.params.after) == (before.total_params, after.total_params)
    assert diff.params.delta == 8 * 3 * (25 - 9)
    assert diff.macs.delta == after.total_macs - before.total_macs
    assert diff.activations.after == after.activation_bytes
    assert "0" in diff.changed_layers  # conv1's params changed
    assert f"({fmt.signed_count(diff.params.delta)}, ×{diff.params.ratio:.2f})" in diff.params.text()
    assert diff.params.text() in explorer.diff_html


def test_moving_a_slider_updates_through_observe(explorer):
    explorer.controls["kernel"].value = 7
    assert explorer.values["kernel"] == 7
    assert explorer.summary == real(kernel=7)
    assert f"{real(kernel=7).total_params:,}" in explorer.table_html


def test_changing_only_the_second_layer_highlights_what_changed(explorer):
    explorer.set(filters=16)
    # conv1's maps get deeper; conv2's params change, its output shape does not
    assert set(explorer.diff.changed_layers) == {"0", "1", "2", "3"}
    explorer.set(filters=8)
    assert explorer.diff.changed_layers == ()


@pytest.mark.parametrize(
    "change, words",
    [
        (
            {"stride": 20},
            ["layer '3'", "3×3 kernel is larger than its 1×1 input"],
        ),  # too small for conv2's 3×3
        ({"kernel": 11, "stride": 10}, ["layer '3'"]),
    ],
)
def test_a_vanishing_map_gives_a_sentence_naming_the_layer(explorer, change, words):
    good_table = explorer.table_html
    explorer.set(**change)  # no exception escapes
    assert explorer.summary is None and explorer.diff is None
    for word in words:
        assert word in explorer.message
    assert "Traceback" not in explorer.message and "\n" not in explorer.message
    assert "cannot work" in explorer.widget.children[1].value  # the message area
    # the last good table stays, greyed
    assert "opacity" in explorer.table_html and good_table in explorer.table_html
    explorer.set(stride=1, kernel=3)
    assert explorer.message == "" and explorer.summary == real()
    assert explorer.table_html == good_table


def test_a_kernel_larger_than_its_input(explorer):
    explorer.set(kernel=11)
    explore_big = explore(net, input_shape=(3, 8, 8), kernel=(1, 11))
    explore_big.controls["kernel"].value = 9
    assert explore_big.message.startswith(
        "layer '0' (Conv2d 3→8, 9×9 /1 p0): its 9×9 kernel is larger than its 8×8"
    )
    explore_big.controls["kernel"].value = 3  # back: works again
    assert explore_big.message == "" and explore_big.summary is not None


def test_choice_controls(explorer):
    explorer.set(pool="avg")
    assert "AvgPool2d" in explorer.table_html and explorer.diff.macs.delta == 0
    explorer.controls["pool"].value = "max"
    assert "MaxPool2d" in explorer.table_html
    explorer.set(filters=16)
    assert explorer.summary == real(filters=16)
    with_choices = explore(net, input_shape=SHAPE, kernel=choices([1, 3, 5]))
    with_choices.controls["kernel"].value = 5
    assert with_choices.summary == real(kernel=5)


def test_input_size_changes_the_input_and_reaches_a_builder_that_takes_it():
    def sized(input_size=32, k=3):
        side = input_size - k + 1
        return nn.Sequential(nn.Conv2d(3, 4, k), nn.Flatten(), nn.Linear(4 * side * side, 10))

    explorer = explore(sized, input_size=(16, 64, 8))
    assert explorer.values == {"input_size": 32} and explorer.summary.input_shape == (3, 32, 32)
    explorer.set(input_size=48)
    assert explorer.message == ""  # the Linear was built for 48 too
    assert explorer.summary.input_shape == (3, 48, 48) and explorer.diff.params.delta > 0

    plain = explore(net, input_shape=SHAPE, input_size=(16, 64, 16))  # net has no input_size argument
    plain.set(input_size=64)
    assert plain.summary == summarize(net(), (3, 64, 64))


def test_baseline_overrides_the_builders_defaults():
    explorer = explore(net, input_shape=SHAPE, baseline={"kernel": 5, "filters": 4}, kernel=(1, 7, 2))
    assert explorer.values == {"kernel": 5} and explorer.baseline_summary == real(kernel=5, filters=4)
    explorer.set(kernel=3)
    assert explorer.summary == real(kernel=3, filters=4) and explorer.diff.params.delta < 0
    explorer.widget.children[0].children[-1].click()  # "back to baseline"
    assert explorer.values == {"kernel": 5} and explorer.diff.params.delta == 0


def test_the_model_is_built_on_the_meta_device():
    devices = []

    def recording(kernel=3):
        model = net(kernel=kernel)
        devices.append(next(model.parameters()).device)
        return model

    explore(recording, input_shape=SHAPE, kernel=(1, 5)).set(kernel=5)
    assert devices == [torch.device("meta")] * 2


def picky(kernel=3):
    """A builder that cannot build an even kernel, and says so in two lines (the explorer shows the first)."""
    if kernel % 2 == 0:
        raise RuntimeError("even kernels have no centre\nsecond line")
    return net(kernel=kernel)


def test_a_builder_that_raises_gives_a_sentence():
    explorer = explore(picky, input_shape=SHAPE, kernel=(1, 7))
    explorer.set(kernel=4)
    assert explorer.message == "picky(kernel=4) raised RuntimeError: even kernels have no centre"
    explorer.set(kernel=5)
    assert explorer.message == "" and explorer.summary == real(kernel=5)

    explorer = explore(lambda kernel=3: None if kernel > 3 else net(), input_shape=SHAPE, kernel=(1, 7))
    explorer.set(kernel=5)
    assert "returned NoneType, not an nn.Module" in explorer.message


def grouped_net(groups=1):
    c1 = nn.Conv2d(3, 6, 5)
    c3 = nn.Conv2d(6, 16, 5, groups=groups)  # 6 channels cannot be split into 4 groups
    return nn.Sequential(c1, nn.MaxPool2d(2), c3)


def test_a_builder_that_breaks_inside_torch_shows_its_own_line_of_code():
    """Every refusal names its layer (issue 9, item 7): here through the line that builds it."""
    explorer = explore(grouped_net, input_shape=SHAPE, groups=(1, 4))
    explorer.set(groups=4)
    assert explorer.message == (
        "grouped_net(groups=4) raised ValueError at `c3 = nn.Conv2d(6, 16, 5, groups=groups)  "
        "# 6 channels cannot be split into 4 groups`: in_channels must be divisible by groups"
    )


def sized_net(kernel=3, input_size=32):
    size = conv_output_size(input_size, kernel)  # C1
    size = conv_output_size(size, kernel)  # C3
    return nn.Sequential(nn.Conv2d(3, 4, kernel), nn.Conv2d(4, 4, kernel))


def test_a_refusal_without_a_layer_name_shows_the_builders_line():
    explorer = explore(sized_net, input_shape=SHAPE, kernel=(3, 11), input_size=(8, 32))
    explorer.set(kernel=5, input_size=8)  # C1 leaves 4×4, too small for C3's 5×5
    assert explorer.message == (
        "kernel 5 is larger than the input 4: the output would be empty "
        "(at `size = conv_output_size(size, kernel)  # C3`)"
    )


@pytest.mark.parametrize(
    "builder_error, expected",
    [
        (ConfigError("C3: kernel 7 is larger than the input 5: the output would be empty"), "C3: kernel 7"),
    ],
)
def test_a_builders_own_refusal_is_shown_as_it_is(builder_error, expected):
    def lenet(kernel_size=5):
        if kernel_size == 7:
            raise builder_error
        return net(kernel=kernel_size)

    explorer = explore(lenet, input_shape=SHAPE, kernel_size=(3, 7))
    explorer.set(kernel_size=7)
    assert explorer.message.startswith(expected)


def test_a_forward_that_fails_in_the_explorer_names_the_module_in_a_sentence():
    def too_narrow(width=8):
        return nn.Sequential(nn.Conv2d(3, width, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))

    explorer = explore(too_narrow, input_shape=SHAPE, width=[8, 16])
    explorer.set(width=16)
    assert explorer.message == (
        "layer '2' (Linear 7200→10) takes 7,200 input features, but its input has 14,400 (16×30×30). "
        "Hint: in_features must equal channels × height × width of what comes in."
    )


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"kernal": (1, 5)}, ["'kernal'", "did you mean 'kernel'"]),
        ({"kernel": (7, 3)}, ["empty range", "min 7", "max 3"]),
        ({"kernel": (5, 11)}, ["kernel starts at 3", "build's default", "5, 6, ..., 11"]),
        ({"kernel": (1, 11, 2), "baseline": {"kernel": 4}}, ["starts at 4", "baseline"]),
        ({"kernel": (3, 5, 7)}, ["(min, max, step)", "[3, 5, 7]"]),
        ({"kernel": (1, 2, 3, 4)}, ["a list", "[1, 2, 3, 4]"]),
        ({"kernel": (1, 5, 0)}, ["step should be at least 1"]),
        ({"kernel": 5}, ["not a control"]),
        ({"kernel": []}, ["not a control"]),
        ({"pool": ["avg"]}, ["'max'", "build's default", "'avg'"]),
        ({"baseline": {"widht": 3}}, ["'widht'", "not an argument"]),
        ({"baseline": {"kernel": 40}}, ["baseline", "net(kernel=40)", "layer '0'"]),
        ({"input_shape": (3, 0, 32)}, ["input_shape"]),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, words):
    with pytest.raises(ConfigError) as raised:
        explore(net, **{"input_shape": SHAPE, **kwargs})
    for word in words:
        assert word in str(raised.value)


def test_other_bad_calls_raise_config_error(explorer):
    with pytest.raises(ConfigError, match="not a model"):
        explore(net())
    with pytest.raises(ConfigError, match="a function that builds a model"):
        explore("vgg")
    with pytest.raises(ConfigError, match="no default"):
        explore(lambda kernel, stride=1: net(kernel, stride), input_shape=SHAPE, stride=(1, 2))
    with pytest.raises(ConfigError, match="not offered"):
        explorer.set(kernel=12)
    with pytest.raises(ConfigError, match="no control 'width'"):
        explorer.set(width=3)
    with pytest.raises(ConfigError, match="at least one"):
        choices([])
    assert explorer.summary == real()  # a refused set() changes nothing


def test_it_displays_as_a_widget_with_a_static_copy(explorer):
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert explorer.table_html in bundle["text/html"]
    assert "Explorer(net(kernel=3" in bundle["text/plain"]


NOTEBOOK_CELL = """\
from torch import nn
from cnnlab import explore

def tiny(kernel=3, filters=4):
    return nn.Sequential(nn.Conv2d(3, filters, kernel), nn.ReLU(), nn.MaxPool2d(2))

explore(tiny, input_shape=(3, 16, 16), kernel=(1, 7, 2), filters=[4, 8])"""


def test_an_explore_cell_runs_headless_without_hanging():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CELL)])
    client = NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute()  # raises CellExecutionError or a timeout on failure

    # the widget, then the diagram's static copy (for viewers that cannot render the widget)
    widget, static = notebook.cells[0].outputs
    data = widget["data"]
    assert "application/vnd.jupyter.widget-view+json" in data
    expected = f"{summarize(nn.Sequential(nn.Conv2d(3, 4, 3)), (3, 16, 16)).total_params:,}"
    assert "cnnlab-summary" in data["text/html"] and expected in data["text/html"]
    assert "cnnlab-diagram" not in data["text/html"]  # the diagram is in the static copy, once
    assert 'class="cnnlab-diagram"' in static["data"]["text/html"]
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any("cnnlab-summary" in str(model["state"].get("value", "")) for model in state.values())
    assert any("cnnlab-diagram" in str(model["state"].get("value", "")) for model in state.values())


# --- notebook 03's explorer: the notebook's own cell, over the reference AlexNetFamily -----------------
ZFNET_NOTEBOOK = "03_zfnet/zfnet.ipynb"
ZFNET_SETTINGS = dict(
    conv1_kernel=7, conv1_stride=2, conv2_stride=2, conv3_filters=512, conv4_filters=1024, conv5_filters=512
)


@pytest.fixture(scope="module")
def family_namespace():
    return solution_code(ZFNET_NOTEBOOK, "family_class")


@pytest.fixture
def zfnet_explorer(family_namespace):
    """The explorer exactly as notebook 03's explore cell builds it."""
    return eval(explorer_cell(ZFNET_NOTEBOOK), dict(family_namespace))


def family_summary(family_namespace, **settings):
    return summarize(family_namespace["AlexNetFamily"](**settings), (3, 227, 227))


def test_zfnet_explorer_starts_at_alexnet(zfnet_explorer, family_namespace):
    assert zfnet_explorer.summary == family_summary(family_namespace)
    assert zfnet_explorer.summary.total_params == 62_378_344
    assert "62,378,344" in zfnet_explorer.table_html and zfnet_explorer.message == ""
    assert set(ZFNET_SETTINGS) <= set(zfnet_explorer.controls)  # every ZFNet change is one control away
    assert "input_size" in zfnet_explorer.controls


def test_zfnet_sliders_update_the_table_and_the_difference(zfnet_explorer, family_namespace):
    zfnet_explorer.controls["conv1_kernel"].value = 7  # as a student drags the sliders, one at a time
    zfnet_explorer.controls["conv1_stride"].value = 2
    slide_only = family_summary(family_namespace, conv1_kernel=7, conv1_stride=2)
    assert zfnet_explorer.summary == slide_only
    assert (
        "96×111×111" in zfnet_explorer.table_html
        and f"{slide_only.total_params:,}" in zfnet_explorer.table_html
    )
    assert zfnet_explorer.diff.params.after == slide_only.total_params > 200_000_000  # FC6 explodes
    assert "features.0" in zfnet_explorer.diff.changed_layers

    # move() keeps the sliders moved above (set() would start again from the baseline)
    zfnet_explorer.move(conv2_stride=2, conv3_filters=512, conv4_filters=1024, conv5_filters=512)
    assert zfnet_explorer.summary.total_params == 107_627_624
    assert zfnet_explorer.summary.row("features.14").output_shape == (512, 6, 6)
    diff = zfnet_explorer.diff
    assert (diff.params.before, diff.params.after) == (62_378_344, 107_627_624)
    assert diff.macs.after == family_summary(family_namespace, **ZFNET_SETTINGS).total_macs
    assert "62.4M → 108M" in zfnet_explorer.diff_html
    assert fmt.count(diff.macs.after) in zfnet_explorer.diff_html


def test_an_impossible_zfnet_setting_names_the_layer(zfnet_explorer, family_namespace):
    good_table = zfnet_explorer.table_html
    # 163 -> CONV1 (11×11 /6) 26 -> POOL1 12 -> CONV2 (/3) 4 -> POOL2 1 -> POOL3 has no 3×3 window left
    zfnet_explorer.set(conv1_stride=6, conv2_stride=3, input_size=163)
    assert zfnet_explorer.summary is None
    assert zfnet_explorer.message.startswith("POOL3")
    assert "larger than the input 1" in zfnet_explorer.message and "Traceback" not in zfnet_explorer.message
    assert zfnet_explorer.message in zfnet_explorer.widget.children[1].value  # shown in the message area
    assert "opacity" in zfnet_explorer.table_html and good_table in zfnet_explorer.table_html
    zfnet_explorer.controls["conv2_stride"].value = 1  # one slider back: it works again
    assert zfnet_explorer.message == ""
    assert zfnet_explorer.summary == summarize(
        family_namespace["AlexNetFamily"](conv1_stride=6, input_size=163), (3, 163, 163)
    )


# --- every explorer refusal in notebooks 01-03 names its layer (issue 9, item 7) ---------------------
NAMES_A_LAYER = re.compile(
    r"^[A-Z]{1,5}\d|layer '"
)  # "C3: ...", "POOL3 cannot work ...", "layer '6' (Conv2d ...)"
EXPLORERS = {  # notebook: (the grade id of its builder class, a setting that must be refused)
    "01_lenet/lenet.ipynb": ("lenet_class", {"kernel_size": 7, "input_size": 16}),  # C3's 7×7 on a 5×5 map
    "02_alexnet/alexnet.ipynb": ("alexnet_class", None),  # every setting its sliders offer works
    "03_zfnet/zfnet.ipynb": ("family_class", {"conv1_stride": 6, "conv2_stride": 3, "input_size": 163}),
}


def corner_settings(explorer):
    """Each control at each end of its range, alone and with the smallest input."""
    ends = {}
    for name, control in explorer.controls.items():
        options = [value for _, value in control.options] if hasattr(control, "options") else None
        ends[name] = [options[0], options[-1]] if options else [control.min, control.max]
    smallest_input = {"input_size": ends["input_size"][0]} if "input_size" in ends else {}
    for name, values in ends.items():
        for value in values:
            yield {name: value}
            yield {**smallest_input, name: value}


@pytest.mark.parametrize(
    "notebook",
    [
        "01_lenet/lenet.ipynb",
        "02_alexnet/alexnet.ipynb",
        "03_zfnet/zfnet.ipynb",
    ],
)
def test_every_explorer_refusal_names_its_layer(notebook):
    grade_id, must_refuse = EXPLORERS[notebook]
    explorer = eval(explorer_cell(notebook), dict(solution_code(notebook, grade_id)))
    refusals = {}
    settings = [*corner_settings(explorer), *([must_refuse] if must_refuse else [])]
    for setting in settings:
        explorer.reset().set(**setting)
        if explorer.message:
            refusals[str(setting)] = explorer.message
    if must_refuse:
        assert str(must_refuse) in refusals, f"{must_refuse} should be refused"
    unnamed = {setting: message for setting, message in refusals.items() if not NAMES_A_LAYER.search(message)}
    assert unnamed == {}


# --- notebook 05's explorer: one Inception module, the notebook's own cell over the reference classes ---------
GOOGLENET_NOTEBOOK = "05_googlenet/googlenet.ipynb"


@pytest.fixture(scope="module")
def inception_namespace():
    return solution_code(
        GOOGLENET_NOTEBOOK, "naive_module", "conv_bn", "inception_module", "explorer_builder"
    )


@pytest.fixture
def inception_explorer(inception_namespace):
    """The explorer exactly as notebook 05's explore cell builds it."""
    return eval(explorer_cell(GOOGLENET_NOTEBOOK), dict(inception_namespace))


def module_summary(namespace, in_channels=256, design="bottleneck", **widths):
    widths = dict(ch1x1=128, ch3x3_reduce=64, ch3x3=192, ch5x5_reduce=64, ch5x5=96, pool_proj=64) | widths
    if design == "naive":
        module = namespace["NaiveInception"](in_channels, widths["ch1x1"], widths["ch3x3"], widths["ch5x5"])
    else:
        module = namespace["Inception"](in_channels, **widths)
    return summarize(module, (in_channels, 28, 28))


def test_inception_explorer_starts_at_the_lectures_module(inception_explorer, inception_namespace):
    summary = inception_explorer.summary
    assert summary.output_shape == (480, 28, 28) and summary.total_macs == 271_351_808
    assert summary.total_params == module_summary(inception_namespace).total_params
    assert set(inception_explorer.controls) == {
        "in_channels", "ch1x1", "ch3x3_reduce", "ch3x3", "ch5x5_reduce", "ch5x5", "pool_proj", "design"
    }  # fmt: skip
    assert "480×28×28" in inception_explorer.table_html and inception_explorer.message == ""


def test_inception_explorer_naive_against_bottleneck(inception_explorer, inception_namespace):
    inception_explorer.controls["design"].value = "naive"
    summary = inception_explorer.summary
    assert summary.output_shape == (672, 28, 28) and summary.total_macs == 854_196_224
    diff = inception_explorer.diff
    assert (diff.macs.before, diff.macs.after) == (271_351_808, 854_196_224)
    assert "271M → 854M" in inception_explorer.diff_html
    inception_explorer.move(in_channels=512)  # still naive; its output keeps the input's depth
    assert inception_explorer.summary.output_shape == (128 + 192 + 96 + 512, 28, 28)
    naive_512 = module_summary(inception_namespace, 512, "naive")
    assert inception_explorer.summary.total_macs == naive_512.total_macs
    assert inception_explorer.summary.total_params == naive_512.total_params


def test_inception_explorer_widths_and_input_depth(inception_explorer, inception_namespace):
    inception_explorer.set(in_channels=832, ch3x3_reduce=128, pool_proj=128)
    expected = module_summary(inception_namespace, 832, ch3x3_reduce=128, pool_proj=128)
    assert inception_explorer.summary.total_macs == expected.total_macs
    assert inception_explorer.summary.total_params == expected.total_params
    assert inception_explorer.summary.output_shape == (128 + 192 + 96 + 128, 28, 28)
    assert inception_explorer.diff.macs.after == expected.total_macs > 271_351_808
    inception_explorer.controls["ch5x5"].value = 16
    assert inception_explorer.summary.output_shape == (128 + 192 + 16 + 128, 28, 28)


# --- the explorer's memory of blocks: replayed rows are the rows a fresh summary gives --------------------------
class _Stage(nn.Module):
    """Residual blocks of one width; ``pool`` is a plain attribute read in forward (part of a block's signature)."""

    def __init__(self, channels: int, blocks: int, pool: int):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False) for _ in range(blocks)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(blocks))
        self.pool = pool

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = x + torch.relu(norm(conv(x)))
        return nn.functional.max_pool2d(x, self.pool)


def _staged(width=8, blocks=3, stages=2, pool=2):
    layers = [nn.Conv2d(3, width, 3, padding=1)]
    layers += [_Stage(width, blocks, pool) for _ in range(stages)]
    return nn.Sequential(*layers, nn.Flatten())


def test_an_explorer_that_replays_remembered_blocks_shows_what_a_fresh_summary_shows():
    explorer = explore(
        _staged, input_shape=(3, 32, 32), width=[8, 16], blocks=(1, 4), stages=(1, 3), pool=[1, 2]
    )
    moves = [
        dict(blocks=4),
        dict(width=16),
        dict(stages=3, pool=1),
        dict(width=8),
        dict(blocks=3, stages=2, pool=2),
    ]
    for move in moves * 2:  # the second round replays blocks remembered from the first
        explorer.set(**move)
        with torch.device("meta"):
            fresh = summarize(_staged(**explorer.config), (3, 32, 32))
        assert explorer.summary == fresh, move
    assert len(explorer._blocks.records) > 0  # it did remember blocks


def test_the_meta_build_skips_initialising_meta_tensors_only():
    """The explorer's build skips nn.init on meta tensors (they hold nothing); a tensor with data is initialised."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class InPlaceFills(TorchDispatchMode):
        """The in-place fills that reach torch's kernels, with the device of the tensor each fills."""

        def __init__(self):
            super().__init__()
            self.fills = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if name in ("uniform_", "normal_", "fill_", "zero_"):
                self.fills.append((name, args[0].device.type))
            return func(*args, **(kwargs or {}))

    seen = {}

    def initialising(kernel=3):
        model = nn.Sequential(nn.Conv2d(3, 4, kernel), nn.BatchNorm2d(4))
        nn.init.kaiming_normal_(model[0].weight)
        seen["default device"] = torch.get_default_device()
        own = torch.empty(3, device="cpu")
        nn.init.constant_(own, 2.5)
        own[1:].fill_(1.5)
        seen["own values"] = own.tolist()
        return model

    explorer = explore(initialising, input_shape=SHAPE, kernel=(1, 5))
    with InPlaceFills() as kernels:
        explorer.set(kernel=5)
    assert kernels.fills == [("fill_", "cpu"), ("fill_", "cpu")]  # the builder's own tensor, nothing on meta
    assert seen == {"default device": torch.device("meta"), "own values": [2.5, 1.5, 1.5]}
    assert explorer.summary.total_params == 4 * 3 * 25 + 4 + 2 * 4
    with InPlaceFills() as kernels, torch.device("meta"):
        initialising()  # the same build outside the explorer initialises every tensor
    assert ("uniform_", "meta") in kernels.fills and ("normal_", "meta") in kernels.fills
    assert ("fill_", "meta") in kernels.fills and ("zero_", "meta") in kernels.fills


# --- moves from code: set() starts from the baseline, move() keeps earlier moves, each() skips refusals -------
def test_set_starts_from_the_baseline_and_move_keeps_earlier_moves(explorer):
    explorer.set(kernel=5)
    explorer.set(filters=16)  # kernel goes back to 3: a line labelled {'filters': 16} shows that alone
    assert explorer.values == {"kernel": 3, "stride": 1, "filters": 16, "pool": "max"}
    assert explorer.summary == real(filters=16)
    explorer.move(kernel=5)  # keeps filters=16
    assert explorer.summary == real(kernel=5, filters=16)
    explorer.move(pool="avg").move(stride=2)
    assert explorer.config == {"kernel": 5, "stride": 2, "filters": 16, "pool": "avg"}
    assert explorer.reset().summary == real() and explorer.diff.changed_layers == ()


def test_each_move_starts_from_the_baseline_and_a_refused_one_is_printed_not_yielded(explorer, capsys):
    moves = [("wider", dict(filters=16)), dict(kernel=5), ("too far", dict(stride=20)), dict(pool="avg")]
    seen = []
    baseline = dict(explorer.config)
    for label, move in explorer.each(moves):  # reading .summary never meets None
        assert explorer.config == {**baseline, **move}  # this move alone
        seen.append((label, explorer.summary.total_params, explorer.summary.total_macs))
    assert seen == [
        ("wider", real(filters=16).total_params, real(filters=16).total_macs),
        ("{'kernel': 5}", real(kernel=5).total_params, real(kernel=5).total_macs),
        ("{'pool': 'avg'}", real(pool="avg").total_params, real(pool="avg").total_macs),
    ]
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("too far: cannot work: ") and "layer '" in printed
    assert printed.count("\n") == 0  # one line: the label and the sentence, no traceback


# --- the live diagram ---------------------------------------------------------------------------------------
def test_the_explorer_shows_the_diagram_of_its_configuration_and_marks_what_changed(explorer):
    assert explorer.baseline_diagram is not None and explorer.diagram.summary == explorer.summary
    assert not any(n.changed for n in explorer.diagram.nodes)
    assert 'class="cnnlab-diagram"' in explorer.diagram_html and explorer.diagram.svg in explorer.diagram_html
    assert explorer.widget.children[-1].value == explorer.diagram_html  # under the table
    explorer.set(filters=16)
    diagram = explorer.diagram
    assert [n.name for n in diagram.nodes if n.changed] == [
        "0",
        "1",
        "2",
        "3",
    ]  # the second conv takes 16 maps
    assert diagram.node("3").params == real(filters=16).row("3").params
    assert diagram.svg in explorer.diagram_html and 'class="node changed"' in explorer.diagram_html
    explorer.set()
    assert not any(n.changed for n in explorer.diagram.nodes)


def test_a_refused_configuration_draws_up_to_the_failing_layer_with_the_explorers_message(explorer):
    explorer.set(stride=20)  # 32 -> conv /20: 2 -> pool: 1, under the second conv's 3×3 kernel
    failed = explorer.diagram.failed
    assert failed is not None and failed.failed == explorer.message == explorer.diagram.message
    assert (
        failed.name == "3"
        and explorer.message.startswith("layer '3'")
        and "opacity" not in explorer.diagram_html
    )
    assert 'class="node failed"' in explorer.diagram_html
    explorer.set(kernel=5)
    assert explorer.diagram.failed is None and explorer.diagram.summary == real(kernel=5)


def test_a_builder_that_cannot_build_leaves_the_last_diagram_faded():
    explorer = explore(picky, input_shape=SHAPE, kernel=(1, 7))
    explorer.set(kernel=5)
    last = explorer.diagram
    explorer.set(kernel=4)
    assert (
        explorer.diagram is last and "opacity" in explorer.diagram_html and last.svg in explorer.diagram_html
    )


def test_the_diagram_can_be_switched_off_and_its_colour_picked_in_the_widget():
    plain = explore(net, input_shape=SHAPE, kernel=(1, 7), diagram=False)
    assert plain.diagram is None and plain.baseline_diagram is None and plain.diagram_html == ""
    assert "diagram colour" not in [getattr(w, "description", "") for w in plain.widget.children[0].children]
    plain.set(kernel=5)
    assert plain.diagram is None and plain.summary == real(kernel=5)

    explorer = explore(net, input_shape=SHAPE, kernel=(1, 7), colour="params")
    dropdown = next(w for w in explorer.widget.children[0].children if w.description == "diagram colour")
    assert dropdown.value == "params" and explorer.diagram.colour == "params"
    assert "share of parameters" in explorer.diagram_html
    dropdown.value = "memory"  # as a student picks it
    assert explorer.colour == explorer.diagram.colour == "memory"
    assert "share of activation memory" in explorer.diagram_html
    explorer.set(kernel=5)
    assert explorer.diagram.colour == "memory"  # kept through the next move
    with pytest.raises(ConfigError, match="colour should be one of"):
        explore(net, input_shape=SHAPE, kernel=(1, 7), colour="flops")


RESNET_NOTEBOOK = "06_resnet/resnet.ipynb"


@pytest.fixture(scope="module")
def resnet_namespace():
    return solution_code(
        RESNET_NOTEBOOK, "basic_block", "bottleneck_block", "resnet_builder", "explorer_build"
    )


def test_resnet_explorer_stage_slider_changes_its_xN_box_and_keeps_the_layout(resnet_namespace):
    from cnnlab.diagram.layout import _place

    explorer = eval(explorer_cell(RESNET_NOTEBOOK), dict(resnet_namespace))
    stages = [b for b in explorer.diagram.boxes if b.kind == "stage"]
    assert [b.blocks for b in stages] == [3, 4, 6, 3]  # notebook 06's flat list of blocks, in 4 stage boxes
    explorer.set(stage3=7)
    laid_out = _place.cache_info().misses
    explorer.set(stage3=9)  # the same graph with a longer ×N: no new layout
    assert _place.cache_info().misses == laid_out
    diagram = explorer.diagram
    assert diagram.box("stages.stage3").blocks == 9 and diagram.box("stages.8").repeat == 8
    assert diagram.box("stages.stage3").changed and diagram.box("stages.8").changed
    assert not diagram.box("stages.stage1").changed and not diagram.box("stages.stage4").changed
    # one more block in stage 1 shifts every later block's index in the list: they are still the same layers
    explorer.set(stage1=4)
    changed = {
        n.key.split(".")[1] for n in explorer.diagram.nodes if n.changed and n.key.startswith("stages.")
    }
    assert changed == {"stage1"}
    assert "×8" not in explorer.diagram.svg and "×3" in explorer.diagram.svg


def test_a_diagram_that_cannot_be_drawn_leaves_the_table_and_says_why(monkeypatch):
    import cnnlab.widgets.explorer as explorer_module

    def broken(*args, **kwargs):
        raise RuntimeError("no layout for this graph\nsecond line")

    monkeypatch.setattr(explorer_module, "draw", broken)
    explorer = explore(net, input_shape=SHAPE, kernel=(1, 7))
    assert explorer.diagram is None and explorer.summary == real()
    assert "The diagram cannot be drawn: RuntimeError: no layout for this graph" in explorer.diagram_html
    explorer.set(kernel=5)
    assert explorer.summary == real(kernel=5) and "cannot be drawn" in explorer.diagram_html
