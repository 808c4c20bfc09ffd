"""The diagram as data: nodes, edges and boxes, with runs of identical blocks collapsed to one box marked ×N.

A node is a layer (one call of a leaf module), an op that combined two activations ("add", "cat", "mul"), the
input or the output. A box is one call of a block (a module with children), holding its nodes and its own
blocks. A run of identical consecutive blocks (same class, same configuration of every submodule, same input
and output shapes, each feeding the next and nothing else) is drawn once: its first block stands for the run and
carries ``repeat`` = N. A ResNet stage whose first block has a stride or a projection and whose other n-1 blocks
are identical is drawn as that first block and one box ×(n-1); the stage's box counts ``blocks`` = n.

Stages of a flat list of blocks. A net may put all its residual blocks in one ``nn.Sequential`` (notebook 06's
``self.stages``) instead of one per stage (torchvision's ``layer1`` to ``layer4``). Such a list is split into stage
boxes of its own, ``stages.stage1`` to ``stages.stage4``, where a block changes the shape of what it is given (its
stride or its output channels: where torchvision's next ``layerN`` would start), so both layouts draw the same
four stages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import fmt
from .trace import BlockCall, OpCall, Trace, structure

__all__ = ["Box", "Edge", "Node", "build_graph", "trace_from_rows"]


@dataclass
class Node:
    id: int
    kind: str  # "Conv2d", "Linear", ..., "add", "cat", "mul", "input", "output", "error"
    name: str  # the module's path ("layer1.0.conv1"); an op's block and op ("layer1.0/add")
    config: str  # as the summary writes it: "64→64, 3×3 /1 p1"
    shape: tuple[int, ...] | None  # output without the batch axis; None for the layer that failed
    params: int | None = None  # of one call (the summary's row); None where unknown (a refused net's MACs)
    macs: int | None = None
    memory: int | None = None  # activation bytes the summary counts for it
    box: int | None = None  # index of the innermost box holding it
    repeat: int = 1  # how many layers of the net it stands for: the product of its boxes' ×N
    groups: int = 1  # a grouped conv's groups: drawn as that many towers side by side
    failed: str | None = None  # the refusal, as summarize words it
    changed: bool = False  # differs from the baseline diagram's node of the same key
    # what identifies it against a baseline: its name, except inside a stage box of a flat list of blocks, where
    # the block's place in its stage replaces its place in the list ("stages.stage3.1.conv1", not "stages.8.conv1"),
    # so that one more block in stage 1 does not mark every later layer as changed
    key: str = ""

    def __post_init__(self):
        self.key = self.key or self.name

    @property
    def label(self) -> str:
        return f"{self.kind} {self.config}".strip()

    @property
    def is_layer(self) -> bool:
        return self.kind not in ("input", "output", "add", "cat", "mul", "error")


@dataclass
class Edge:
    source: int
    target: int
    shape: tuple[int, ...]  # the source's output shape (the summary's)
    passed_shape: tuple[int, ...]  # what the target received, after any reshape in forward()

    @property
    def text(self) -> str:
        text = fmt.shape(self.shape)
        if self.passed_shape != self.shape:
            text += f" → {fmt.shape(self.passed_shape)}"
        return text

    skip: bool = False  # a shortcut: into an addition, from further back than its other input


@dataclass
class Box:
    id: int
    name: str  # the block's path, "layer3" or "layer3.1"
    kind: str  # its class, "Sequential" or "Bottleneck"
    parent: int | None
    repeat: int = 1  # N of a collapsed run: this box stands for N identical blocks in a row
    nodes: list[int] = field(default_factory=list)  # nodes directly inside it
    children: list[int] = field(default_factory=list)  # boxes directly inside it
    blocks: int = 0  # the blocks it holds directly, counting a collapsed run as its N
    changed: bool = False
    key: str = ""  # as Node.key

    def __post_init__(self):
        self.key = self.key or self.name

    @property
    def label(self) -> str:
        return self.caption(self.name)

    def caption(self, name: str) -> str:
        """'layer3 · Sequential · 36 blocks', 'layer3.1 · Bottleneck ×35', under the given name."""
        text = f"{name} · {self.kind}"
        if self.blocks > 1:
            text += f" · {self.blocks} blocks"
        return text + (f" ×{self.repeat}" if self.repeat > 1 else "")


def _descendant_nodes(trace: Trace, block: int) -> list[int]:
    call = trace.blocks[block]
    nodes = list(call.nodes)
    for child in call.children:
        nodes += _descendant_nodes(trace, child)
    return nodes


def _collapse(trace: Trace) -> tuple[dict[int, int], set[int], dict[int, int]]:
    """Runs of identical blocks: ({block: N} of each run's first, hidden blocks, {node: the node it aliases})."""
    repeat: dict[int, int] = {}
    hidden_blocks: set[int] = set()
    alias: dict[int, int] = {}
    consumers: dict[int, set[int]] = {}
    for node in trace.nodes:
        for source, _ in node.inputs:
            consumers.setdefault(source, set()).add(node.index)

    def signature(block: int):
        call = trace.blocks[block]
        if call.signature is None:
            call.signature = (type(call.module), structure(call.module))
        return (call.signature, call.input_shapes, call.output_shapes)

    def follows(before: BlockCall, after: BlockCall, inside: set[int]) -> bool:
        """``after`` takes ``before``'s one output, and nothing outside the two takes anything of ``before``."""
        if len(before.outputs) != 1 or after.inputs != before.outputs:
            return False
        return all(consumers.get(n, set()) <= inside for n in _descendant_nodes(trace, before.index))

    def runs(children: list[int]) -> None:
        i = 0
        while i < len(children):
            first = trace.blocks[children[i]]
            j = i + 1
            while j < len(children):
                previous, current = trace.blocks[children[j - 1]], trace.blocks[children[j]]
                if signature(current.index) != signature(first.index):
                    break
                inside = set(_descendant_nodes(trace, previous.index)) | set(
                    _descendant_nodes(trace, current.index)
                )
                if not follows(previous, current, inside):
                    break
                j += 1
            while j - i > 1 and not _self_contained(trace, trace.blocks[children[j - 1]], consumers):
                j -= 1  # the run's last block must hand on its output alone: its insides are not drawn
            # a block traced for a run of twins (trace.stands_for) counts them all
            count = sum(trace.blocks[children[k]].stands_for for k in range(i, j))
            if count > 1:
                repeat[first.index] = count
            if j - i > 1:
                for k in range(i + 1, j):
                    _hide(trace, children[k], hidden_blocks)
                alias[trace.blocks[children[j - 1]].outputs[0]] = first.outputs[0]
            i = j

    runs(trace.top_blocks)
    for call in trace.blocks:
        if call.index not in hidden_blocks:
            runs(call.children)
    return repeat, hidden_blocks, alias


def _self_contained(trace: Trace, call: BlockCall, consumers: dict[int, set[int]]) -> bool:
    """Nothing outside ``call`` takes any of its nodes but its one output."""
    inside = set(_descendant_nodes(trace, call.index))
    return len(call.outputs) == 1 and all(
        consumers.get(n, set()) <= inside for n in inside if n != call.outputs[0]
    )


def _hide(trace: Trace, block: int, hidden: set[int]) -> None:
    hidden.add(block)
    for child in trace.blocks[block].children:
        _hide(trace, child, hidden)


def build_graph(trace: Trace, rows: dict[int, object]) -> tuple[list[Node], list[Edge], list[Box]]:
    """Nodes, edges and boxes of ``trace``; numbers from ``rows``: {trace node index: the summary's LayerRow}."""
    repeat, hidden_blocks, alias = _collapse(trace)

    stage_of = _flat_stages(trace, hidden_blocks)  # {first block of a stage: (its number, blocks)}
    boxes: list[Box] = []
    box_of_block: dict[int, int] = {}
    renamed: dict[str, str] = {}  # a block's path in a flat list -> its path in its stage box
    flat_lists = {trace.blocks[first].parent for first in stage_of}
    current_stage = stage_start = 0
    for call in trace.blocks:  # parents open before their children, so they come first
        if call.index in hidden_blocks:
            continue
        parent = box_of_block.get(call.parent) if call.parent is not None else None
        if (
            call.index in stage_of
        ):  # a stage of a flat list opens before its first block, inside the list's box
            number, first = stage_of[call.index]
            stage = Box(len(boxes), f"{trace.blocks[call.parent].name}.stage{number}", "stage", parent)
            boxes.append(stage)
            boxes[parent].children.append(stage.id)
            current_stage, stage_start = stage.id, first
        if call.parent in flat_lists:
            boxes[parent].blocks += repeat.get(call.index, 1)  # the list counts its blocks, not its stages
            parent = current_stage
            position = int(call.name.rsplit(".", 1)[1]) - stage_start
            renamed[call.name] = f"{boxes[current_stage].name}.{position}"
        box = Box(
            len(boxes),
            call.name,
            call.kind,
            parent,
            repeat.get(call.index, 1),
            key=_rekey(call.name, renamed),
        )
        box_of_block[call.index] = box.id
        boxes.append(box)
        if parent is not None:
            boxes[parent].children.append(box.id)
            boxes[parent].blocks += box.repeat

    multiplier: dict[int, int] = {}
    for box in boxes:
        multiplier[box.id] = box.repeat * (multiplier[box.parent] if box.parent is not None else 1)

    visible: dict[int, Node] = {}
    hidden_nodes = {n for b in hidden_blocks for n in trace.blocks[b].nodes}
    names: set[str] = set()
    for op in trace.nodes:
        if op.index in hidden_nodes:
            continue
        box = box_of_block.get(op.block) if op.block is not None else None
        node = Node(
            id=len(visible),
            kind=op.kind,
            name=_unique(op.name, names),
            config="",
            shape=op.shape,
            box=box,
            repeat=multiplier[box] if box is not None else 1,
            groups=getattr(op.module, "groups", 1) if isinstance(getattr(op.module, "groups", 1), int) else 1,
        )
        node.key = _rekey(node.name, renamed)
        row = rows.get(op.index)
        if row is not None:
            node.params, node.macs, node.memory = row.params, row.macs, row.activation_bytes
            node.config = row.config
        elif op.module is not None:  # a refused net has no summary: its parameters are still known
            node.params = sum(p.numel() for p in op.module.parameters())
            node.config = _short_config(op.module)
        visible[op.index] = node
        if box is not None:
            boxes[box].nodes.append(node.id)

    def resolve(index: int) -> int:
        while index in alias:
            index = alias[index]
        return index

    edges: list[Edge] = []
    for op in trace.nodes:
        if op.index not in visible:
            continue
        for source, passed in op.inputs:
            source = resolve(source)
            if source in visible:
                shape = visible[source].shape or ()
                edges.append(Edge(visible[source].id, visible[op.index].id, shape, passed))
    # ResNet's shortcut: the input of an addition that comes from further back, i.e. with fewer layers behind it.
    # Judged by depth (the longest path from the input), not by which input ran first: `out + self.shortcut(x)`
    # runs the projection (or an nn.Identity) after the main path, yet it is the shortcut.
    depth: dict[int, int] = {}
    for edge in sorted(edges, key=lambda e: e.target):  # node ids follow the forward pass: sources come first
        depth[edge.target] = max(depth.get(edge.target, 0), depth.get(edge.source, 0) + 1)
    for target in visible.values():
        if target.kind == "add":
            into = [e for e in edges if e.target == target.id]
            for edge in sorted(into, key=lambda e: (depth.get(e.source, 0), e.source))[:-1]:
                edge.skip = True
    nodes = sorted(visible.values(), key=lambda n: n.id)
    if trace.failed is None:
        output = Node(
            len(nodes), "output", "output", "", trace.output_shapes[0] if trace.output_shapes else ()
        )
        nodes.append(output)
        for source in trace.outputs:
            source = resolve(source)
            if source in visible:
                shape = visible[source].shape or ()
                edges.append(Edge(visible[source].id, output.id, shape, shape))
    return nodes, edges, boxes


def _flat_stages(trace: Trace, hidden: set[int]) -> dict[int, tuple[int, int]]:
    """The stages of every flat list of blocks: {a stage's first block: (the stage's number, from 1; the block's
    index in its list)}.

    A flat list is a block whose forward calls only blocks (no layer of its own), each taking the one output of the
    one before, whose names are its numbered children (an ``nn.Sequential``). A new stage starts where a block's
    output differs in shape from its input (a stride, other channels). The list is split only if that gives two
    stages or more and one of them holds two blocks or more: torchvision's ``layer2``, already one stage, and
    DenseNet's alternating blocks and transitions are left as they are.
    """
    found: dict[int, tuple[int, int]] = {}
    for call in trace.blocks:
        if call.index in hidden or call.nodes or len(call.children) < 3:
            continue
        calls = [trace.blocks[c] for c in call.children]  # the hidden blocks of ×N runs included
        numbered = all(
            c.name.rsplit(".", 1)[-1].isdigit() and c.name.startswith(call.name + ".") for c in calls
        )
        chained = all(after.inputs == before.outputs for before, after in zip(calls, calls[1:]))
        if not (numbered and chained):
            continue
        # a block that changes the shape is never inside a ×N run (the next block's input differs from its own),
        # so every stage's first block is drawn
        starts = [i for i, c in enumerate(calls) if i == 0 or c.input_shapes != c.output_shapes]
        sizes = [
            sum(c.stands_for for c in calls[start:end])
            for start, end in zip(starts, [*starts[1:], len(calls)])
        ]
        if len(starts) < 2 or max(sizes) < 2:
            continue
        for number, start in enumerate(starts, 1):
            found[calls[start].index] = (number, int(calls[start].name.rsplit(".", 1)[1]))
    return found


def _rekey(name: str, renamed: dict[str, str]) -> str:
    """``name`` with the path of its block in a flat list replaced by its path in its stage box."""
    if not renamed:
        return name
    parts = name.replace("/", ".").split(".")
    for cut in range(len(parts), 0, -1):  # the longest renamed prefix
        prefix = ".".join(parts[:cut])
        if prefix in renamed and (len(name) == len(prefix) or name[len(prefix)] in "./"):
            return renamed[prefix] + name[len(prefix) :]
    return name


def _short_config(module) -> str:
    """The module's own settings as torch prints them, shortened: '3, 8, k=5, s=1' (a refused net has no
    summary to take the course's wording from)."""
    text = re.sub(r"\((\d+), \1\)", r"\1", module.extra_repr())  # (5, 5) -> 5
    for long, short in (("kernel_size=", "k="), ("stride=", "s="), ("padding=", "p="), ("in_features=", "")):
        text = text.replace(long, short)
    return text.replace(", out_features=", " → ")


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}#{n}", n + 1
    taken.add(candidate)
    return candidate


def trace_from_rows(rows: Sequence, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> Trace:
    """A chain of a summary's rows, in call order, boxed by the blocks their names say (no model needed).

    A summary keeps no edges, so a diagram drawn from one shows no skips and no concatenations: draw the model
    for those.
    """
    nodes = [OpCall(0, "input", "input", None, None, [], tuple(input_shape))]
    blocks: list[BlockCall] = []
    top_nodes, top_blocks = [0], []
    open_path: list[int] = []  # the block calls open for the current row, outermost first
    for number, row in enumerate(rows):
        parts = row.name.split(".")[:-1]
        depth = 0
        while (
            depth < len(open_path)
            and depth < len(parts)
            and blocks[open_path[depth]].name == ".".join(parts[: depth + 1])
        ):
            depth += 1
        for closed in open_path[depth:]:
            blocks[closed].outputs = [len(nodes) - 1]
            blocks[closed].output_shapes = (nodes[-1].shape,)
        del open_path[depth:]
        for level in range(depth, len(parts)):
            parent = open_path[-1] if open_path else None
            call = BlockCall(
                len(blocks), ".".join(parts[: level + 1]), None, parent, [len(nodes) - 1], (nodes[-1].shape,)
            )
            blocks.append(call)
            (blocks[parent].children if parent is not None else top_blocks).append(call.index)
            open_path.append(call.index)
        index = len(nodes)
        block = open_path[-1] if open_path else None
        nodes.append(
            OpCall(
                index,
                row.kind,
                row.name,
                None,
                block,
                [(index - 1, nodes[-1].shape)],
                row.output_shape,
                number,
            )
        )
        (blocks[block].nodes if block is not None else top_nodes).append(index)
    for closed in open_path:
        blocks[closed].outputs = [len(nodes) - 1]
        blocks[closed].output_shapes = (nodes[-1].shape,)
    for call in blocks:  # identical when their rows are, relative to the block
        prefix = call.name + "."
        call.signature = tuple(
            (r.name[len(prefix) :], r.kind, r.config, r.output_shape)
            for r in rows
            if r.name.startswith(prefix)
        )
        call.kind = "block"
    return Trace(nodes, blocks, top_nodes, top_blocks, [len(nodes) - 1], (tuple(output_shape),), None, None)
