"""What the diagrams show: element names, decisions in words, step statuses per node, flow coverage.

Pure functions over the controlFlowGraph, a scenario's path and run results; the services feed them
rows and the UI draws what they return (marker classes are the UI's business, not this module's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestra_app.domain.graph import ControlFlowGraph, Flow, Node
from orchestra_app.domain.steps import StepStatus

# A node with several steps shows the most telling status: any failure first, a step still to come
# before a pass, a pass only when every step of the node passed.
STATUS_RANK = {
    StepStatus.FAILED: 0,
    StepStatus.FLAKY: 1,
    StepStatus.RUNNING: 2,
    StepStatus.PENDING: 3,
    StepStatus.SKIPPED: 4,
    StepStatus.PASSED: 5,
}
EXECUTED = frozenset({StepStatus.PASSED, StepStatus.FAILED, StepStatus.FLAKY})


def node_label(node: Node | None, fallback: str = "") -> str:
    if node is None:
        return fallback
    return node.name or fallback or node.id


def flow_label(flow: Flow | None, nodes: Mapping[str, Node], fallback: str = "") -> str:
    """A flow's name, else its condition, else "to <target>"."""
    if flow is None:
        return fallback
    if flow.name:
        return flow.name
    if flow.condition:
        return flow.condition
    target = nodes.get(flow.target)
    if target is not None and target.name:
        return f"to {target.name}"
    return fallback or flow.id


def element_labels(graph: ControlFlowGraph) -> dict[str, str]:
    """{element id: what a person calls it} for nodes and flows that have a name or condition."""
    nodes = {n.id: n for n in graph.nodes}
    out = {n.id: n.name for n in graph.nodes if n.name}
    for flow in graph.flows:
        label = flow.name or flow.condition
        if label:
            out[flow.id] = label
        elif flow.source in nodes and flow.target in nodes:
            out[flow.id] = f"{node_label(nodes[flow.source])} → {node_label(nodes[flow.target])}"
    return out


@dataclass(frozen=True)
class Decision:
    text: str  # by names: "Items in stock? → In stock"
    ids: str  # the same by ids, shown on hover: "Gateway_InStock → Flow_InStock"


def describe_decisions(
    graph: ControlFlowGraph, decisions: Mapping[str, Any], path_nodes: Sequence[str] = ()
) -> list[Decision]:
    """A scenario's decisions (test_scenario.path.decisions) by the names of gateways and flows, in the
    order the path reaches them (jsonb does not keep key order)."""
    nodes = {n.id: n for n in graph.nodes}
    flows = {f.id: f for f in graph.flows}
    first: dict[str, int] = {}
    for i, node_id in enumerate(path_nodes):
        first.setdefault(node_id, i)

    def position(item: tuple[str, Any]) -> tuple[int, str]:
        point, decision = item
        where = str(decision.get("header", point)) if isinstance(decision, Mapping) else point
        return (first.get(point, first.get(where, len(path_nodes))), point)

    out: list[Decision] = []
    for point, decision in sorted(decisions.items(), key=position):
        if not isinstance(decision, Mapping):
            continue
        if decision.get("loop"):
            header = str(decision.get("header", point))
            times = decision.get("iterations", 0)
            out.append(
                Decision(
                    f"loop at {node_label(nodes.get(header), header)} × {times}",
                    f"{point} (header {header}) × {times}",
                )
            )
            continue
        taken = decision.get("flows") or [decision.get("flow", "")]
        names = [flow_label(flows.get(str(f)), nodes, str(f)) for f in taken]
        out.append(
            Decision(
                f"{node_label(nodes.get(point), point)} → {' + '.join(names)}",
                f"{point} → {' + '.join(str(f) for f in taken)}",
            )
        )
    return out


def decisions_text(decisions: Sequence[Decision], *, limit: int = 300) -> tuple[str, str]:
    """(names, ids) joined for a table cell."""
    return "; ".join(d.text for d in decisions)[:limit], "; ".join(d.ids for d in decisions)[:limit]


def node_statuses(
    steps: Iterable[tuple[int, str | None]], results: Iterable[tuple[int, StepStatus | str]]
) -> dict[str, str]:
    """{node id: status} of one run: ``steps`` are (order index, source node) of the scenario version
    the run ran, ``results`` (order index, status) of its step results; a planned step without a
    result is PENDING."""
    by_index = {i: StepStatus(s) for i, s in results}
    worst: dict[str, StepStatus] = {}
    for index, node in steps:
        if not node:
            continue
        status = by_index.get(index, StepStatus.PENDING)
        current = worst.get(node)
        if current is None or STATUS_RANK[status] < STATUS_RANK[current]:
            worst[node] = status
    return {node: status.value for node, status in worst.items()}


def exercised_flows(
    graph_flows: Mapping[str, Flow],
    path_nodes: Sequence[str],
    path_flows: Sequence[str],
    statuses: Mapping[str, str],
) -> set[str]:
    """Flows of a scenario's path that one run actually went through.

    A run went as far along its path as the last node whose step executed (passed, failed or flaky):
    a flow counts when its target is first reached at or before that point. A run whose every step
    executed went through the whole path.
    """
    executed = {n for n, s in statuses.items() if StepStatus(s) in EXECUTED}
    if not executed:
        return set()
    planned = set(statuses)
    if planned and planned <= executed:
        return set(path_flows)
    first: dict[str, int] = {}
    for i, node in enumerate(path_nodes):
        first.setdefault(node, i)
    reach = max((first[n] for n in executed if n in first), default=-1)
    out: set[str] = set()
    for flow_id in path_flows:
        flow = graph_flows.get(flow_id)
        if flow is not None and first.get(flow.target, len(path_nodes)) <= reach:
            out.add(flow_id)
    return out


@dataclass
class Coverage:
    """A suite's coverage over its last runs."""

    runs: int = 0
    flows_total: int = 0
    flows_covered: list[str] = field(default_factory=list)
    node_status: dict[str, str] = field(default_factory=dict)  # the newest run's status per node
