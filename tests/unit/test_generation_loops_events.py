"""Generator: loops 0/1/N, boundary events, event subprocesses, link jumps, subprocesses."""

from __future__ import annotations

import pytest

from orchestra_app.domain.graph import ControlFlowGraph, LoopInfo
from orchestra_app.generation import generate_suite
from orchestra_app.generation.synthetic import GraphBuilder

pytestmark = pytest.mark.unit


def _retry_loop() -> ControlFlowGraph:
    """start -> merge -> Charge payment -> ok? -(no)-> merge ; -(yes)-> end."""
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("merge", "exclusiveGateway")
    b.node("pay", "serviceTask", "Charge payment")
    b.node("ok", "exclusiveGateway", "Payment ok?")
    b.node("end", "endEvent")
    b.flow("start", "merge", "f0")
    b.flow("merge", "pay", "f1")
    b.flow("pay", "ok", "f2")
    b.flow("ok", "end", "yes", name="yes")
    b.flow("ok", "merge", "retry", name="no")
    return b.graph()


def _iterations(suite: object) -> list[int]:
    return [
        next((d["iterations"] for d in s.decisions.values() if d.get("loop")), -1)  # type: ignore[attr-defined]
        for s in suite.scenarios  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("strategy", ["edges", "paths"])
def test_loop_runs_zero_one_and_n_times(strategy: str) -> None:
    suite = generate_suite(_retry_loop(), strategy=strategy, max_loop=4)  # type: ignore[arg-type]
    assert sorted(_iterations(suite)) == [0, 1, 4]
    for s in suite.scenarios:
        iterations = s.decisions["loop:merge"]["iterations"]
        assert s.nodes.count("pay") == iterations + 1
        assert s.flows.count("retry") == iterations
        assert s.nodes[-1] == "end"
    once = next(s for s in suite.scenarios if s.decisions["loop:merge"]["iterations"] == 1)
    assert once.kind == "loop"
    assert "Charge payment repeated once" in once.name
    assert suite.coverage.decisions_total == 2 + 3
    assert suite.coverage.decisions_covered == suite.coverage.decisions_total
    assert not suite.capped and suite.path_count == 3


def test_loop_uses_the_graphs_max_loop_iterations() -> None:
    graph = _retry_loop()
    graph.loops = [LoopInfo(id="retry-loop", header="merge", back_flows=["retry"], max_loop_iterations=2)]
    suite = generate_suite(graph)
    assert sorted(s.decisions["retry-loop"]["iterations"] for s in suite.scenarios) == [0, 1, 2]


def test_while_loop_with_the_decision_at_the_header() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("more", "exclusiveGateway", "More items?")
    b.node("pick", "serviceTask", "Pick item")
    b.node("end", "endEvent")
    b.flow("start", "more")
    b.flow("more", "pick", "again", name="yes")
    b.flow("pick", "more", "back")
    b.flow("more", "end", "done", name="no")
    suite = generate_suite(b.graph(), strategy="paths", max_loop=3)
    counts = sorted(s.nodes.count("pick") for s in suite.scenarios)
    assert counts == [0, 1, 3]
    assert all(s.nodes[-1] == "end" for s in suite.scenarios)


def test_loop_without_exit_is_cut_by_the_step_budget() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("a", "serviceTask", "Poll")
    b.node("b", "serviceTask", "Wait")
    b.flow("start", "a")
    b.flow("a", "b")
    b.flow("b", "a")
    suite = generate_suite(b.graph())
    assert suite.scenarios and all(len(s.nodes) < 10_000 for s in suite.scenarios)


def _boundary(interrupting: bool) -> ControlFlowGraph:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("pay", "serviceTask", "Charge card")
    b.node(
        "err",
        "boundaryEvent",
        "Card declined",
        attached_to="pay",
        cancel_activity=interrupting,
        event_definition="error",
    )
    b.node("ship", "serviceTask", "Ship")
    b.node("notify", "sendTask", "Notify customer")
    b.node("end", "endEvent")
    b.node("end2", "endEvent")
    b.flow("start", "pay", "f0")
    b.flow("pay", "ship", "f1")
    b.flow("ship", "end", "f2")
    b.flow("err", "notify", "f3")
    b.flow("notify", "end2", "f4")
    return b.graph()


@pytest.mark.parametrize("strategy", ["edges", "paths"])
def test_interrupting_boundary_event_gives_an_exception_scenario(strategy: str) -> None:
    suite = generate_suite(_boundary(True), strategy=strategy)  # type: ignore[arg-type]
    assert [s.kind for s in suite.scenarios] == ["happy", "exception"]
    exc = suite.scenarios[1]
    assert exc.nodes == ["start", "pay", "err", "notify", "end2"]
    assert "ship" not in exc.nodes
    assert exc.name == "Charge card interrupted by Card declined"
    assert suite.coverage.flows_covered == suite.coverage.flows_total == 5


def test_non_interrupting_boundary_event_keeps_the_activity_going() -> None:
    suite = generate_suite(_boundary(False))
    exc = suite.scenarios[1]
    assert exc.kind == "exception"
    assert {"ship", "end", "err", "notify", "end2"} <= set(exc.nodes)


def _event_subprocess(interrupting: bool) -> ControlFlowGraph:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("a", "serviceTask", "Reserve")
    b.node("b", "serviceTask", "Confirm")
    b.node("end", "endEvent")
    b.flow("start", "a")
    b.flow("a", "b")
    b.flow("b", "end")
    b.node("esp", "subProcess", "Cancellation", triggered_by_event=True)
    b.node(
        "es",
        "startEvent",
        "Cancel received",
        parent_id="esp",
        event_definition="message",
        cancel_activity=interrupting,
    )
    b.node("refund", "serviceTask", "Refund", parent_id="esp")
    b.node("ee", "endEvent", parent_id="esp")
    b.flow("es", "refund", "ef1")
    b.flow("refund", "ee", "ef2")
    return b.graph()


def test_event_subprocess_interrupts_the_process() -> None:
    suite = generate_suite(_event_subprocess(True))
    assert [s.kind for s in suite.scenarios] == ["happy", "exception"]
    exc = suite.scenarios[1]
    assert exc.nodes == ["start", "a", "esp", "es", "refund", "ee"]
    assert exc.name == "Cancellation triggered by Cancel received"
    assert suite.coverage.flows_covered == suite.coverage.flows_total


def test_non_interrupting_event_subprocess_lets_the_process_finish() -> None:
    exc = generate_suite(_event_subprocess(False)).scenarios[1]
    assert exc.nodes == ["start", "a", "esp", "es", "refund", "ee", "b", "end"]


def test_link_throw_jumps_to_its_catch() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("a", "serviceTask", "Page one")
    b.node("throw", "intermediateThrowEvent", "To page 2", event_definition="link", link_name="P2")
    b.node("catch", "intermediateCatchEvent", "From page 1", event_definition="link", link_name="P2")
    b.node("c", "serviceTask", "Page two")
    b.node("end", "endEvent")
    b.flow("start", "a")
    b.flow("a", "throw")
    b.flow("catch", "c")
    b.flow("c", "end")
    suite = generate_suite(b.graph())
    assert suite.scenarios[0].nodes == ["start", "a", "throw", "catch", "c", "end"]
    assert all(not f.startswith("link:") for f in suite.scenarios[0].flows)
    assert suite.coverage.flows_covered == suite.coverage.flows_total == 4


def test_importer_wired_link_flow_is_used_as_is() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("throw", "intermediateThrowEvent", event_definition="link", link_name="L")
    b.node("catch", "intermediateCatchEvent", event_definition="link", link_name="L")
    b.node("end", "endEvent")
    b.flow("start", "throw")
    b.flow("throw", "catch", "link:throw->catch")
    b.flow("catch", "end")
    suite = generate_suite(b.graph())
    assert suite.scenarios[0].nodes == ["start", "throw", "catch", "end"]


def test_subprocess_runs_inline_and_its_branches_are_covered() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("sub", "subProcess", "Shipping")
    b.node("end", "endEvent")
    b.flow("start", "sub")
    b.flow("sub", "end")
    b.node("ss", "startEvent", parent_id="sub")
    b.node("x", "exclusiveGateway", "Express?", parent_id="sub")
    b.node("t1", "serviceTask", "Express", parent_id="sub")
    b.node("t2", "serviceTask", "Standard", parent_id="sub")
    b.node("se", "endEvent", parent_id="sub")
    b.flow("ss", "x")
    b.flow("x", "t1", name="yes")
    b.flow("x", "t2", name="no")
    b.flow("t1", "se")
    b.flow("t2", "se")
    for strategy in ("edges", "paths"):
        suite = generate_suite(b.graph(), strategy=strategy)  # type: ignore[arg-type]
        assert [s.nodes for s in suite.scenarios] == [
            ["start", "sub", "ss", "x", "t1", "se", "end"],
            ["start", "sub", "ss", "x", "t2", "se", "end"],
        ]
        assert suite.path_count == 2
