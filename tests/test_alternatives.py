"""Alternative code is accepted: notebooks 02 and 03 answered in another style than the solution's (the layers made
in a loop, the flatten in ``forward``, ReLUs in place or not; tests/alternatives/) get every autograded point.

The checks of the build run in this process as autograde runs them (tests/notebook_cells.py). The graded training
runs are locked cells that build the minis with the student's class: an alternative class that makes the same
layers in the same order draws the same initial weights and computes the same function, so its runs are the
solution's runs, which their sweep records show to pass (tests/sweeps/).
"""

from __future__ import annotations

import nbformat
import pytest
import torch
from course import SOLUTION_REGION, SOLUTIONS, nbgrader_meta
from notebook_cells import BuildCells, alternative_answers

from cnnlab import he_init

NOTEBOOKS = {"02_alexnet": "02_alexnet/alexnet.ipynb", "03_zfnet": "03_zfnet/zfnet.ipynb"}
# the notebook's class, and the cell that sets the minis' configurations
MINIS = {"02_alexnet": ("AlexNet", "MINI = dict("), "03_zfnet": ("AlexNetFamily", "ALEXNET_MINI = dict(")}


@pytest.mark.slow  # the build cells of 02 and 03, twice: about 30 s on 2 cores
@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_the_alternative_answers_pass_every_check_of_the_build(assignment):
    answers = alternative_answers(assignment)
    cells = BuildCells(NOTEBOOKS[assignment])
    assert set(answers) <= {cell_id for cell_id, _, _ in cells.cells}, (
        "an alternative answers no solution cell"
    )
    assert cells.failing(answers) == {}


def _namespace(assignment: str, class_source: str) -> dict:
    """The notebook's imports, the class from ``class_source``, and the minis' configurations."""
    cells = [
        c
        for c in nbformat.read(SOLUTIONS / NOTEBOOKS[assignment], as_version=4).cells
        if c.cell_type == "code"
    ]
    config = next(c.source for c in cells if MINIS[assignment][1] in c.source)
    namespace: dict = {}
    for source in (cells[0].source.replace("device = setup_notebook(seed=0)", ""), class_source, config):
        exec(compile(source, assignment, "exec"), namespace)
    return namespace


@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_the_alternative_class_trains_exactly_as_the_solution(assignment):
    class_name, _ = MINIS[assignment]
    cells = nbformat.read(SOLUTIONS / NOTEBOOKS[assignment], as_version=4).cells
    class_id = next(nbgrader_meta(c)["grade_id"] for c in cells if f"class {class_name}(" in c.source)
    solution = SOLUTION_REGION.sub(
        lambda m: m.group(1), next(c.source for c in cells if f"class {class_name}(" in c.source)
    )
    ours, theirs = (
        _namespace(assignment, solution),
        _namespace(assignment, alternative_answers(assignment)[class_id]),
    )
    configs = {
        name: value for name, value in ours.items() if name.endswith("MINI") and isinstance(value, dict)
    }
    assert configs, f"{assignment}: no mini configuration"
    images = torch.randn(4, 3, 32, 32)
    for name, config in configs.items():
        models = []
        for namespace in (ours, theirs):
            torch.manual_seed(0)  # as the training-run cell does
            models.append(he_init(namespace[class_name](**config)))
        shapes = [[tuple(p.shape) for p in model.parameters()] for model in models]
        assert shapes[0] == shapes[1], f"{name}: the alternative's parameters differ in shape or order"
        for mine, other in zip(models[0].parameters(), models[1].parameters()):
            assert torch.equal(mine, other), f"{name}: the alternative draws other initial weights"
        for model in models:
            model.train()
        assert torch.allclose(models[0](images), models[1](images), atol=1e-6), f"{name}: another function"
