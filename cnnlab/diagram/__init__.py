"""A diagram of any ``nn.Module``: its layers in boxes by block, shapes on the edges, numbers on the nodes.

    from cnnlab import draw
    draw(resnet152(), (3, 224, 224))            # shows as SVG in Jupyter; saved with the notebook
    draw(model, (3, 32, 32), colour="params")   # colour by share of parameters ("macs", "params", "memory")
    draw(summarize(model, (3, 32, 32)))         # from a summary: its layers as a chain, boxed by block

Modules, one job each: ``trace`` (which layer feeds which, from a forward pass on the meta device), ``graph``
(nodes, edges, boxes, runs of identical blocks collapsed to ×N), ``layout`` (grandalf's layered layout),
``svg`` (the picture). Numbers come from ``summarize``, so they are the summary's.
"""

from __future__ import annotations

import inspect
import traceback
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import nn

from .. import fmt
from ..errors import ConfigError
from ..summary import Summary, parse_input_shape, summarize
from .graph import Box, Edge, Node, build_graph, trace_from_rows
from .layout import place
from .svg import render_svg
from .trace import trace_forward

__all__ = ["COLOURS", "Box", "Diagram", "Edge", "Node", "draw"]

COLOURS = ("macs", "params", "memory")


@dataclass
class Diagram:
    """What ``draw`` returns: the graph as data (for tests and explorers) that shows itself as SVG in Jupyter."""

    model_name: str
    input_shape: tuple[int, ...]
    nodes: list[Node]
    edges: list[Edge]
    boxes: list[Box]
    colour: str
    summary: Summary | None  # None when the net was refused
    message: str | None = None  # the refusal, as summarize gives it
    totals: dict[str, int] = field(default_factory=dict)
    training: bool = False  # traced in training mode: the layers that run only then are drawn too
    # the measure's value tinted hottest, shared by nets drawn to compare; None: this net's largest node
    scale: int | None = None

    # --- the graph ---------------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r}; nodes: {', '.join(n.name for n in self.nodes[:12])}, ...")

    def box(self, name: str) -> Box:
        for box in self.boxes:
            if box.name == name:
                return box
        raise KeyError(f"no box named {name!r}; boxes: {', '.join(b.name for b in self.boxes[:12])}, ...")

    def inputs_of(self, node: Node) -> list[Node]:
        return [self.nodes[e.source] for e in self.edges if e.target == node.id]

    def nodes_in(self, box: Box) -> list[Node]:
        """Every node inside ``box``, its inner boxes' included."""
        inside, stack = [], [box.id]
        while stack:
            current = self.boxes[stack.pop()]
            inside += [self.nodes[n] for n in current.nodes]
            stack += current.children
        return inside

    @property
    def failed(self) -> Node | None:
        """The layer that refused its input, or None."""
        return next((n for n in self.nodes if n.failed), None)

    def share(self, node: Node) -> float:
        """The node's share of the net's total of the chosen measure, counting every block it stands for."""
        value = _measure(node, self.colour)
        total = self.totals.get(self.colour, 0)
        return value * node.repeat / total if value and total else 0.0

    # --- the picture -------------------------------------------------------------------------------
    @cached_property
    def svg(self) -> str:
        placement = place([n.id for n in self.nodes], [(e.source, e.target) for e in self.edges])
        if self.scale:  # one scale for several nets: a node is tinted by its value against it
            shares = {n.id: _measure(n, self.colour) * n.repeat / self.scale for n in self.nodes}
        else:
            raw = {n.id: self.share(n) for n in self.nodes}
            largest = max(raw.values(), default=0.0) or 1.0
            shares = {n: s / largest for n, s in raw.items()}
        what = {"macs": "MACs", "params": "parameters", "memory": "activation memory"}[self.colour]
        if self.summary is not None:
            subtitle = (
                f"{self.summary.total_params:,} params · {fmt.count(self.summary.total_macs)} MACs · "
                f"{fmt.num_bytes(self.summary.activation_bytes)} of activations · colour: share of {what}"
            )
        elif not self.nodes:
            subtitle = "not built: nothing to draw"
        else:
            subtitle = "refused: drawn up to the layer that fails"
        if self.training:
            subtitle += " · training mode (MACs: the summary's, of eval mode)"
        if self.scale:
            subtitle += f" · scale shared with other nets: {fmt.count(self.scale)} is the hottest"
        title = f"{self.model_name} on {fmt.shape(self.input_shape)}"
        return render_svg(
            title, subtitle, self.nodes, self.edges, self.boxes, placement, shares, self.message
        )

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_mimebundle_(self, include=None, exclude=None):
        if not self.nodes:  # nothing could be built: the sentence that says why is the whole answer
            return {"text/plain": self.message or repr(self)}
        return {"image/svg+xml": self.svg, "text/plain": repr(self)}

    def __repr__(self) -> str:
        if not self.nodes:
            return f"<Diagram of {self.model_name}: not built: {self.message}>"
        collapsed = sum(1 for b in self.boxes if b.repeat > 1)
        state = f", refused at {self.failed.name!r}" if self.failed else ""
        return (
            f"<Diagram of {self.model_name}: {len(self.nodes)} nodes, {len(self.boxes)} boxes "
            f"({collapsed} collapsed ×N){state}>"
        )

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.svg)


def _measure(node: Node, colour: str) -> int:
    value = {"macs": node.macs, "params": node.params, "memory": node.memory}[colour]
    return value or 0


def draw(
    model_or_summary,
    input_shape=None,
    *,
    colour: str = "macs",
    baseline: Diagram | None = None,
    summary: Summary | None = None,
    training: bool = False,
    refusal: str | None = None,
    scale: int | None = None,
) -> Diagram:
    """The diagram of a model (an ``nn.Module``, or a builder such as ``resnet50`` called on the meta device),
    or of a ``Summary``.

    ``input_shape`` is (C, H, W) of one image, (3, 32, 32) by default as for ``summarize``. ``colour`` picks
    the measure whose share tints each node: "macs", "params" or "memory" (activation memory). With ``baseline``
    (an earlier diagram), the nodes and boxes that differ from it are marked. A net that cannot run is drawn up
    to the layer that fails, marked with summarize's message. ``summary``: the model's summary at this
    ``input_shape``, when the caller has it already (an explorer summarises every update), so it is not redone;
    ``refusal``: instead, summarize's message for a model it refused (an explorer has that too).
    ``training=True`` traces the forward pass of training mode, so that layers that run only then (GoogLeNet's
    auxiliary heads) are drawn; they show their parameters, and MACs only where the summary (of eval mode) has
    them. A model or builder that still raises ``NotImplementedError`` (a stub not written yet) gives a
    diagram that says so in one sentence, where it can: the model is drawn up to the stub. ``scale``: the value of
    the measure that takes the hottest colour, so that several nets drawn with one ``scale`` are tinted alike
    (``draw_side_by_side`` picks it); by default each net's largest node is the hottest.
    """
    if colour not in COLOURS:
        raise ConfigError(f"colour should be one of {', '.join(map(repr, COLOURS))}; got {colour!r}")
    if isinstance(model_or_summary, Summary):
        diagram = _from_summary(model_or_summary, colour)
    else:
        shape = parse_input_shape((3, 32, 32) if input_shape is None else input_shape)
        try:
            model = _as_model(model_or_summary)
        except NotImplementedError as stub:
            name = getattr(model_or_summary, "__name__", type(model_or_summary).__name__)
            return Diagram(name, shape, [], [], [], colour, None, _not_written(stub), training=training)
        diagram = _from_model(model, shape, colour, summary, training, refusal)
    if baseline is not None:
        _mark_changes(diagram, baseline)
    diagram.scale = scale
    return diagram


def _as_model(candidate) -> nn.Module:
    if isinstance(candidate, nn.Module):
        return candidate
    if callable(candidate) and (inspect.isclass(candidate) or inspect.isfunction(candidate)):
        with torch.device("meta"):  # a builder: its weights are never allocated
            built = candidate()
        if isinstance(built, nn.Module):
            return built
    raise ConfigError(
        f"draw() needs a torch nn.Module, a function that builds one, or a summary; got {type(candidate).__name__}"
    )


def _not_written(stub: NotImplementedError) -> str:
    """The sentence for a stub: which function or method still raises NotImplementedError."""
    frame = traceback.extract_tb(stub.__traceback__)[-1]
    where = f"{frame.name}()"
    for frame_object, _ in traceback.walk_tb(stub.__traceback__):
        owner = frame_object.f_locals.get("self")
        if frame_object.f_code.co_name == frame.name and isinstance(owner, nn.Module):
            where = f"{type(owner).__name__}.{frame.name}"
    return (
        f"Nothing to draw yet: {where} is not written (it raises NotImplementedError). "
        "Write it, run its cell, then run this cell again."
    )


def _from_model(
    model: nn.Module,
    shape: tuple[int, ...],
    colour: str,
    summary: Summary | None,
    training: bool = False,
    refusal: str | None = None,
) -> Diagram:
    message = refusal
    if summary is not None and tuple(summary.input_shape) != shape:
        raise ConfigError(
            f"the summary given is of a {fmt.shape(summary.input_shape)} input, not {fmt.shape(shape)}"
        )
    if summary is None and refusal is None:
        try:
            summary = summarize(model, shape)
        except ConfigError as error:  # the diagram still shows the net up to the layer that fails
            message = str(error)
    known_shapes: dict[str, list] = {}
    for row in summary.rows if summary is not None else ():
        known_shapes.setdefault(row.name, []).append(row.output_shape)
    trace = trace_forward(model, shape, known_shapes, training=training)
    rows = _rows_by_node(trace, summary)
    nodes, edges, boxes = build_graph(trace, rows)
    if trace.failed is not None:
        failed = next(n for n in nodes if n.shape is None)
        if isinstance(trace.error, NotImplementedError):
            message = _not_written(trace.error)
        failed.failed = message or f"{type(trace.error).__name__}: {trace.error}"
        message = failed.failed
    elif message is not None:
        raise ConfigError(message)  # summarize refused what ran here: its sentence is the answer
    totals = _totals(summary, nodes)
    return Diagram(
        type(model).__name__, shape, nodes, edges, boxes, colour, summary, message, totals, training
    )


def _rows_by_node(trace, summary: Summary | None) -> dict[int, object]:
    """{trace node: the summary row of the same call}: the k-th call of a layer is that layer's k-th row."""
    if summary is None:
        return {}
    queues: dict[str, list] = {}
    for row in reversed(summary.rows):
        queues.setdefault(row.name, []).append(row)
    matched = {}
    for op in trace.nodes:
        if op.leaf_call is not None and queues.get(op.name):
            matched[op.index] = queues[op.name].pop()
    return matched


def _totals(summary: Summary | None, nodes: list[Node]) -> dict[str, int]:
    if summary is not None:
        return {
            "macs": summary.total_macs,
            "params": summary.total_params,
            "memory": summary.activation_bytes,
        }
    return {c: sum(_measure(n, c) * n.repeat for n in nodes) for c in COLOURS}


def _from_summary(summary: Summary, colour: str) -> Diagram:
    rows = [r for r in summary.rows if not r.name.startswith("(")]  # "(functional ops)": not a layer
    trace = trace_from_rows(rows, summary.input_shape, summary.output_shape)
    numbers = {op.index: rows[op.leaf_call] for op in trace.nodes if op.leaf_call is not None}
    nodes, edges, boxes = build_graph(trace, numbers)
    return Diagram(
        summary.model_name,
        summary.input_shape,
        nodes,
        edges,
        boxes,
        colour,
        summary,
        None,
        _totals(summary, nodes),
    )


def _mark_changes(diagram: Diagram, baseline: Diagram) -> None:
    """Marks what differs from ``baseline``: a node new or with other settings, shape or numbers; a box whose ×N
    or number of blocks changed. Nodes and boxes are matched by key: their name, or their place in their stage
    for the blocks of a flat list."""
    before = {n.key: n for n in baseline.nodes}
    for node in diagram.nodes:
        old = before.get(node.key)
        node.changed = old is None or (old.kind, old.config, old.shape, old.params, old.macs, old.repeat) != (
            node.kind,
            node.config,
            node.shape,
            node.params,
            node.macs,
            node.repeat,
        )
    boxes_before = {b.key: b for b in baseline.boxes}
    for box in diagram.boxes:
        old = boxes_before.get(box.key)
        box.changed = old is None or (old.repeat, old.blocks, old.kind) != (box.repeat, box.blocks, box.kind)
