"""What every generated suite must satisfy, whatever the model: walks, decisions and coverage agree."""

from __future__ import annotations

from typing import Any

from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation.model import SuitePlan, UncoveredReason

# Reasons for flows a token can reach (the others say why none can).
_REACHABLE_REASONS = {UncoveredReason.CAPPED, UncoveredReason.LOOP_LIMIT, UncoveredReason.NO_TOKEN_PATH}


def suite_problems(graph: ControlFlowGraph, suite: SuitePlan) -> list[str]:
    """Human-readable violations (empty when the suite is consistent with its graph).

    * every scenario flow is a sequence flow of the graph whose source is visited before its target
      (or whose target is a join the scenario leaves a token waiting at: it never fires);
    * nothing of a (sub)process runs after a terminate end event of it ended the (sub)process;
    * every visited node is entered by a traversed flow, or is a start, a scope start, a boundary
      event of a visited activity, an event-subprocess node or a link catch;
    * every decision names flows that leave that gateway and were traversed;
    * the coverage numbers are the union of the scenarios' flows.
    """
    nodes = {n.id: n for n in graph.nodes}
    flows = {f.id: f for f in graph.flows if f.kind == "sequence" and f.source in nodes and f.target in nodes}
    problems: list[str] = []
    covered: set[str] = set()
    incoming: dict[str, int] = {}
    for flow in flows.values():
        incoming[flow.target] = incoming.get(flow.target, 0) + 1
    joins = {
        nid
        for nid, node in nodes.items()
        if node.type in ("parallelGateway", "inclusiveGateway", "complexGateway") and incoming.get(nid, 0) > 1
    }
    for sc in suite.scenarios:
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        for i, nid in enumerate(sc.nodes):
            if nid not in nodes:
                problems.append(f"{sc.key}: unknown node {nid!r}")
            first.setdefault(nid, i)
            last[nid] = i
        for fid in sc.flows:
            flow = flows.get(fid)
            if flow is None:
                problems.append(f"{sc.key}: unknown flow {fid!r}")
            elif flow.source not in first or (flow.target not in first and flow.target not in joins):
                problems.append(f"{sc.key}: flow {fid!r} runs between nodes the scenario never visits")
            elif flow.target not in first:
                continue  # a token waits at the join for ever (an interruption took a token it needs)
            elif first[flow.source] > last[flow.target]:
                problems.append(f"{sc.key}: flow {fid!r} is entered before its source runs")
        covered.update(fid for fid in sc.flows if fid in flows)
        problems.extend(_after_terminate(nodes, sc.key, sc.nodes))
        entered = {flows[f].target for f in sc.flows if f in flows}
        has_incoming = {f.target for f in flows.values()}
        for i, nid in enumerate(sc.nodes):
            node = nodes.get(nid)
            if node is None or nid in entered or i == 0 or nid not in has_incoming:
                continue
            if node.type == "startEvent" or node.triggered_by_event or "link" in node.event_definitions:
                continue
            if node.attached_to in first or node.parent_id in first:
                continue
            problems.append(f"{sc.key}: node {nid!r} is visited but no traversed flow enters it")
        for point, decision in sc.decisions.items():
            if decision.get("loop"):
                continue
            named = {decision["flow"], *decision.get("flows", []), *decision.get("taken", [])}
            for fid in sorted(named):
                flow = flows.get(fid)
                if flow is None:
                    problems.append(f"{sc.key}: decision at {point!r} names unknown flow {fid!r}")
                elif flow.source != point:
                    problems.append(
                        f"{sc.key}: decision at {point!r} names {fid!r}, which leaves {flow.source!r}"
                    )
                elif fid not in sc.flows:
                    problems.append(f"{sc.key}: decision at {point!r} names {fid!r}, never traversed")
    cov = suite.coverage
    if cov.flows_total != len(flows):
        problems.append(f"coverage: flows_total {cov.flows_total} != {len(flows)}")
    if cov.flows_covered != len(covered):
        problems.append(f"coverage: flows_covered {cov.flows_covered} != {len(covered)} traversed")
    if not cov.flows_covered <= cov.flows_reachable <= cov.flows_total:
        problems.append(f"coverage: covered <= reachable <= total fails: {cov}")
    if cov.decisions_covered > cov.decisions_total:
        problems.append(f"coverage: more decisions covered than exist: {cov}")
    if {u.flow for u in suite.uncovered_flows} != set(flows) - covered:
        problems.append("coverage: uncovered_flows disagrees with the scenarios' flows")
    if len(suite.uncovered_flows) != len({u.flow for u in suite.uncovered_flows}):
        problems.append("coverage: a flow is listed twice in uncovered_flows")
    if cov.flows_reachable - cov.flows_covered != sum(
        1 for u in suite.uncovered_flows if u.reason in _REACHABLE_REASONS
    ):
        problems.append("coverage: reachable-but-uncovered flows do not match their reason codes")
    return problems


def _after_terminate(nodes: dict[str, Any], key: str, order: list[str]) -> list[str]:
    """Nodes of a (sub)process that run after a terminate end event ended that (sub)process."""
    out: list[str] = []
    ended: list[tuple[str, str | None]] = []  # (process, subprocess) scopes a terminate ended
    for nid in order:
        node = nodes.get(nid)
        if node is None:
            continue
        ended = [e for e in ended if e[1] != nid]  # the subprocess runs again: a new instance
        for process_id, parent in ended:
            if node.process_id == process_id and (parent is None or _inside(nodes, nid, parent)):
                out.append(f"{key}: node {nid!r} runs after a terminate end event ended its scope")
                break
        if node.type == "endEvent" and (
            node.event_definition == "terminate" or "terminate" in node.event_definitions
        ):
            ended.append((node.process_id, node.parent_id))
    return out


def _inside(nodes: dict[str, Any], nid: str, scope: str) -> bool:
    parent = nodes[nid].parent_id
    while parent is not None and parent in nodes:
        if parent == scope:
            return True
        parent = nodes[parent].parent_id
    return False
