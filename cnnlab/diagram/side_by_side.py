"""Several nets drawn side by side, tinted on one scale, so that the same colour means the same cost in each.

    from cnnlab import draw_side_by_side
    draw_side_by_side({"VGG-16": vgg16, "ResNet-50": resnet50}, (3, 224, 224))   # one SVG, one MAC scale

Each net alone is tinted by its own largest node, so the hottest layer of AlexNet and the hottest of ResNet-152
look alike though one costs 18 times the other. Here the hottest colour is the largest node's value over all the
nets (a node collapsed ×N counts for its N blocks, as its share does), and every node is tinted against it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .. import fmt
from ..errors import ConfigError
from . import COLOURS, Diagram, _measure, draw

__all__ = ["DiagramRow", "draw_side_by_side"]

GAP = 24  # pixels between two diagrams
HEADER = 34  # the row's caption above the diagrams
_SIZE = re.compile(r'<svg [^>]*?width="([0-9.]+)" height="([0-9.]+)"')


@dataclass
class DiagramRow:
    """What ``draw_side_by_side`` returns: each net's diagram by name, drawn on one ``scale``, shown as one SVG."""

    diagrams: dict[str, Diagram]
    colour: str
    scale: int  # the value of the measure tinted hottest, in every diagram of the row

    @property
    def svg(self) -> str:
        sizes = [tuple(float(v) for v in _SIZE.match(d.svg).groups()) for d in self.diagrams.values()]
        width = sum(w for w, _ in sizes) + GAP * (len(sizes) - 1)
        height = HEADER + max((h for _, h in sizes), default=0)
        what = {"macs": "MACs", "params": "parameters", "memory": "activation memory"}[self.colour]
        caption = (
            f"{', '.join(self.diagrams)}: one colour scale of {what} for all, "
            f"the hottest is {fmt.count(self.scale)} (a node ×N counts its N blocks)"
        )
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
            'class="cnnlab-diagram-row">',
            f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
            f'<text x="8" y="22" font-size="14" font-weight="bold">{_escape(caption)}</text>',
        ]
        left = 0.0
        for diagram, (diagram_width, _) in zip(self.diagrams.values(), sizes):
            # a nested <svg> keeps each diagram's own coordinates; only its place in the row is new
            inner = diagram.svg.replace("<svg ", f'<svg x="{left:.0f}" y="{HEADER}" ', 1)
            parts.append(inner)
            left += diagram_width + GAP
        parts.append("</svg>")
        return "\n".join(parts)

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return (
            f"<DiagramRow of {', '.join(self.diagrams)}: {self.colour} on one scale, {fmt.count(self.scale)}>"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def draw_side_by_side(
    models: Mapping[str, object],
    input_shape=None,
    *,
    colour: str = "macs",
) -> DiagramRow:
    """Each of ``models`` (name -> ``nn.Module`` or builder, as ``draw`` takes) drawn at ``input_shape``, in the
    dict's order, left to right, every node tinted on one scale of ``colour``: the largest node's value over all
    of them. Builders are built on the meta device, so no weights are allocated."""
    if colour not in COLOURS:
        raise ConfigError(f"colour should be one of {', '.join(map(repr, COLOURS))}; got {colour!r}")
    if not models:
        raise ConfigError("draw_side_by_side() needs at least one model to draw")
    diagrams = {name: draw(model, input_shape, colour=colour) for name, model in models.items()}
    scale = max((_measure(n, colour) * n.repeat for d in diagrams.values() for n in d.nodes), default=0) or 1
    for name, diagram in diagrams.items():  # before any picture is made: each svg is made once, then kept
        diagram.scale = scale
        diagram.model_name = name  # the row's names ("ResNet-50"), not the classes' ("ResNet" five times)
    return DiagramRow(diagrams, colour, scale)
