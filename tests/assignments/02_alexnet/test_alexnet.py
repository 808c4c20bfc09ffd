"""Notebook 02 (AlexNet): every refusal names its layer, its diagram and its feature maps show what the text says,
and its checks against the usual mistakes (mistakes.toml beside this file). Its layer-by-layer numbers are in
tests/test_reference_numbers.py, beside 03's and 05's."""

from __future__ import annotations

import pytest
import torch
from course import solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)
from shown_cells import cell_calling, first_explorer, index_of, run_cell, source_of, text_before

from cnnlab import load_course_data
from cnnlab.errors import ConfigError

NOTEBOOK = "02_alexnet/alexnet.ipynb"


@pytest.mark.parametrize(
    "settings, layer",
    [
        (dict(input_size=63), "POOL3"),  # 63 -> CONV1 14 -> POOL1 6 -> POOL2 2: POOL3's window does not fit
        (dict(input_size=9), "CONV1"),
        (dict(input_size=31), "POOL2"),  # 31 -> CONV1 6 -> POOL1 2: POOL2's window does not fit
    ],
)
def test_alexnet_refusals_name_the_layer(settings, layer):
    namespace = solution_code("02_alexnet/alexnet.ipynb", "alexnet_class")
    with pytest.raises(ConfigError) as refusal:
        namespace["AlexNet"](**settings)
    assert str(refusal.value).startswith(layer), str(refusal.value)


def test_the_diagram_of_the_two_gpu_net_follows_its_check_and_draws_conv2_4_5_as_two_towers():
    index, source = cell_calling(NOTEBOOK, "draw")
    assert index_of(NOTEBOOK, "two_gpu_check") < index < first_explorer(NOTEBOOK)
    assert '"2 towers": CONV2, CONV4 and CONV5' in text_before(NOTEBOOK, index)
    diagram = run_cell(source, solution_code(NOTEBOOK, "alexnet_class"))
    convs = [node for node in diagram.nodes if node.kind == "Conv2d"]
    assert [conv.groups for conv in convs] == [1, 2, 1, 2, 2]  # CONV1 to CONV5
    assert all(node.groups == 1 for node in diagram.nodes if node.kind == "Linear")
    assert diagram.svg.count("2 towers") == 3


def test_the_feature_maps_follow_the_training_run_beside_the_filters_and_show_each_stage_of_the_mini():
    index, source = cell_calling(NOTEBOOK, "show_feature_maps")
    assert index_of(NOTEBOOK, "alexnet_training_check") < index
    # beside the first layer's filters: the cell that shows them after the run, then the text of this one
    assert source_of(NOTEBOOK, index - 2).startswith("show_filters(first_conv(model)")
    namespace = solution_code(NOTEBOOK, "alexnet_class")
    run_cell(cell_calling(NOTEBOOK, "MINI = dict")[1], namespace)
    torch.manual_seed(0)
    model = namespace["he_init"](namespace["AlexNet"](**namespace["MINI"]))
    weights = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    namespace.update(model=model, data=load_course_data())
    figure = run_cell(source, namespace)
    # the image, then CONV1's, CONV2's and CONV5's maps (16×16, 7×7, 3×3), six channels each
    assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (1 + 3, 1 + 6)
    assert "a test " + namespace["image_class"] in figure._suptitle.get_text()
    assert model.training and all(torch.equal(t, weights[n]) for n, t in model.state_dict().items())
