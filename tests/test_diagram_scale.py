"""draw(scale=) and draw_side_by_side: several nets tinted on one scale, so that one colour is one cost in each."""

from __future__ import annotations

import re

import pytest
from torch import nn

from cnnlab import draw, draw_side_by_side
from cnnlab.diagram.svg import _tint
from cnnlab.errors import ConfigError


def small():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))


def wide():  # the same layers, four times the channels: sixteen times the second conv's MACs
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1))


def test_alone_each_net_is_tinted_by_its_own_largest_node():
    small_alone, wide_alone = draw(small, (3, 16, 16)), draw(wide, (3, 16, 16))
    # alone, each net's second conv is its hottest node, the same colour though one costs 16 times the other
    assert small_alone.scale is None and wide_alone.scale is None
    hottest = _tint(1.0)
    assert hottest in small_alone.svg and hottest in wide_alone.svg


def test_one_scale_tints_the_same_cost_alike_in_every_net():
    row = draw_side_by_side({"small": small, "wide": wide}, (3, 16, 16))
    small_drawn, wide_drawn = row.diagrams["small"], row.diagrams["wide"]
    assert row.scale == wide_drawn.node("2").macs == 32 * 32 * 9 * 16 * 16  # the largest node of both nets
    assert small_drawn.scale == wide_drawn.scale == row.scale
    # the wide net's second conv is the hottest; the small one's, with 1/16 of its MACs, is much paler
    assert _tint(1.0) in wide_drawn.svg and _tint(1.0) not in small_drawn.svg
    assert _tint(small_drawn.node("2").macs / row.scale) in small_drawn.svg
    # the same scale through draw() alone gives the same tints
    assert draw(small, (3, 16, 16), scale=row.scale).svg == small_drawn.svg.replace(
        "small on", "Sequential on"
    )


def test_a_node_collapsed_times_n_counts_its_n_blocks_on_the_scale():
    def stack():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), *[nn.Sequential(nn.Conv2d(8, 8, 3, padding=1)) for _ in range(4)]
        )

    row = draw_side_by_side({"stack": stack, "small": small}, (3, 16, 16))
    collapsed = max(row.diagrams["stack"].nodes, key=lambda node: node.repeat)
    assert collapsed.repeat == 4 and row.scale == collapsed.macs * 4


def test_the_row_is_one_svg_with_every_net_side_by_side_under_its_name():
    row = draw_side_by_side({"small": small, "wide": wide}, (3, 16, 16))
    svg = row._repr_svg_()
    assert svg.startswith("<svg") and svg.count("<svg") == 3 and svg.rstrip().endswith("</svg>")
    places = [float(x) for x in re.findall(r'<svg x="([0-9.]+)" y="34"', svg)]
    widths = [float(re.match(r'<svg [^>]*?width="([0-9.]+)"', d.svg).group(1)) for d in row.diagrams.values()]
    assert places == [0.0, widths[0] + 24]  # left to right, in the dict's order
    assert "small on 3×16×16" in svg and "wide on 3×16×16" in svg
    assert "one colour scale of MACs for all" in svg and "scale shared with other nets" in svg


def test_refuses_an_unknown_measure_and_nothing_to_draw():
    with pytest.raises(ConfigError, match="colour should be one of"):
        draw_side_by_side({"small": small}, (3, 16, 16), colour="time")
    with pytest.raises(ConfigError, match="at least one model"):
        draw_side_by_side({}, (3, 16, 16))
