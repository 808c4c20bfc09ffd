"""Where each node goes: grandalf's Sugiyama (layered) layout, pure Python, installed by pip on every platform.

Layers run top to bottom in the order of the forward pass, parallel branches (Inception's four, a projection
shortcut) stand side by side, and long edges bend through the layers they cross. A box is the rectangle around
its nodes, drawn by the SVG writer; grandalf knows nothing of boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from grandalf.graphs import Edge as LayoutEdge
from grandalf.graphs import Graph, Vertex
from grandalf.layouts import SugiyamaLayout
from grandalf.routing import EdgeViewer, route_with_lines

__all__ = ["Placement", "forget_placements", "place"]

NODE_WIDTH = 190.0
NODE_HEIGHT = 40.0
LAYER_GAP = 36.0  # between layers: room for an edge's shape label
COLUMN_GAP = 24.0


@dataclass(frozen=True)
class Placement:
    centres: dict[int, tuple[float, float]]  # node id -> (x, y) of its centre
    paths: dict[tuple[int, int], list[tuple[float, float]]]  # (source, target) -> polyline
    width: float
    height: float
    widths: dict[int, float]  # node id -> its width


class _NodeView:
    """What grandalf reads (w, h) and writes (xy) for one vertex."""

    def __init__(self, width: float, height: float):
        self.w, self.h = width, height
        self.xy = (0.0, 0.0)


def place(
    node_ids: list[int], edges: list[tuple[int, int]], widths: dict[int, float] | None = None
) -> Placement:
    """Centres of ``node_ids`` and routes of ``edges`` (source, target), top to bottom, no overlaps.

    The same graph gets the same placement without laying it out again: an explorer's slider that changes a
    stage's ×N or a width changes the numbers on the nodes, not the graph.
    """
    key = (tuple(node_ids), tuple(edges), tuple(sorted((widths or {}).items())))
    return _place(key)


def forget_placements() -> None:
    """Empties the memory of laid-out graphs, so that the next ``place`` lays out anew (to time a first drawing)."""
    _place.cache_clear()


@lru_cache(maxsize=32)
def _place(key) -> Placement:
    node_ids, edges, width_items = key
    widths = dict(width_items)
    vertices = {}
    for node in node_ids:
        vertex = Vertex(node)
        vertex.view = _NodeView(widths.get(node, NODE_WIDTH), NODE_HEIGHT)
        vertices[node] = vertex
    links = []
    for source, target in edges:
        link = LayoutEdge(vertices[source], vertices[target])
        link.view = EdgeViewer()
        links.append(link)
    graph = Graph(list(vertices.values()), links)
    centres: dict[int, tuple[float, float]] = {}
    paths: dict[tuple[int, int], list[tuple[float, float]]] = {}
    offset = 0.0
    for component in graph.C:  # a net with two outputs, or an unused input: side by side
        layout = SugiyamaLayout(component)
        layout.xspace, layout.yspace = COLUMN_GAP, LAYER_GAP
        layout.route_edge = route_with_lines
        roots = [v for v in component.sV if not v.e_in()]
        layout.init_all(roots=roots or None)
        layout.draw(N=1.5)
        left = min(v.view.xy[0] - v.view.w / 2 for v in component.sV)
        right = max(v.view.xy[0] + v.view.w / 2 for v in component.sV)
        shift = offset - left
        for vertex in component.sV:
            x, y = vertex.view.xy
            centres[vertex.data] = (x + shift, y)
        for link in component.sE:
            points = getattr(link.view, "_pts", None) or [link.v[0].view.xy, link.v[1].view.xy]
            paths[(link.v[0].data, link.v[1].data)] = [(x + shift, y) for x, y in points]
        offset += right - left + 3 * COLUMN_GAP
    top = min((y - NODE_HEIGHT / 2 for _, y in centres.values()), default=0.0)
    centres = {n: (x, y - top) for n, (x, y) in centres.items()}
    paths = {k: [(x, y - top) for x, y in p] for k, p in paths.items()}
    height = max((y + NODE_HEIGHT / 2 for _, y in centres.values()), default=0.0)
    sizes = {n: vertices[n].view.w for n in node_ids}
    return Placement(centres, paths, max(offset - 3 * COLUMN_GAP, 0.0), height, sizes)
