"""Notebook 02 (AlexNet): every refusal names its layer, and its checks against the usual mistakes (mistakes.toml
beside this file). Its layer-by-layer numbers are in tests/test_reference_numbers.py, beside 03's and 05's."""

from __future__ import annotations

import pytest
from course import solution_code
from fair_grading import *  # noqa: F403  (the tests every unit runs, on this unit's mistakes.toml)

from cnnlab.errors import ConfigError


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
