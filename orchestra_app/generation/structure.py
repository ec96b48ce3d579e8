"""What the generator derives from a controlFlowGraph: adjacency, split kinds, back edges, loops, joins."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from orchestra_app.domain.graph import DEFAULT_MAX_LOOP_ITERATIONS, ControlFlowGraph, Flow, Node

SUBPROCESS_TYPES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
ACTIVITY_TYPES = frozenset(
    {
        "task",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "userTask",
        "manualTask",
        "scriptTask",
        "businessRuleTask",
        "callActivity",
    }
    | SUBPROCESS_TYPES
)
PARKING_GATEWAYS = frozenset({"parallelGateway", "inclusiveGateway", "complexGateway"})
# Loop bookkeeping costs loops x body size. A model whose loop bodies hold more node memberships
# than this ("spaghetti": back edges overlapping everywhere) tracks no further loops: their back
# flows stay free (capped per flow, never steered). Corpus models use at most a few dozen.
LOOP_MEMBERSHIP_PER_NODE = 3
LOOP_MEMBERSHIP_BASE = 1_000
XOR_GATEWAYS = frozenset({"exclusiveGateway", "eventBasedGateway"})
OR_GATEWAYS = frozenset({"inclusiveGateway", "complexGateway"})


class SplitKind(Enum):
    END = "end"
    PASS = "pass"
    XOR = "xor"
    AND = "and"
    OR = "or"


@dataclass
class LoopRec:
    id: str
    header: str
    back_flows: list[str]
    nodes: frozenset[str]
    iterations: int
    can_back: frozenset[str] = frozenset()  # loop nodes that reach a back flow without leaving the loop
    can_exit: frozenset[str] = frozenset()  # loop nodes that reach an exit without a back flow


@dataclass
class Edge:
    """A traversable edge: a real sequence flow or a virtual link jump (``real`` False)."""

    id: str
    source: str
    target: str
    real: bool
    flow: Flow | None = None


@dataclass
class Prepared:
    graph: ControlFlowGraph
    nodes: dict[str, Node]
    order: dict[str, int]  # document order of nodes
    edges: dict[str, Edge]
    out: dict[str, list[str]]
    inc: dict[str, list[str]]
    children: dict[str, list[str]]  # subprocess id -> child node ids (document order)
    top: dict[str, list[str]]  # process id -> top-level node ids
    boundaries: dict[str, list[str]]  # activity id -> boundary event ids
    event_subs: dict[str, list[str]]  # scope key (subprocess id or "process:<id>") -> event subprocess ids
    back: set[str] = field(default_factory=set)
    loops: list[LoopRec] = field(default_factory=list)
    loop_by_id: dict[str, LoopRec] = field(default_factory=dict)
    loop_of_back: dict[str, LoopRec] = field(default_factory=dict)
    loops_of_node: dict[str, list[LoopRec]] = field(default_factory=dict)  # innermost first
    inner_loops: dict[str, list[LoopRec]] = field(default_factory=dict)  # loops restarted by each iteration
    free_back: set[str] = field(default_factory=set)  # back flows without a loop record (budget spent)
    free_cap: int = DEFAULT_MAX_LOOP_ITERATIONS  # traversals of one free back flow per scenario
    work: int = 0  # node visits spent preparing (loop bodies): reported with the plan's counters
    topo: dict[str, int] = field(default_factory=dict)
    split: dict[str, SplitKind] = field(default_factory=dict)
    joins: dict[str, str | None] = field(default_factory=dict)
    terminates: frozenset[str] = frozenset()  # terminate end events: they end every token of their scope
    warnings: list[str] = field(default_factory=list)

    def scope_key(self, node: Node) -> str:
        return node.parent_id if node.parent_id else f"process:{node.process_id}"

    def is_default(self, node_id: str, edge_id: str) -> bool:
        edge = self.edges[edge_id]
        return bool(edge.flow and (edge.flow.is_default or self.nodes[node_id].default_flow == edge.id))

    def is_parking(self, node_id: str) -> bool:
        node = self.nodes[node_id]
        return node.type in PARKING_GATEWAYS and len(self.inc.get(node_id, ())) > 1

    def in_event_subprocess(self, nid: str) -> bool:
        parent = self.nodes[nid].parent_id
        while parent and parent in self.nodes:
            if self.nodes[parent].triggered_by_event:
                return True
            parent = self.nodes[parent].parent_id
        return False

    def is_implicit_start(self, nid: str) -> bool:
        """BPMN 2.0: an activity or catch event no sequence flow enters starts with its scope.

        Not boundary events, compensation handlers (they run only when compensation is thrown), link
        catches (a link throw enters them) or nodes inside event subprocesses (their start event
        triggers them). An event-based gateway no flow enters is an instantiating gateway.
        """
        node = self.nodes[nid]
        if self.inc.get(nid) or node.triggered_by_event or node.type == "boundaryEvent":
            return False
        if node.extensions.get("isForCompensation") is True:
            return False
        if node.type in ACTIVITY_TYPES:
            return not self.in_event_subprocess(nid)
        if node.type == "intermediateCatchEvent" or node.type == "eventBasedGateway":
            if node.event_definition == "link" or "link" in node.event_definitions:
                return False
            return not self.in_event_subprocess(nid)
        return False

    def scope_tokens(self, scope_nodes: list[str]) -> list[tuple[str, ...]]:
        """Alternative token sets that start a scope.

        With start events: one set per start event, holding it and the scope's implicit starts.
        Without: one set of every node no flow enters (boundaries, link catches, compensation and
        event subprocesses excluded), all started together.
        """
        nodes = [n for n in scope_nodes if not self.nodes[n].triggered_by_event]
        starts = [n for n in nodes if self.nodes[n].type == "startEvent"]
        if starts:
            implicit = tuple(n for n in nodes if n not in starts and self.is_implicit_start(n))
            return [(s, *implicit) for s in starts]
        free = tuple(
            n
            for n in nodes
            if not self.inc.get(n)
            and self.nodes[n].type != "boundaryEvent"
            and not (self.nodes[n].event_definition == "link" and "Catch" in self.nodes[n].type)
            and self.nodes[n].event_definition != "compensate"
            and self.nodes[n].extensions.get("isForCompensation") is not True
        )
        return [free] if free else []

    def scope_starts(self, scope_nodes: list[str]) -> list[str]:
        """Every node that receives a token when the scope starts (all start events run together)."""
        seen: dict[str, None] = {}
        for tokens in self.scope_tokens(scope_nodes):
            for n in tokens:
                seen.setdefault(n, None)
        return list(seen)

    def esp_starts(self, esp: str) -> list[str]:
        """The start events of an event subprocess (each one is a trigger)."""
        children = self.children.get(esp, [])
        starts = [n for n in children if self.nodes[n].type == "startEvent"]
        return starts or [
            n for n in children if not self.inc.get(n) and self.nodes[n].type != "boundaryEvent"
        ]


def _is_esp(node: Node) -> bool:
    return node.type in SUBPROCESS_TYPES and bool(node.triggered_by_event)


def prepare(graph: ControlFlowGraph, *, max_loop: int | None = None) -> Prepared:
    nodes: dict[str, Node] = {}
    order: dict[str, int] = {}
    for node in graph.nodes:
        if node.id not in nodes:
            nodes[node.id] = node
            order[node.id] = len(order)
    edges: dict[str, Edge] = {}
    out: dict[str, list[str]] = {n: [] for n in nodes}
    inc: dict[str, list[str]] = {n: [] for n in nodes}
    for flow in graph.flows:
        if flow.kind != "sequence" or flow.source not in nodes or flow.target not in nodes:
            continue
        if flow.id in edges:
            continue
        edges[flow.id] = Edge(flow.id, flow.source, flow.target, True, flow)
        out[flow.source].append(flow.id)
        inc[flow.target].append(flow.id)
    prep = Prepared(
        graph=graph,
        nodes=nodes,
        order=order,
        edges=edges,
        out=out,
        inc=inc,
        children={},
        top={},
        boundaries={},
        event_subs={},
    )
    _link_jumps(prep)
    for nid, node in nodes.items():
        if node.type == "boundaryEvent" and node.attached_to in nodes:
            # A compensation boundary event never interrupts its activity: it only links the handler
            # that compensation runs after the activity completed (not simulated). It is no option.
            if node.event_definition != "compensate" and "compensate" not in node.event_definitions:
                prep.boundaries.setdefault(node.attached_to, []).append(nid)
            continue
        if node.parent_id and node.parent_id in nodes:
            prep.children.setdefault(node.parent_id, []).append(nid)
        else:
            prep.top.setdefault(node.process_id, []).append(nid)
        if _is_esp(node):
            prep.event_subs.setdefault(prep.scope_key(node), []).append(nid)
    for nid in nodes:
        prep.split[nid] = _split_kind(prep, nid)
    prep.terminates = frozenset(
        nid
        for nid, node in nodes.items()
        if node.type == "endEvent"
        and (node.event_definition == "terminate" or "terminate" in node.event_definitions)
    )
    _find_back_edges(prep)
    _build_loops(prep, max_loop)
    return prep


def _link_jumps(prep: Prepared) -> None:
    """Link throw -> catch becomes a jump, unless the importer already added a flow for it.

    Pairs by link name; when no catch carries the throw's link name, by the name compared without
    case and whitespace, then by the events' own names when exactly one catch matches (exporters
    that name link definitions after their ids, or break a name over two lines).
    """
    by_link: dict[tuple[str, str], list[str]] = {}
    by_loose: dict[tuple[str, str], list[str]] = {}
    by_name: dict[tuple[str, str], list[str]] = {}
    throws: list[str] = []
    for nid, node in prep.nodes.items():
        if node.event_definition != "link" and "link" not in node.event_definitions:
            continue
        if node.type == "intermediateCatchEvent":
            by_link.setdefault((node.process_id, node.link_name or node.name or ""), []).append(nid)
            by_loose.setdefault((node.process_id, _loose(node.link_name or node.name)), []).append(nid)
            if node.name:
                by_name.setdefault((node.process_id, _loose(node.name)), []).append(nid)
        elif node.type == "intermediateThrowEvent":
            throws.append(nid)
    for throw in throws:
        if prep.out[throw]:
            continue  # the importer already wired the jump
        node = prep.nodes[throw]
        link = node.link_name or node.name or ""
        targets = by_link.get((node.process_id, link), [])
        if not targets and _loose(link):
            targets = by_loose.get((node.process_id, _loose(link)), [])
            if not targets and node.name:
                named = by_name.get((node.process_id, _loose(node.name)), [])
                targets = named if len(named) == 1 else []
            if targets:
                paired = prep.nodes[targets[0]]
                prep.warnings.append(
                    f"link throw {throw} ({link!r}) has no catch with that link name; "
                    f"paired with catch {paired.id} ({paired.link_name or paired.name!r})"
                )
        if not targets:
            prep.warnings.append(f"link throw {throw} has no matching catch event")
        for catch in targets[:1]:
            edge_id = f"link:{throw}->{catch}"
            prep.edges[edge_id] = Edge(edge_id, throw, catch, False)
            prep.out[throw].append(edge_id)
            prep.inc[catch].append(edge_id)


def _loose(text: str | None) -> str:
    return "".join((text or "").split()).casefold()


def _split_kind(prep: Prepared, nid: str) -> SplitKind:
    outs = prep.out[nid]
    if not outs:
        return SplitKind.END
    if len(outs) == 1:
        return SplitKind.PASS
    node = prep.nodes[nid]
    if node.type in XOR_GATEWAYS:
        return SplitKind.XOR
    if node.type == "parallelGateway":
        return SplitKind.AND
    if node.type in OR_GATEWAYS:
        return SplitKind.OR
    # Activities and events: conditioned flows make an OR-split, otherwise an implicit AND-split.
    conditioned = any(prep.edges[e].flow and prep.edges[e].flow.condition for e in outs)  # type: ignore[union-attr]
    return SplitKind.OR if conditioned else SplitKind.AND


def _traversal_out(prep: Prepared, nid: str) -> list[tuple[str, str]]:
    """(edge key, target) pairs the DFS follows: flows plus boundary attachments."""
    pairs = [(e, prep.edges[e].target) for e in prep.out[nid]]
    pairs.extend((f"boundary:{b}", b) for b in prep.boundaries.get(nid, ()))
    if nid in prep.children and not prep.nodes[nid].triggered_by_event:
        # Entering a subprocess: its inner nodes sort after it, so counts can run inside out.
        inner = [c for c in prep.children[nid] if not prep.nodes[c].triggered_by_event]
        pairs.extend((f"enter:{s}", s) for s in prep.scope_starts(inner))
    return pairs


def _find_back_edges(prep: Prepared) -> None:
    """Iterative DFS from the start events (then from every unvisited node) in document order."""
    state: dict[str, int] = {}  # 1 on stack, 2 done
    finish: list[str] = []
    roots = [n for n in prep.nodes if prep.nodes[n].type == "startEvent"]
    roots += list(prep.nodes)
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int, list[tuple[str, str]]]] = [(root, 0, _traversal_out(prep, root))]
        while stack:
            nid, idx, succ = stack[-1]
            if idx < len(succ):
                stack[-1] = (nid, idx + 1, succ)
                key, target = succ[idx]
                st = state.get(target)
                if st is None:
                    state[target] = 1
                    stack.append((target, 0, _traversal_out(prep, target)))
                elif st == 1:
                    prep.back.add(key)
            else:
                state[nid] = 2
                finish.append(nid)
                stack.pop()
    for i, nid in enumerate(reversed(finish)):
        prep.topo[nid] = i


def _build_loops(prep: Prepared, max_loop: int | None) -> None:
    declared: dict[str, tuple[str, int]] = {}
    for info in prep.graph.loops:
        for flow_id in info.back_flows:
            declared[flow_id] = (info.id, info.max_loop_iterations)
    default_n = (
        max_loop if max_loop is not None else (prep.graph.max_loop_iterations or DEFAULT_MAX_LOOP_ITERATIONS)
    )
    by_header: dict[str, list[str]] = {}
    for key in sorted(prep.back, key=lambda k: (prep.order.get(_edge_target(prep, k), 0), k)):
        if key.startswith("enter:"):
            continue
        if key.startswith("boundary:"):
            prep.warnings.append(f"cycle through boundary event {key[9:]} is not treated as a loop")
            continue
        by_header.setdefault(prep.edges[key].target, []).append(key)
    budget = LOOP_MEMBERSHIP_BASE + LOOP_MEMBERSHIP_PER_NODE * len(prep.nodes)
    prep.free_cap = max(1, default_n)
    for header, backs in by_header.items():
        body = _loop_body(prep, header, backs, budget) if budget > 0 else None
        if body is None:
            # A spaghetti model: loops past the budget are not tracked. Their back flows stay plain
            # flows that structured walks avoid and gap-closing routes take (capped per flow).
            prep.free_back.update(backs)
            budget = 0
            continue
        budget -= len(body)
        loop_id, iterations = f"loop:{header}", default_n
        for b in backs:
            if b in declared:
                loop_id, declared_n = declared[b]
                iterations = max_loop if max_loop is not None else declared_n
                break
        rec = LoopRec(loop_id, header, backs, frozenset(body), max(1, iterations))
        rec.can_back = frozenset(_reverse_reach(prep, rec, [prep.edges[b].source for b in backs]))
        exits = [
            n for n in body if any(prep.edges[e].target not in body for e in prep.out[n]) or not prep.out[n]
        ]
        rec.can_exit = frozenset(_reverse_reach(prep, rec, exits))
        prep.work += 3 * len(body)
        prep.loops.append(rec)
        prep.loop_by_id[rec.id] = rec
        for b in backs:
            prep.loop_of_back[b] = rec
    for rec in sorted(prep.loops, key=lambda r: len(r.nodes)):
        for nid in rec.nodes:
            prep.loops_of_node.setdefault(nid, []).append(rec)
    index = {rec.header: i for i, rec in enumerate(prep.loops)}
    for rec in prep.loops:
        inner = sorted(index[n] for n in rec.nodes if n in index and n != rec.header)
        prep.inner_loops[rec.id] = [prep.loops[i] for i in inner]


def _loop_body(prep: Prepared, header: str, backs: list[str], budget: int) -> set[str] | None:
    """The nodes that reach a back flow's source without passing the header; None past ``budget``."""
    body: set[str] = {header}
    queue = deque(prep.edges[b].source for b in backs)
    while queue:
        nid = queue.popleft()
        if nid in body:
            continue
        body.add(nid)
        if len(body) > budget:
            prep.work += len(body)
            return None
        for e in prep.inc[nid]:
            queue.append(prep.edges[e].source)
    return body


def _edge_target(prep: Prepared, key: str) -> str:
    for prefix in ("boundary:", "enter:"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return prep.edges[key].target


def _reverse_reach(prep: Prepared, rec: LoopRec, seeds: list[str]) -> set[str]:
    seen: set[str] = set()
    queue = deque(seeds)
    while queue:
        nid = queue.popleft()
        if nid in seen or nid not in rec.nodes:
            continue
        seen.add(nid)
        for e in prep.inc[nid]:
            if e not in rec.back_flows:
                queue.append(prep.edges[e].source)
    return seen
