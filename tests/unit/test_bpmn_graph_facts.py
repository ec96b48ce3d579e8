"""derive_facts: gateway roles, loops, parallel blocks; also on graphs that did not come from BPMN."""

from __future__ import annotations

import pytest

from orchestra_app.domain.graph import ControlFlowGraph, Flow, GatewayRole, GraphProcess, Node
from orchestra_app.importers.graph_facts import derive_facts

pytestmark = pytest.mark.unit


def build(
    nodes: dict[str, str], edges: list[tuple[str, str]], **flow_extra: dict[str, object]
) -> ControlFlowGraph:
    return ControlFlowGraph(
        processes=[GraphProcess(id="p")],
        nodes=[Node(id=i, type=t, process_id="p") for i, t in nodes.items()],
        flows=[
            Flow(id=f"{a}-{b}", source=a, target=b, **flow_extra.get(f"{a}-{b}", {}))  # type: ignore[arg-type]
            for a, b in edges
        ],
    )


def test_gateway_roles() -> None:
    graph = derive_facts(
        build(
            {"s": "startEvent", "g1": "exclusiveGateway", "a": "task", "b": "task", "g2": "exclusiveGateway",
             "g3": "parallelGateway", "c": "task", "e": "endEvent", "g4": "inclusiveGateway"},
            [("s", "g1"), ("g1", "a"), ("g1", "b"), ("a", "g2"), ("b", "g2"), ("g2", "g4"), ("g4", "e"),
             ("c", "g3"), ("s", "g3"), ("g3", "a"), ("g3", "b")],
        )
    )  # fmt: skip
    roles = {k: v.role for k, v in graph.gateways.items()}
    assert roles == {
        "g1": GatewayRole.SPLIT,
        "g2": GatewayRole.JOIN,
        "g3": GatewayRole.MIXED,
        "g4": GatewayRole.PASS,
    }
    assert graph.gateways["g2"].incoming == ["a-g2", "b-g2"]


def test_nested_loops_grouped_per_header_with_limits() -> None:
    graph = build(
        {
            "s": "startEvent",
            "h": "task",
            "x": "exclusiveGateway",
            "i": "task",
            "y": "exclusiveGateway",
            "e": "endEvent",
        },
        [("s", "h"), ("h", "i"), ("i", "y"), ("y", "i"), ("y", "x"), ("x", "h"), ("x", "h"), ("x", "e")],
    )
    graph.nodes[1].extensions["maxLoopIterations"] = 9
    derive_facts(graph, max_loop_iterations=4)
    loops = {loop.header: loop for loop in graph.loops}
    assert set(loops) == {"h", "i"}
    assert loops["h"].back_flows == ["x-h", "x-h"]
    assert loops["h"].nodes == ["h", "x", "i", "y"]  # document order
    assert loops["h"].max_loop_iterations == 9
    assert loops["i"].nodes == ["i", "y"] and loops["i"].max_loop_iterations == 4
    assert graph.max_loop_iterations == 4


def test_process_level_loop_limit_and_unreachable_cycle() -> None:
    graph = build({"a": "task", "b": "task"}, [("a", "b"), ("b", "a")])
    graph.processes[0].max_loop_iterations = 1
    derive_facts(graph)
    (loop,) = graph.loops
    assert loop.max_loop_iterations == 1 and sorted(loop.nodes) == ["a", "b"]


def test_boundary_event_retry_is_a_loop() -> None:
    graph = build(
        {"s": "startEvent", "t": "serviceTask", "b": "boundaryEvent", "e": "endEvent"},
        [("s", "t"), ("t", "e"), ("b", "t")],
    )
    graph.nodes[2].attached_to = "t"
    derive_facts(graph)
    assert [(loop.header, loop.back_flows) for loop in graph.loops] == [("t", ["b-t"])]


def test_parallel_block_with_nested_block_and_escaping_branch() -> None:
    graph = derive_facts(
        build(
            {"s": "startEvent", "f1": "parallelGateway", "f2": "parallelGateway", "a": "task", "b": "task",
             "j2": "parallelGateway", "c": "task", "x": "exclusiveGateway", "end2": "endEvent",
             "j1": "parallelGateway", "e": "endEvent"},
            [("s", "f1"), ("f1", "f2"), ("f1", "c"), ("f2", "a"), ("f2", "b"), ("a", "j2"), ("b", "j2"),
             ("j2", "j1"), ("c", "x"), ("x", "j1"), ("x", "end2"), ("j1", "e")],
            **{"x-end2": {"condition": "failed"}},
        )
    )  # fmt: skip
    blocks = {b.split: b for b in graph.parallel_blocks}
    assert blocks["f2"].join == "j2"
    assert blocks["f1"].join == "j1"  # found although branch c can escape to end2
    assert blocks["f1"].branches == [["f1-f2"], ["f1-c"]]


def test_parallel_branches_that_never_meet_have_no_join() -> None:
    graph = derive_facts(
        build({"f": "parallelGateway", "a": "endEvent", "b": "endEvent"}, [("f", "a"), ("f", "b")])
    )
    assert graph.parallel_blocks[0].join is None


def test_message_flows_and_dangling_flows_are_ignored() -> None:
    graph = build({"a": "task", "b": "task"}, [("a", "b"), ("b", "ghost")])
    graph.flows.append(Flow(id="m", source="b", target="a", kind="message"))
    derive_facts(graph)
    assert graph.loops == [] and graph.parallel_blocks == []


def test_rerun_replaces_facts() -> None:
    graph = build({"a": "task", "b": "task"}, [("a", "b"), ("b", "a")])
    derive_facts(graph)
    derive_facts(graph)
    assert len(graph.loops) == 1


def test_large_graphs_do_not_recurse() -> None:
    n = 20_000  # far beyond Python's recursion limit
    chain = build(
        {f"n{i}": "task" for i in range(n)},
        [(f"n{i}", f"n{i + 1}") for i in range(n - 1)] + [(f"n{n - 1}", "n0")],
    )
    derive_facts(chain)
    assert len(chain.loops) == 1 and len(chain.loops[0].nodes) == n
    fan = build(
        {"g": "parallelGateway", "j": "parallelGateway", **{f"t{i}": "task" for i in range(1000)}},
        [("g", f"t{i}") for i in range(1000)] + [(f"t{i}", "j") for i in range(1000)],
    )
    derive_facts(fan)
    assert fan.parallel_blocks[0].join == "j" and len(fan.parallel_blocks[0].branches) == 1000


def test_negative_limit_is_rejected() -> None:
    with pytest.raises(ValueError):
        derive_facts(build({}, []), max_loop_iterations=-1)
