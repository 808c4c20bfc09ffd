"""Notebook 04 (VGG) in-process: its reference numbers, its explorers' logic, and its checks against the usual mistakes.

The numbers come from the solution's own classes (torchvision's counts, the lecture's memory table). The usual
mistakes are data, in mistakes.toml beside this file: each must fail only its own step's checks (and the
whole-network checks where the network repeats it), with a message that names the layer. No kernel, no nbgrader:
seconds.
"""

from __future__ import annotations

import re

import nbformat
import pytest
import torch
from course import SOLUTIONS, explorer_cell, solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from harness import alternative_answers
from shown_cells import cell_calling, first_explorer, index_of, run_cell, text_before
from torch import nn

from cnnlab import load_course_data, summarize
from cnnlab.arithmetic import receptive_field
from cnnlab.stand_ins import blocks_built, stand_in, standing_in

NOTEBOOK = "04_vgg/vgg.ipynb"
BUILD_CELLS = ("vgg_configurations", "conv3x3_function", "vgg_stage_function", "vgg_class")
TORCHVISION_PARAMS = {
    "VGG-11": 132_863_336,
    "VGG-13": 133_047_848,
    "VGG-16": 138_357_544,
    "VGG-19": 143_667_240,
    "VGG-11-BN": 132_868_840,
    "VGG-13-BN": 133_053_736,
    "VGG-16-BN": 138_365_992,
    "VGG-19-BN": 143_678_248,
}


@pytest.fixture(scope="module")
def namespace():
    return solution_code(NOTEBOOK, *BUILD_CELLS, "vgg_explorer_function")


def meta_summary(namespace, *args, **kwargs):
    with torch.device("meta"):
        model = namespace["VGG"](*args, **kwargs)
    return summarize(model, (3, kwargs.get("input_size", 224), kwargs.get("input_size", 224)))


# --- reference numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TORCHVISION_PARAMS)
def test_every_configuration_has_torchvisions_parameter_count(namespace, name):
    convs = namespace["VGG_CONVS_PER_STAGE"][name.removesuffix("-BN")]
    summary = meta_summary(namespace, convs, batch_norm=name.endswith("-BN"))
    assert summary.total_params == TORCHVISION_PARAMS[name]


def test_vgg16_macs_and_shapes(namespace):
    summary = meta_summary(namespace)
    assert summary.total_macs == 15_470_264_320
    pools = [row.output_shape for row in summary.rows if row.kind == "MaxPool2d"]
    assert pools == [(64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14), (512, 7, 7)]
    assert [row.params for row in summary.rows if row.kind == "Linear"] == [
        102_764_544,
        16_781_312,
        4_097_000,
    ]


def test_three_3x3_convs_see_what_one_7x7_sees():
    found = solution_code(NOTEBOOK, "receptive_field_function", "stack_weights_function")
    assert found["receptive_field_size"]([(3, 1)] * 3) == 7 == receptive_field([(7, 1)]).size
    assert found["stack_weights"](64, 3, 3) == 3 * 9 * 64**2 == 110_592
    assert found["stack_weights"](64, 7, 1) == 49 * 64**2 == 200_704


def test_the_lectures_memory_table_and_the_slides_wrong_total(namespace):
    table_ns = dict(namespace)
    cells = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells
    source = next(c.source for c in cells if c.cell_type == "code" and "def lecture_table" in c.source)
    exec(source.split("memory_table = ")[0], table_ns)
    table = table_ns["lecture_table"](meta_summary(namespace))
    names = [name for name, *_ in table]
    assert names[:4] == ["input", "conv1_1", "conv1_2", "pool1"] and names[-4:] == [
        "pool5",
        "fc6",
        "fc7",
        "fc8",
    ]
    values = sum(v for _, _, v, _ in table)
    # the lecture's own rows: 150K + 2×3.2M + 800K + 2×1.6M + 400K + 3×800K + 200K + 3×400K + 100K + 3×100K + 25K + ...
    assert values == 15_237_608 == (
        150_528 + 2 * 3_211_264 + 802_816 + 2 * 1_605_632 + 401_408 + 3 * 802_816 + 200_704 + 3 * 401_408
        + 100_352 + 3 * 100_352 + 25_088 + 4096 + 4096 + 1000
    )  # fmt: skip
    assert round(values * 4 / 1e6) == 61  # MB in float32; the slide says 24M values, 96 MB
    assert 24_000_000 / values > 1.5
    assert sum(p for *_, p in table) == 138_357_544
    early = sum(
        v for name, _, v, _ in table if name == "input" or name[:5] in ("conv1", "conv2", "pool1", "pool2")
    )
    fc = sum(p for name, *_, p in table if name.startswith("fc"))
    assert early / values > 0.6 and fc / 138_357_544 > 0.85


def test_the_mini_is_small_and_uses_batch_norm(namespace):
    mini = dict(
        convs_per_stage=(1, 1, 2, 2, 2), base_width=8, batch_norm=True, num_classes=10, input_size=32,
        fc_units=128, dropout=0.0,
    )  # fmt: skip
    model = namespace["VGG"](**mini)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model.fc7_features(torch.randn(2, 3, 32, 32)).shape == (2, 128)


# --- the explorers ---------------------------------------------------------------------------------------------


@pytest.fixture
def vgg_explorer(namespace):
    """The explorer exactly as the notebook's explore cell builds it."""
    return eval(explorer_cell(NOTEBOOK), dict(namespace))


def test_the_explorer_starts_at_vgg16(vgg_explorer, namespace):
    assert vgg_explorer.summary == meta_summary(namespace)
    assert "138,357,544" in vgg_explorer.table_html and vgg_explorer.message == ""
    assert set(vgg_explorer.controls) == {
        *(f"stage{s}_convs" for s in range(1, 6)),
        "base_width",
        "batch_norm",
        "input_size",
    }


def test_the_explorer_reaches_every_configuration(vgg_explorer, namespace):
    for name, convs in namespace["VGG_CONVS_PER_STAGE"].items():
        for batch_norm in (False, True):
            vgg_explorer.set(**{f"stage{s}_convs": n for s, n in enumerate(convs, 1)}, batch_norm=batch_norm)
            expected = TORCHVISION_PARAMS[name + ("-BN" if batch_norm else "")]
            assert vgg_explorer.summary.total_params == expected
            assert f"{expected:,}" in vgg_explorer.table_html


def test_base_width_and_input_size_and_memory_per_layer(vgg_explorer, namespace):
    vgg_explorer.controls["base_width"].value = 32  # as a student drags a slider
    half = meta_summary(namespace, base_width=32)
    assert vgg_explorer.summary == half
    assert vgg_explorer.diff.activations.after == half.activation_bytes
    assert half.activation_bytes * 2 == pytest.approx(meta_summary(namespace).activation_bytes, rel=0.01)
    vgg_explorer.set(base_width=64, input_size=32)
    fc6 = next(row for row in vgg_explorer.summary.rows if row.kind == "Linear")
    assert fc6.params == 4096 * (512 + 1)  # pool5 leaves 512×1×1
    conv1 = vgg_explorer.summary.rows[0]
    assert conv1.output_shape == (64, 32, 32) and conv1.activation_bytes == 64 * 32 * 32 * 4


def test_an_input_too_small_names_the_pool(vgg_explorer):
    good_table = vgg_explorer.table_html
    vgg_explorer.set(input_size=16)
    assert vgg_explorer.summary is None
    assert vgg_explorer.message.startswith("POOL5 cannot work on a 1×1 map")
    assert "Traceback" not in vgg_explorer.message and good_table in vgg_explorer.table_html
    vgg_explorer.controls["input_size"].value = 48
    assert vgg_explorer.message == "" and vgg_explorer.summary.output_shape == (1000,)


def test_every_refusal_at_the_ends_of_the_sliders_names_its_pool(vgg_explorer):
    refusals = {}
    for name, control in vgg_explorer.controls.items():
        ends = [v for _, v in control.options] if hasattr(control, "options") else [control.min, control.max]
        for value in ends:
            for setting in ({name: value}, {"input_size": 16, name: value}):
                vgg_explorer.reset().set(**setting)
                if vgg_explorer.message:
                    refusals[str(setting)] = vgg_explorer.message
    assert refusals and all(re.match(r"POOL\d cannot work on a \d+×\d+ map", m) for m in refusals.values())
    assert all("input_size': 16" in setting for setting in refusals)  # every other corner works


def test_the_stack_explorer():
    found = solution_code(
        NOTEBOOK, "receptive_field_function", "stack_weights_function", "stack_explorer_function"
    )
    line = found["stack_against_one_layer"](64, 3)
    assert "7×7" in line and f"{27 * 64**2:,}" in line and f"{49 * 64**2:,}" in line and "55%" in line
    box = found["stack_explorer"]()
    sliders, html = box.children[0].children, box.children[1]
    sliders[1].value = 5  # depth
    assert "11×11" in html.value and f"{45 * 64**2:,}" in html.value and f"{121 * 64**2:,}" in html.value
    sliders[0].value = 128
    assert html.value == found["stack_against_one_layer"](128, 5)


def test_the_receptive_field_of_vgg16s_pool5_and_what_the_jump_updated_too_early_gives():
    """The check's strided stacks: the order of the two updates changes them (243 instead of 212 for pool5)."""
    found = solution_code(NOTEBOOK, "receptive_field_function")
    to_pool5 = [layer for convs in (2, 2, 3, 3, 3) for layer in [(3, 1)] * convs + [(2, 2)]]

    def jump_first(layers):
        size, jump = 1, 1
        for kernel, stride in layers:
            jump *= stride
            size += (kernel - 1) * jump
        return size

    assert found["receptive_field_size"](to_pool5) == receptive_field(to_pool5).size == 212
    assert jump_first(to_pool5) == 243
    small = [(3, 1), (2, 2), (3, 1)]
    assert (found["receptive_field_size"](small), jump_first(small)) == (8, 9)
    source = check_source("receptive_field_check")
    hidden = source.index("### BEGIN HIDDEN TESTS")
    assert 0 < source.index("VGG-16 up to pool5") < hidden and 0 < source.index(repr(small)[1:-1]) < hidden


def check_source(grade_id):
    cells = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells
    return next(c.source for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def assembly(namespace, *args, **kwargs):
    """The solution's VGG with every stage a stand-in, as vgg16_check builds it."""
    # in the namespace the class was defined in, where VGG reaches vgg_stage by name; restored afterwards
    stand_in_stage = stand_in(namespace["vgg_stage"], out_channels="out_channels", stride=2)
    with standing_in(namespace, vgg_stage=stand_in_stage), torch.device("meta"):
        model = namespace["VGG"](*args, **kwargs)
    size = kwargs.get("input_size", 224)
    return model, summarize(model, (3, size, size))


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((), {}),
        (((1, 2, 1, 2, 1),), dict(base_width=8, num_classes=7, input_size=64, fc_units=50, dropout=0.0)),
    ],
)
def test_the_assembly_checks_numbers_come_from_the_solution_with_the_same_stand_ins(namespace, args, kwargs):
    model, summary = assembly(namespace, *args, **kwargs)
    source = check_source("vgg16_check")
    for fact in (f"params={summary.total_params:_}", f"macs={summary.total_macs:_}"):
        assert fact in source
    assert f"output_shape={summary.output_shape}" in source
    assert all(f'"{call}"' in source for call in blocks_built(model))


def test_the_assembly_check_sees_batch_norm_passed_on_and_no_block_mistake(namespace):
    model, _ = assembly(namespace, (1, 1, 2, 2, 2), batch_norm=True)
    assert blocks_built(model)[0] == "vgg_stage(3, 64, 1, batch_norm=True)"
    assert all(f'"{call}"' in check_source("vgg16_check") for call in blocks_built(model))
    # a stand-in stage holds nothing of conv3x3 or vgg_stage: their mistakes cannot reach this check
    assert {type(m).__name__ for m in model.features.modules()} == {
        "Sequential",
        "StandInvgg_stage",
        "Conv2d",
    }


def test_the_torchvision_counts_the_notebook_prints_are_the_reference_numbers():
    cells = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4).cells
    (table,) = [c.source for c in cells if c.source.startswith("TORCHVISION_PARAMS = {")]
    names: dict = {}
    exec(table.split("for name, expected")[0], names)
    assert names["TORCHVISION_PARAMS"] == TORCHVISION_PARAMS
    (vgg16,) = [c.source for c in cells if c.source.startswith("TORCHVISION_VGG16_PARAMS = ")]
    assert f"TORCHVISION_VGG16_PARAMS = {TORCHVISION_PARAMS['VGG-16']:_}" in vgg16


# --- the checks against the usual mistakes (mistakes.toml; fair_grading.py runs them) ------------------------------


def test_the_solution_prints_the_lectures_memory_and_what_it_estimates(checked_cells):
    assert checked_cells.failing() == {}
    printed = checked_cells.printed
    assert "the slide's total: 24M values = 96 MB" in printed
    # the slide's MB beside summarize's MiB, said to be the same bytes (issue 21, point 9)
    assert (
        "summarize agrees: 61 MB, shown by summarize and the explorer in binary units as 58.13 MiB" in printed
    )
    assert "the same bytes (1 MB = 10^6 bytes, 1 MiB = 2^20 bytes)" in printed
    assert "your VGG-16: 138,357,544 parameters; torchvision's vgg16: 138,357,544" in printed
    assert printed.count("(the same)") == len(TORCHVISION_PARAMS)
    if torch.cuda.is_available():
        assert "measured on" in printed
    else:  # the peak memory of a training step is an estimate here, and says so
        assert "ESTIMATE (no GPU here, nothing measured)" in printed and "measured on" not in printed


def test_the_alternative_vgg_mini_trains_exactly_as_the_solutions(namespace):
    """alternative.py's VGG (its own conv3x3, vgg_stage and class, the flatten in fc7_features) makes VGG-mini's
    layers in the same order: the same initial weights and the same function, so the graded run's sweep holds for it
    too (test_alternatives.py shows that it passes every check of the build)."""
    theirs = solution_code(NOTEBOOK, "vgg_configurations")
    answers = alternative_answers("04_vgg")
    for cell in ("conv3x3_function", "vgg_stage_function", "vgg_class"):
        exec(compile(answers[cell], f"alternative {cell}", "exec"), theirs)
    names = dict(namespace)
    run_cell(cell_calling(NOTEBOOK, "VGG_MINI = dict")[1], names)
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(10, (8,))
    models = []
    for builder in (namespace["VGG"], theirs["VGG"]):
        torch.manual_seed(0)  # as the training-run cell does
        models.append(builder(**names["VGG_MINI"]).train())
    ours, other = models
    assert [p.shape for p in ours.parameters()] == [p.shape for p in other.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), other.parameters()))
    outputs = [model(images) for model in models]
    assert torch.allclose(outputs[0], outputs[1], atol=1e-6)
    for output in outputs:
        nn.functional.cross_entropy(output, labels).backward()
    assert all(
        torch.allclose(a.grad, b.grad, atol=1e-6) for a, b in zip(ours.parameters(), other.parameters())
    )


# --- what the ungraded cells show ----------------------------------------------------------------------------------


def test_the_diagram_of_vgg16_follows_its_checks_and_shows_its_five_stage_boxes(namespace):
    index, source = cell_calling(NOTEBOOK, "draw")
    assert index_of(NOTEBOOK, "vgg16_check") < index < first_explorer(NOTEBOOK)
    assert "each stage's box says how many blocks it holds" in text_before(NOTEBOOK, index)
    diagram = run_cell(source, dict(namespace))
    features = diagram.box("features")
    stages = [diagram.boxes[child] for child in features.children]
    assert [stage.name for stage in stages] == [f"features.{s}" for s in range(5)]
    assert tuple(stage.blocks for stage in stages) == namespace["VGG_CONVS_PER_STAGE"]["VGG-16"]
    for stage in stages:  # 3×3 convolutions, then the pool that ends the stage
        last = max(diagram.nodes_in(stage), key=lambda node: node.id)  # nodes are numbered in call order
        assert last.kind == "MaxPool2d" and "3×3 /1 p1" in diagram.node(f"{stage.name}.0.0").config
    # identical convolutions drawn once, ×N: the last two of stages 3 and 4, the three of stage 5
    assert [box.repeat for box in diagram.boxes if box.repeat > 1] == [2, 2, 3]


def test_the_feature_maps_follow_the_training_run_and_show_each_stage_of_the_mini(namespace):
    index, source = cell_calling(NOTEBOOK, "show_feature_maps")
    assert index_of(NOTEBOOK, "vgg_training_check") < index
    names = dict(namespace)
    run_cell(cell_calling(NOTEBOOK, "VGG_MINI = dict")[1], names)
    torch.manual_seed(0)
    vgg_mini = names["VGG"](**names["VGG_MINI"])
    names.update(vgg_mini=vgg_mini, data=load_course_data())
    figure = run_cell(source, names)
    # the image, then each stage's maps before its pool: 32×32 down to 2×2, six channels each
    assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (1 + 5, 1 + 6)
    assert vgg_mini.training
