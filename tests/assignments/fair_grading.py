"""One mistake costs one step.

Each step's check feeds its own layer a fresh input of the right shape, never the student's earlier layers, so
a submission with one layer wrong loses that step's points, and the whole-network check's where the class
repeats the mistake, and keeps every other point. Each case below is one usual mistake (a wrong kernel, filter
count, stride or padding) in one solution cell of notebooks 01-03, run in this process as autograde runs it
(tests/notebook_cells.py); the nbgrader round trip in tests/test_notebooks.py shows the real thing works.

Every check cell also shows the student something: a check whose tests are all hidden keeps a visible line
that says what is checked at grading time, or a visible part of the check.
"""

from __future__ import annotations

import nbformat
import pytest
from course import HIDDEN_REGION, SOLUTIONS, nbgrader_meta
from notebook_cells import BuildCells

# (notebook, solution cell, text in it, the mistake, the checks that must fail)
MISTAKES = [
    ("01_lenet/lenet.ipynb", "c1_layer", "kernel_size=5", "kernel_size=7", {"c1_check"}),
    ("01_lenet/lenet.ipynb", "c1_layer", "nn.Conv2d(1, 6,", "nn.Conv2d(1, 5,", {"c1_check"}),
    ("01_lenet/lenet.ipynb", "s2_layer", "stride=2", "stride=1", {"s2_check"}),
    ("01_lenet/lenet.ipynb", "c3_layer", "nn.Conv2d(6, 16,", "nn.Conv2d(6, 12,", {"c3_check"}),
    ("01_lenet/lenet.ipynb", "c3_layer", "kernel_size=5", "kernel_size=5, padding=2", {"c3_check"}),
    (
        "01_lenet/lenet.ipynb",
        "s4_c5_layers",
        "s4 = nn.AvgPool2d(kernel_size=2",
        "s4 = nn.AvgPool2d(kernel_size=3",
        {"s4_c5_check"},
    ),
    (
        "01_lenet/lenet.ipynb",
        "s4_c5_layers",
        "nn.Conv2d(16, 120, kernel_size=5)",
        "nn.Conv2d(16, 120, kernel_size=3)",
        {"s4_c5_check"},
    ),
    ("01_lenet/lenet.ipynb", "fc_layers", "nn.Linear(120, 84)", "nn.Linear(120, 64)", {"fc_check"}),
    ("01_lenet/lenet.ipynb", "fc_layers", "nn.Linear(120, 84)", "nn.Linear(400, 84)", {"fc_check"}),
    ("01_lenet/lenet.ipynb", "fc_layers", "nn.Linear(84, 10)", "nn.Linear(84, 9)", {"fc_check"}),
    # the class repeats a mistake: only the whole-network check
    (
        "01_lenet/lenet.ipynb",
        "lenet_class",
        "nn.Conv2d(in_channels, c1_filters, kernel_size)",
        "nn.Conv2d(in_channels, c1_filters, kernel_size, padding=1)",
        {"lenet_check"},
    ),
    ("01_lenet/lenet.ipynb", "lenet_class", "c1_filters=6,", "c1_filters=5,", {"lenet_check"}),
    ("02_alexnet/alexnet.ipynb", "conv1_layer", "stride=4", "stride=2", {"conv1_check"}),
    ("02_alexnet/alexnet.ipynb", "conv1_layer", "nn.Conv2d(3, 96,", "nn.Conv2d(3, 64,", {"conv1_check"}),
    (
        "02_alexnet/alexnet.ipynb",
        "conv1_answers",
        "96 * (11 * 11 * 3) + 96",
        "96 * (11 * 11 * 3)",
        {"conv1_check"},
    ),
    (
        "02_alexnet/alexnet.ipynb",
        "pool1_norm1_layers",
        "pool1 = nn.MaxPool2d(kernel_size=3,",
        "pool1 = nn.MaxPool2d(kernel_size=2,",
        {"pool1_check"},
    ),
    ("02_alexnet/alexnet.ipynb", "conv2_layers", "padding=2", "padding=1", {"conv2_check"}),
    ("02_alexnet/alexnet.ipynb", "conv2_layers", "nn.Conv2d(96, 256,", "nn.Conv2d(96, 384,", {"conv2_check"}),
    (
        "02_alexnet/alexnet.ipynb",
        "conv345_layers",
        "nn.Conv2d(256, 384,",
        "nn.Conv2d(256, 256,",
        {"conv345_check"},
    ),
    (
        "02_alexnet/alexnet.ipynb",
        "conv345_layers",
        "conv4 = nn.Conv2d(384, 384, kernel_size=3, padding=1)",
        "conv4 = nn.Conv2d(384, 384, kernel_size=3)",
        {"conv345_check"},
    ),
    (
        "02_alexnet/alexnet.ipynb",
        "fc_layers",
        "nn.Linear(256 * 6 * 6, 4096)",
        "nn.Linear(256 * 13 * 13, 4096)",
        {"fc_check"},
    ),
    (
        "02_alexnet/alexnet.ipynb",
        "fc_layers",
        "fc8 = nn.Linear(4096, 1000)",
        "fc8 = nn.Linear(4096, 100)",
        {"fc_check"},
    ),
    # the class: CONV2 unpadded shrinks every later map, so each network built from the class inherits it
    (
        "02_alexnet/alexnet.ipynb",
        "alexnet_class",
        "nn.Conv2d(c1, c2, 5, padding=2, groups=groups)",
        "nn.Conv2d(c1, c2, 5, groups=groups)",
        {"alexnet_check", "fc_share_check", "two_gpu_check", "torchvision_check"},
    ),
    # ... and a mistake that only the two-GPU network shows
    (
        "02_alexnet/alexnet.ipynb",
        "alexnet_class",
        "nn.Conv2d(c3, c4, 3, padding=1, groups=groups)",
        "nn.Conv2d(c3, c4, 3, padding=1)",
        {"two_gpu_check"},
    ),
    ("02_alexnet/alexnet.ipynb", "two_gpu_model", "groups=2", "groups=4", {"two_gpu_check"}),
    (
        "02_alexnet/alexnet.ipynb",
        "torchvision_model",
        "conv1=(11, 4, 2)",
        "conv1=(11, 4, 0)",
        {"torchvision_check"},
    ),
    (
        "02_alexnet/alexnet.ipynb",
        "fc_share",
        "fc_share = fc_params",
        "fc_share = 100 * fc_params",
        {"fc_share_check"},
    ),
    # the builder: a mistake in a layer is repeated by the ZFNet built with it
    (
        "03_zfnet/zfnet.ipynb",
        "family_class",
        "nn.Conv2d(conv1_filters, conv2_filters, 5, conv2_stride, 2)",
        "nn.Conv2d(conv1_filters, conv2_filters, 5, conv2_stride, 1)",
        {"family_check", "zfnet_check"},
    ),
    (
        "03_zfnet/zfnet.ipynb",
        "family_class",
        "nn.Conv2d(conv3_filters, conv4_filters, 3, padding=1)",
        "nn.Conv2d(conv3_filters, conv4_filters, 3)",
        {"family_check", "zfnet_check"},
    ),
    (
        "03_zfnet/zfnet.ipynb",
        "family_class",
        'conv1_padding, layer="CONV1")',
        "conv1_padding)",
        {"family_errors_check"},
    ),
    ("03_zfnet/zfnet.ipynb", "zfnet_model", "conv2_stride=2, ", "", {"zfnet_check"}),
    ("03_zfnet/zfnet.ipynb", "zfnet_model", "conv4_filters=1024", "conv4_filters=512", {"zfnet_check"}),
    ("03_zfnet/zfnet.ipynb", "zfnet_model", "conv1_kernel=7", "conv1_kernel=11", {"zfnet_check"}),
]


def _label(case) -> str:
    notebook, cell, old, new, _ = case
    return f"{notebook.split('/')[0]}:{cell}:{old}->{new}"


@pytest.fixture(scope="module")
def build_cells():
    cache: dict[str, BuildCells] = {}

    def cells_of(notebook: str) -> BuildCells:
        if notebook not in cache:
            cache[notebook] = BuildCells(notebook)
        return cache[notebook]

    return cells_of


@pytest.mark.slow  # about a minute for the three notebooks on 2 cores
@pytest.mark.parametrize("notebook", sorted({case[0] for case in MISTAKES}))
def test_the_solution_passes_every_check_of_the_build(build_cells, notebook):
    cells = build_cells(notebook)
    assert cells.graded, f"{notebook}: no graded cell before the explorer"
    assert cells.failing() == {}


@pytest.mark.slow
@pytest.mark.parametrize("case", MISTAKES, ids=_label)
def test_one_mistake_costs_only_its_own_step(build_cells, case):
    notebook, cell, old, new, expected = case
    cells = build_cells(notebook)
    failing = cells.failing(cells.mutated(cell, old, new))
    assert set(failing) == expected, f"{_label(case)}: failing checks {failing}"
    for check, error in failing.items():
        # a NameError: the check reads what an earlier cell, broken by the mistake, never defined
        assert error.startswith(("CheckFailed", "NameError")), f"{check} failed with torch's text: {error}"


def test_every_step_check_of_01_to_03_has_a_mistake_case():
    covered = {check for case in MISTAKES for check in case[4]}
    for notebook in sorted({case[0] for case in MISTAKES}):
        cells = BuildCells(notebook)
        assert set(cells.graded) <= covered, f"{notebook}: no mistake case for {set(cells.graded) - covered}"


def _visible(source: str) -> list[str]:
    return [line for line in HIDDEN_REGION.sub("", source).splitlines() if line.strip()]


@pytest.mark.parametrize("nb_path", sorted(SOLUTIONS.rglob("*.ipynb")), ids=lambda p: p.parent.name)
def test_no_check_cell_looks_empty_to_the_student(nb_path):
    cells = nbformat.read(nb_path, as_version=4).cells
    empty = [
        nbgrader_meta(c)["grade_id"]
        for c in cells
        if c.cell_type == "code" and nbgrader_meta(c).get("grade") and not _visible(c.source)
    ]
    assert empty == [], (
        f"{nb_path.name}: check cells with nothing visible (say what is checked at grading time)"
    )
