"""A diagram layout (BPMNDI) for BPMN files that carry none, made from the controlFlowGraph.

Layered left to right: each container (a process, an expanded sub-process) is laid out on its own
and then placed as one box in its parent; back edges (loops) are found by a depth-first walk and
left out of the layering; a node sits in the column after its furthest predecessor, columns are
stacked top-down in the order their nodes were reached. Boundary events sit on their activity's
bottom edge, pools (participants) are stacked one under another, flows are drawn orthogonally
(loops return below the nodes). Deterministic: the same graph always gives the same drawing.

Only elements whose ids exist in the XML get a shape (flows the importer named itself are skipped).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from lxml import etree

from orchestra_app.domain.graph import ControlFlowGraph, Node

DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DD_DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

GAP_X = 60
GAP_Y = 40
PAD = 30  # inside sub-processes and pools
POOL_LABEL = 30  # the band with a pool's name
CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}


def node_size(node: Node) -> tuple[int, int]:
    kind = node.type
    if kind.endswith("Event"):
        return 36, 36
    if kind.endswith("Gateway"):
        return 50, 50
    return 100, 80


@dataclass
class Box:
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass
class Layout:
    """Positions of nodes and pools and the waypoints of flows."""

    shapes: dict[str, Box] = field(default_factory=dict)
    expanded: set[str] = field(default_factory=set)  # sub-processes drawn open
    pools: dict[str, Box] = field(default_factory=dict)
    edges: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


class _Layouter:
    def __init__(self, graph: ControlFlowGraph) -> None:
        self.graph = graph
        self.nodes = {n.id: n for n in graph.nodes}
        self.children: dict[str | None, list[Node]] = defaultdict(list)
        self.boundaries: dict[str, list[Node]] = defaultdict(list)
        for node in graph.nodes:
            if node.attached_to:
                self.boundaries[node.attached_to].append(node)
            else:
                self.children[node.parent_id or f"process:{node.process_id}"].append(node)
        self.out: dict[str, list[str]] = defaultdict(list)
        for flow in graph.flows:
            if flow.kind == "sequence" and flow.source in self.nodes and flow.target in self.nodes:
                self.out[flow.source].append(flow.target)
        self.layout = Layout()
        # relative positions inside their container, then made absolute once the container is placed
        self.local: dict[str, Box] = {}

    def _owner(self, node_id: str) -> str:
        """The node a flow leaving ``node_id`` is laid out from (a boundary event: its activity)."""
        node = self.nodes[node_id]
        return node.attached_to if node.attached_to and node.attached_to in self.nodes else node_id

    def container(self, key: str) -> tuple[float, float]:
        """Lays out the members of one container; returns its content size."""
        members = self.children.get(key, [])
        if not members:
            return 0, 0
        ids = [m.id for m in members]
        member_set = set(ids)
        sizes: dict[str, tuple[float, float]] = {}
        for m in members:
            if m.type in CONTAINERS and self.children.get(m.id):
                w, h = self.container(m.id)
                sizes[m.id] = (w + 2 * PAD, h + 2 * PAD + 10)
                self.layout.expanded.add(m.id)
            else:
                sizes[m.id] = node_size(m)
        succ: dict[str, list[str]] = defaultdict(list)
        indegree: dict[str, int] = dict.fromkeys(ids, 0)
        for source in ids + [b.id for m in ids for b in self.boundaries.get(m, [])]:
            owner = self._owner(source)
            if owner not in member_set:
                continue
            for target in self.out.get(source, []):
                if target in member_set and target != owner:
                    succ[owner].append(target)
        # depth-first from the starts (then from anything not reached): back edges are the loops
        order: list[str] = []
        state: dict[str, int] = {}
        back: set[tuple[str, str]] = set()
        starts = [i for i in ids if self.nodes[i].type == "startEvent"] + ids
        for root in starts:
            if root in state:
                continue
            stack = [(root, iter(succ.get(root, [])))]
            state[root] = 1
            order.append(root)
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    state[node] = 2
                    stack.pop()
                elif state.get(nxt) == 1:
                    back.add((node, nxt))
                elif nxt not in state:
                    state[nxt] = 1
                    order.append(nxt)
                    stack.append((nxt, iter(succ.get(nxt, []))))
        forward = {s: [t for t in succ.get(s, []) if (s, t) not in back] for s in ids}
        for targets in forward.values():
            for t in targets:
                indegree[t] += 1
        layer: dict[str, int] = dict.fromkeys(ids, 0)
        ready = [i for i in order if indegree[i] == 0]
        seen = 0
        while ready:
            node = ready.pop(0)
            seen += 1
            for t in forward.get(node, []):
                layer[t] = max(layer[t], layer[node] + 1)
                indegree[t] -= 1
                if indegree[t] == 0:
                    ready.append(t)
        columns: dict[int, list[str]] = defaultdict(list)
        rank = {n: i for i, n in enumerate(order)}
        for node in sorted(ids, key=lambda n: (layer[n], rank.get(n, 0))):
            columns[layer[node]].append(node)
        heights = {c: sum(sizes[n][1] for n in col) + GAP_Y * (len(col) - 1) for c, col in columns.items()}
        total_h = max(heights.values())
        x = 0.0
        for c in sorted(columns):
            col = columns[c]
            width = max(sizes[n][0] for n in col)
            y = (total_h - heights[c]) / 2
            for node in col:
                w, h = sizes[node]
                self.local[node] = Box(x + (width - w) / 2, y, w, h)
                y += h + GAP_Y
            x += width + GAP_X
        return x - GAP_X, total_h

    def place(self, key: str, dx: float, dy: float) -> None:
        for member in self.children.get(key, []):
            local = self.local[member.id]
            box = Box(local.x + dx, local.y + dy, local.w, local.h)
            self.layout.shapes[member.id] = box
            if member.id in self.layout.expanded:
                self.place(member.id, box.x + PAD, box.y + PAD + 10)
            for i, event in enumerate(self.boundaries.get(member.id, [])):
                ex = box.x + box.w - 18 - 40 * i
                self.layout.shapes[event.id] = Box(ex - 18, box.y + box.h - 18, 36, 36)

    def run(self) -> Layout:
        y = 0.0
        participants = {p.process_id: p for p in self.graph.participants if p.process_id}
        process_ids = [p.id for p in self.graph.processes]
        for pid in process_ids:
            w, h = self.container(f"process:{pid}")
            if w == 0:
                continue
            participant = participants.get(pid)
            if participant is not None:
                pool = Box(0, y, w + POOL_LABEL + 2 * PAD, h + 2 * PAD)
                self.layout.pools[participant.id] = pool
                self.place(f"process:{pid}", POOL_LABEL + PAD, y + PAD)
            else:
                self.place(f"process:{pid}", 0, y)
            y += h + 2 * PAD + GAP_Y
        width = max(
            (b.x + b.w for b in [*self.layout.shapes.values(), *self.layout.pools.values()]), default=600
        )
        for participant in self.graph.participants:
            if participant.id not in self.layout.pools:  # a black-box pool
                self.layout.pools[participant.id] = Box(0, y, max(width, 600), 80)
                y += 80 + GAP_Y
        self.route()
        return self.layout

    def route(self) -> None:
        shapes = self.layout.shapes
        bottom = max((b.y + b.h for b in shapes.values()), default=0)
        for flow in self.graph.flows:
            source = shapes.get(flow.source) or self.layout.pools.get(flow.source)
            target = shapes.get(flow.target) or self.layout.pools.get(flow.target)
            if source is None or target is None:
                continue
            if flow.kind == "message":
                down = target.cy > source.cy
                sy = source.y + source.h if down else source.y
                ty = target.y if down else target.y + target.h
                x = source.cx if source.w < target.w else target.cx
                self.layout.edges[flow.id] = [(x, sy), (x, ty)]
            elif target.x > source.x + source.w / 2:
                sx, sy = source.x + source.w, source.cy
                if self.nodes.get(flow.source) is not None and self.nodes[flow.source].attached_to:
                    sx, sy = source.cx, source.y + source.h
                    mid_y = target.cy
                    self.layout.edges[flow.id] = [(sx, sy), (sx, mid_y), (target.x, mid_y)]
                    continue
                tx, ty = target.x, target.cy
                mid = (sx + tx) / 2
                points = [(sx, sy), (tx, ty)] if sy == ty else [(sx, sy), (mid, sy), (mid, ty), (tx, ty)]
                self.layout.edges[flow.id] = points
            else:  # back to an earlier column: around the bottom
                low = bottom + 30
                self.layout.edges[flow.id] = [
                    (source.cx, source.y + source.h),
                    (source.cx, low),
                    (target.cx, low),
                    (target.cx, target.y + target.h),
                ]


def layout_graph(graph: ControlFlowGraph) -> Layout:
    return _Layouter(graph).run()


def _n(value: float) -> str:
    return str(round(value))


def add_layout(root: etree._Element, graph: ControlFlowGraph) -> int:
    """Appends a BPMNDiagram to the definitions ``root``; returns how many shapes it drew (0: none)."""
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    layout = layout_graph(graph)
    for old in root.findall(f"{{{DI_NS}}}BPMNDiagram"):
        root.remove(old)
    collaboration = next(
        (el.get("id") for el in root.iter(f"{{{MODEL_NS}}}collaboration") if el.get("id")), None
    )
    plane_of = collaboration or next((p.id for p in graph.processes if p.id in ids), None)
    if plane_of is None:
        return 0
    diagram = etree.SubElement(root, f"{{{DI_NS}}}BPMNDiagram", id="BPMNDiagram_orchestra_layout")
    plane = etree.SubElement(diagram, f"{{{DI_NS}}}BPMNPlane", id="BPMNPlane_orchestra_layout")
    plane.set("bpmnElement", plane_of)
    drawn = 0

    def shape(element_id: str, box: Box, **attrs: str) -> None:
        nonlocal drawn
        el = etree.SubElement(plane, f"{{{DI_NS}}}BPMNShape", id=f"{element_id}_di", bpmnElement=element_id)
        for key, value in attrs.items():
            el.set(key, value)
        etree.SubElement(
            el, f"{{{DC_NS}}}Bounds", x=_n(box.x), y=_n(box.y), width=_n(box.w), height=_n(box.h)
        )
        drawn += 1

    if collaboration:
        for pool_id, box in layout.pools.items():
            if pool_id in ids:
                shape(pool_id, box, isHorizontal="true")
    for node_id, box in layout.shapes.items():
        if node_id in ids:
            extra = {"isExpanded": "true"} if node_id in layout.expanded else {}
            shape(node_id, box, **extra)
    for flow_id, points in layout.edges.items():
        if flow_id not in ids:
            continue
        edge = etree.SubElement(plane, f"{{{DI_NS}}}BPMNEdge", id=f"{flow_id}_di", bpmnElement=flow_id)
        for x, y in points:
            etree.SubElement(edge, f"{{{DD_DI_NS}}}waypoint", x=_n(x), y=_n(y))
    return drawn


def graph_to_bpmn(graph: ControlFlowGraph) -> etree._Element:
    """BPMN XML rebuilt from the controlFlowGraph (when the source file is not available): processes,
    their nodes (sub-processes nested, boundary events attached), sequence flows, and a collaboration
    with the pools and message flows. No extensions, conditions or documentation: it is for drawing."""
    m = f"{{{MODEL_NS}}}"
    root = etree.Element(f"{m}definitions", nsmap={None: MODEL_NS}, id="Definitions_orchestra_graph")
    root.set("targetNamespace", "https://orchestra.dev/generated")
    nodes = {n.id: n for n in graph.nodes}
    if graph.participants:
        collaboration = etree.SubElement(root, f"{m}collaboration", id="Collaboration_orchestra_graph")
        for participant in graph.participants:
            el = etree.SubElement(collaboration, f"{m}participant", id=participant.id)
            if participant.name:
                el.set("name", participant.name)
            if participant.process_id:
                el.set("processRef", participant.process_id)
        for flow in graph.flows:
            if flow.kind == "message":
                etree.SubElement(
                    collaboration, f"{m}messageFlow", id=flow.id, sourceRef=flow.source, targetRef=flow.target
                )
    for process in graph.processes:
        proc = etree.SubElement(root, f"{m}process", id=process.id)
        if process.name:
            proc.set("name", process.name)
        containers: dict[str, etree._Element] = {process.id: proc}
        pending = [n for n in graph.nodes if n.process_id == process.id]
        while pending:  # parents before children, whatever order the graph lists them in
            later = []
            for node in pending:
                parent = containers.get(node.parent_id or process.id)
                if parent is None:
                    if node.parent_id not in nodes:  # a parent that is not a node: put it at the top
                        parent = proc
                    else:
                        later.append(node)
                        continue
                el = etree.SubElement(parent, f"{m}{node.type}", id=node.id)
                if node.name:
                    el.set("name", node.name)
                if node.attached_to:
                    el.set("attachedToRef", node.attached_to)
                containers[node.id] = el
            if len(later) == len(pending):
                break
            pending = later
        for flow in graph.flows:
            if flow.kind != "sequence" or nodes.get(flow.source) is None:
                continue
            if nodes[flow.source].process_id != process.id:
                continue
            parent = containers.get(nodes[flow.source].parent_id or process.id, proc)
            el = etree.SubElement(
                parent, f"{m}sequenceFlow", id=flow.id, sourceRef=flow.source, targetRef=flow.target
            )
            if flow.name:
                el.set("name", flow.name)
    return root
