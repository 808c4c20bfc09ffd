"""The diagram as one self-contained SVG document: no script, no external style, so a saved notebook shows it
in JupyterLab, on nbviewer and in nbconvert's HTML without a kernel.
"""

from __future__ import annotations

from html import escape

from .. import fmt
from .graph import Box, Edge, Node
from .layout import NODE_HEIGHT, NODE_WIDTH, Placement

__all__ = ["render_svg"]

MARGIN = 16.0
HEADER = 44.0
BOX_PAD = 5.0  # around a box's nodes, once per level of boxes inside it; its label sits on its top line
HOT = (217, 72, 15)  # the colour of the largest share; a share of nothing is white
FAILED = "#c92a2a"
CHANGED = "#1c7ed6"
SKIP = "#2b8a3e"


_HALO = {"stroke": "white", "stroke_width": 3, "paint_order": "stroke"}  # text stays legible over lines


_OP_HEADINGS = {"add": "+ add", "cat": "concat", "mul": "× mul", "error": "forward() fails here"}


def _tint(share: float) -> str:
    strength = min(max(share, 0.0), 1.0) ** 0.5  # square root: a layer with 1% of the largest still shows
    r, g, b = (round(255 + (c - 255) * strength) for c in HOT)
    return f"#{r:02x}{g:02x}{b:02x}"


def _text(x: float, y: float, content: str, size: int = 11, anchor: str = "middle", **attributes) -> str:
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>{escape(content)}</text>'


def _fit(text: str, width: float, size: int = 11) -> str:
    most = int(width / (size * 0.58))
    return text if len(text) <= most else text[: most - 1] + "…"


def _numbers(node: Node) -> str:
    parts = []
    if node.params is not None:
        parts.append(f"{fmt.count(node.params)} params")
    if node.macs is not None:
        parts.append(f"{fmt.count(node.macs)} MACs")
    return " · ".join(parts)


def render_svg(
    title: str,
    subtitle: str,
    nodes: list[Node],
    edges: list[Edge],
    boxes: list[Box],
    placement: Placement,
    shares: dict[int, float],
    message: str | None,
) -> str:
    """The SVG text. ``shares``: node id -> its share of the chosen measure, 1.0 for the largest node."""
    depth_below: dict[int, int] = {}  # levels of boxes inside each box, to nest the rectangles
    for box in reversed(boxes):  # children come after their parents
        depth_below[box.id] = 1 + max((depth_below[c] for c in box.children), default=0)
    level = {}  # how many boxes hold each box
    for box in boxes:  # parents come before their children
        level[box.id] = 0 if box.parent is None else level[box.parent] + 1
    members: dict[int, list[int]] = {box.id: list(box.nodes) for box in boxes}
    for box in reversed(boxes):
        if box.parent is not None:
            members[box.parent] += members[box.id]

    nesting = max(depth_below.values(), default=0)
    dx, dy = MARGIN + BOX_PAD * nesting, HEADER + BOX_PAD * nesting + 6
    centres = {n: (x + dx, y + dy) for n, (x, y) in placement.centres.items()}
    widths = {node.id: placement.widths.get(node.id, NODE_WIDTH) for node in nodes}
    width = max(placement.width + 2 * dx, 520.0)  # room for a refusal's sentence
    message_lines = _wrap(message, int((width - 2 * MARGIN) / 6.6)) if message else []
    height = placement.height + dy + MARGIN + BOX_PAD * 2 + 16 * len(message_lines) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" class="cnnlab-diagram">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        _text(MARGIN, 20, title, 14, "start", font_weight="bold"),
        _text(MARGIN, 36, subtitle, 11, "start", fill="#555"),
    ]
    for box in boxes:
        inside = [centres[n] for n in members[box.id] if n in centres]
        if not inside:
            continue
        pad = BOX_PAD * depth_below[box.id]
        left = min(x - widths[n] / 2 for n, (x, _) in zip(members[box.id], inside)) - pad
        right = max(x + widths[n] / 2 for n, (x, _) in zip(members[box.id], inside)) + pad
        top = min(y for _, y in inside) - NODE_HEIGHT / 2 - pad
        bottom = max(y for _, y in inside) + NODE_HEIGHT / 2 + pad
        # a box and the first box inside it share their top line: their labels go to opposite ends
        parent = boxes[box.parent].name + "." if box.parent is not None else ""
        caption = box.caption(box.name[len(parent) :] if parent and box.name.startswith(parent) else box.name)
        if level[box.id] % 2:
            label = _text(right - 6, top + 3, caption, 9, "end", fill="#495057", **_HALO)
        else:
            label = _text(left + 6, top + 3, caption, 9, "start", fill="#495057", **_HALO)
        stroke = f' stroke="{CHANGED}" stroke-width="3"' if box.changed else ' stroke="#adb5bd"'
        fill = "#f1f3f5" if box.repeat > 1 else "none"
        parts.append(
            f'<g class="box" data-name="{escape(box.name)}" data-repeat="{box.repeat}" data-blocks="{box.blocks}">'
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" height="{bottom - top:.1f}" rx="6" '
            f'fill="{fill}"{stroke}/><title>{escape(box.label)}</title>' + label + "</g>"
        )
    labelled: set[tuple[int, str]] = set()
    for edge in edges:
        points = [(x + dx, y + dy) for x, y in placement.paths.get((edge.source, edge.target), [])]
        if len(points) < 2:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        style = f'stroke="{SKIP}" stroke-width="2" stroke-dasharray="5 3"' if edge.skip else 'stroke="#555"'
        parts.append(
            f'<polyline class="edge{" skip" if edge.skip else ""}" points="{path}" fill="none" {style} '
            f'marker-end="url(#arrow)"><title>{escape(edge.text)}</title></polyline>'
        )
        if (edge.source, edge.text) not in labelled:  # one label per activation, however many take it
            labelled.add((edge.source, edge.text))
            x0, y0 = points[0]
            parts.append(
                _text(x0 + 4, y0 + 11, edge.text, 9, "start", fill="#495057", class_="shape", **_HALO)
            )
    for node in nodes:
        x, y = centres[node.id]
        w = widths[node.id]
        left, top = x - w / 2, y - NODE_HEIGHT / 2
        if node.failed:
            stroke = f'stroke="{FAILED}" stroke-width="3"'
        elif node.changed:
            stroke = f'stroke="{CHANGED}" stroke-width="3"'
        else:
            stroke = 'stroke="#495057"'
        fill = "#ffe3e3" if node.failed else _tint(shares.get(node.id, 0.0))
        rounded = 18 if node.kind in ("add", "cat", "mul", "input", "output") else 4
        tip = f"{node.name}: {node.label}" + (f"\n{node.failed}" if node.failed else "")
        shape = f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{NODE_HEIGHT:.1f}" rx="{rounded}" fill="{fill}" {stroke}/>'
        towers = ""
        if node.groups > 1:  # a grouped conv: one narrow column per group, side by side (AlexNet's towers)
            column = (w - 8) / node.groups
            towers = "".join(
                f'<rect class="tower" x="{left + 4 + i * column + 1:.1f}" y="{top + 3:.1f}" width="{column - 2:.1f}" '
                f'height="{NODE_HEIGHT - 6:.1f}" rx="3" fill="none" stroke="#868e96" stroke-dasharray="2 2"/>'
                for i in range(node.groups)
            )
        heading = _OP_HEADINGS.get(node.kind, node.label)
        lines = [_text(x, y - 3, _fit(heading, w), 11)]
        numbers = _numbers(node) if node.is_layer else (fmt.shape(node.shape) if node.shape else "")
        if node.repeat > 1 and numbers:
            numbers += f" (×{node.repeat})"
        if node.groups > 1:
            numbers = f"{node.groups} towers · {numbers}"
        if node.failed:
            numbers = "refused: see below"
        if numbers:
            lines.append(_text(x, y + 12, _fit(numbers, w, 10), 10, fill="#343a40"))
        status = " failed" if node.failed else (" changed" if node.changed else "")
        parts.append(
            f'<g class="node{status}" data-name="{escape(node.name)}" data-kind="{escape(node.kind)}" '
            f'data-groups="{node.groups}"><title>{escape(tip)}</title>{shape}{towers}{"".join(lines)}</g>'
        )
    if message_lines:
        y0 = placement.height + dy + BOX_PAD * 2 + 12
        for i, line in enumerate(message_lines):
            parts.append(_text(MARGIN, y0 + 16 * i, line, 12, "start", fill=FAILED, class_="refusal"))
    parts.append("</svg>")
    return "".join(parts)


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + ([line] if line else [])
