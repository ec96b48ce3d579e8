"""Sequence → controlFlowGraph mapping: tasks, gateways, loops, breaks, lanes, ids and derived facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.graph import ControlFlowGraph, Flow, GatewayRole, SourceType
from orchestra_app.importers.sequence import import_sequence

pytestmark = pytest.mark.unit


def _graph(body: str) -> ControlFlowGraph:
    return import_sequence("sequenceDiagram\n" + body, filename="g.mmd")


def _out(graph: ControlFlowGraph, node: str) -> list[Flow]:
    return [f for f in graph.flows if f.source == node]


def _edges(graph: ControlFlowGraph) -> set[tuple[str, str]]:
    return {(f.source, f.target) for f in graph.flows}


def test_messages_become_tasks_in_order_between_start_and_end() -> None:
    graph = _graph("participant A as Alice\nA->>B: ask\nB--)C: tell\nB-->>A: answer")
    assert graph.source_type == SourceType.SEQUENCE
    assert [(n.id, n.type) for n in graph.nodes] == [
        ("start", "startEvent"),
        ("msg_1", "serviceTask"),
        ("msg_2", "sendTask"),
        ("msg_3", "receiveTask"),
        ("end", "endEvent"),
    ]
    assert _edges(graph) == {("start", "msg_1"), ("msg_1", "msg_2"), ("msg_2", "msg_3"), ("msg_3", "end")}
    reply = graph.nodes[3]
    assert reply.participant == "B"
    assert reply.extensions == {"from": "B", "to": "A", "kind": "reply", "arrow": "-->>", "reply": True}
    assert [(lane.id, lane.name, lane.node_ids) for lane in graph.lanes] == [
        ("lane_A", "Alice", ["msg_1"]),
        ("lane_B", "B", ["msg_2", "msg_3"]),
        ("lane_C", "C", []),
    ]
    assert graph.nodes[1].lane_id == "lane_A"


def test_alt_is_an_exclusive_split_and_join_with_guards_as_conditions() -> None:
    graph = _graph("alt paid\nA->>B: ship\nelse unpaid\nA->>B: remind\nelse\nA->>B: log\nend\nA->>B: done")
    split = _out(graph, "alt_1_split")
    assert [(f.target, f.condition, f.is_default) for f in split] == [
        ("msg_1", "paid", False),
        ("msg_2", "unpaid", False),
        ("msg_3", None, True),
    ]
    node = {n.id: n for n in graph.nodes}
    assert node["alt_1_split"].type == node["alt_1_join"].type == "exclusiveGateway"
    assert node["alt_1_split"].default_flow == split[2].id
    assert {
        ("msg_1", "alt_1_join"),
        ("msg_2", "alt_1_join"),
        ("msg_3", "alt_1_join"),
        ("alt_1_join", "msg_4"),
    } <= (_edges(graph))
    assert graph.gateways["alt_1_split"].role == GatewayRole.SPLIT
    assert graph.gateways["alt_1_join"].role == GatewayRole.JOIN


def test_opt_has_an_empty_default_branch() -> None:
    graph = _graph("opt coupon\nA->>B: apply\nend")
    flows = _out(graph, "opt_1_split")
    assert [(f.target, f.condition, f.is_default) for f in flows] == [
        ("msg_1", "coupon", False),
        ("opt_1_join", None, True),
    ]


def test_par_is_a_parallel_block() -> None:
    graph = _graph("par mail\nA->>B: m\nand sms\nA->>C: s\nend")
    node = {n.id: n for n in graph.nodes}
    assert node["par_1_split"].type == node["par_1_join"].type == "parallelGateway"
    assert [(f.target, f.name, f.condition) for f in _out(graph, "par_1_split")] == [
        ("msg_1", "mail", None),
        ("msg_2", "sms", None),
    ]
    (block,) = graph.parallel_blocks
    assert (block.split, block.join) == ("par_1_split", "par_1_join")


def test_loop_has_a_back_flow_and_can_be_skipped() -> None:
    graph = _graph("A->>B: start\nloop every minute\nA->>B: poll\nB-->>A: status\nend\nA->>B: stop")
    check = _out(graph, "loop_1_check")
    assert [(f.target, f.condition, f.is_default) for f in check] == [
        ("msg_2", "every minute", False),
        ("msg_4", None, True),
    ]
    assert ("msg_3", "loop_1_start") in _edges(graph)
    (loop,) = graph.loops
    assert loop.header == "loop_1_start"
    back = next(f for f in graph.flows if f.source == "msg_3" and f.target == "loop_1_start")
    assert loop.back_flows == [back.id]


def test_break_ends_in_its_own_end_event() -> None:
    graph = _graph("break fraud\nA->>B: block\nend\nA->>B: go on")
    node = {n.id: n for n in graph.nodes}
    assert node["break_1_end"].type == "endEvent"
    assert [(f.target, f.condition, f.is_default) for f in _out(graph, "break_1_split")] == [
        ("msg_1", "fraud", False),
        ("msg_2", None, True),
    ]
    assert ("msg_1", "break_1_end") in _edges(graph)


def test_critical_options_are_exclusive_branches_and_rect_is_transparent() -> None:
    graph = _graph(
        "critical connect\nA->>B: c\noption timeout\nA->>A: log\nend\nrect rgb(1,2,3)\nA->>B: r\nend"
    )
    assert [(f.target, f.condition) for f in _out(graph, "critical_1_split")] == [
        ("msg_1", "connect"),
        ("msg_2", "timeout"),
    ]
    assert ("critical_1_join", "msg_3") in _edges(graph)
    assert not [n for n in graph.nodes if n.id.startswith("rect") or n.id.startswith("group")]


def test_nested_fragments_and_empty_branches() -> None:
    graph = _graph("alt a\nloop l\nend\nelse b\npar p\nA->>B: x\nand q\nend\nend")
    ids = [n.id for n in graph.nodes]
    assert ids == [
        "start",
        "alt_1_split",
        "loop_1_start",
        "loop_1_check",
        "par_1_split",
        "msg_1",
        "par_1_join",
        "alt_1_join",
        "end",
    ]
    assert ("loop_1_check", "loop_1_start") in _edges(graph)  # an empty loop body still loops
    assert ("par_1_split", "par_1_join") in _edges(graph)


def test_ids_are_stable_across_imports(fixtures_dir: Path) -> None:
    text = (fixtures_dir / "sequence" / "checkout.mmd").read_text()
    first = import_sequence(text, filename="checkout.mmd").to_json_dict()
    second = import_sequence(text, filename="checkout.mmd").to_json_dict()
    assert first == second
    assert first["sourceType"] == "SEQUENCE"


@pytest.mark.parametrize("name", ["order.json", "order.puml", "checkout.mmd"])
def test_every_dialect_gives_a_well_formed_graph(fixtures_dir: Path, name: str) -> None:
    graph = import_sequence((fixtures_dir / "sequence" / name).read_bytes(), filename=name)
    node_ids = [n.id for n in graph.nodes]
    assert len(set(node_ids)) == len(node_ids)
    assert len({f.id for f in graph.flows}) == len(graph.flows)
    assert all(f.source in node_ids and f.target in node_ids for f in graph.flows)
    assert [n.id for n in graph.nodes if n.type == "startEvent"] == ["start"]
    targets = {f.target for f in graph.flows}
    assert all(node in targets for node in node_ids if node != "start")  # everything is reachable
