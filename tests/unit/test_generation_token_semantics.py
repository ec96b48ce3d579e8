"""Generator token semantics: interruptions inside parallel blocks and terminate end events (small models)."""

from __future__ import annotations

import pytest

from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation import generate_suite
from orchestra_app.generation.model import Coverage, GeneratedScenario, ScenarioKind, SuitePlan
from orchestra_app.generation.synthetic import GraphBuilder, token_games
from tests.unit.suite_invariants import suite_problems

pytestmark = pytest.mark.unit

STRATEGIES = ["edges", "paths"]


def _suite(graph: ControlFlowGraph, strategy: str = "edges") -> SuitePlan:
    suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
    assert suite_problems(graph, suite) == []
    assert suite.coverage.flows_covered == suite.coverage.flows_total, suite.uncovered_flows
    assert not suite.capped
    return suite


def _with(suite: SuitePlan, *nodes: str) -> list[GeneratedScenario]:
    return [s for s in suite.scenarios if all(n in s.nodes for n in nodes)]


def _payment_block(b: GraphBuilder, *, interrupting: bool = True) -> None:
    """start -> AND split -> Authorise payment | Confirm stock -> AND join -> Capture payment -> end.

    A "Payment declined" error boundary event sits on Authorise payment; its outgoing flows are
    added by each test.
    """
    b.node("start", "startEvent")
    b.node("split", "parallelGateway", "Pay and confirm")
    b.node("pay", "serviceTask", "Authorise payment")
    b.node("stock", "serviceTask", "Confirm stock")
    b.node("join", "parallelGateway", "Paid and confirmed")
    b.node("capture", "serviceTask", "Capture payment")
    b.node("end", "endEvent")
    b.node(
        "declined",
        "boundaryEvent",
        "Payment declined",
        attached_to="pay",
        cancel_activity=interrupting,
        event_definition="error",
        event_definitions=["error"],
    )
    b.flow("start", "split")
    b.flow("split", "pay", "to_pay")
    b.flow("split", "stock", "to_stock")
    b.flow("pay", "join", "paid")
    b.flow("stock", "join", "confirmed")
    b.flow("join", "capture", "to_capture")
    b.flow("capture", "end")


# -- interrupting boundary events inside a parallel block -----------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_an_interrupted_branch_leaves_the_join_waiting_and_the_scenario_ends(strategy: str) -> None:
    b = GraphBuilder()
    _payment_block(b)
    b.node("cancel", "serviceTask", "Cancel order")
    b.node("cancelled", "endEvent", "Order cancelled")  # a plain end event: it ends only its own token
    b.flow("declined", "cancel")
    b.flow("cancel", "cancelled")
    suite = _suite(b.graph(), strategy)
    [declined] = [s for s in suite.scenarios if s.kind is ScenarioKind.EXCEPTION]
    assert "cancel" in declined.nodes
    assert "stock" in declined.nodes  # the other branch's token is not cancelled: its task runs
    assert "join" not in declined.nodes and "capture" not in declined.nodes
    # Its token reached the join and waits there for ever: the flow is taken, the join never fires.
    assert "confirmed" in declined.flows and "paid" not in declined.flows
    assert declined.name == "Authorise payment interrupted by Payment declined"
    assert _with(suite, "join", "capture")  # the normal scenario still covers the tail


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_boundary_path_that_merges_back_before_the_join_pays_its_token(strategy: str) -> None:
    b = GraphBuilder()
    _payment_block(b)
    b.node("manual", "userTask", "Take payment by phone")
    b.flow("declined", "manual")
    b.flow("manual", "join", "manual_paid")  # the join's third incoming flow: the boundary token arrives
    suite = _suite(b.graph(), strategy)
    [declined] = [s for s in suite.scenarios if s.kind is ScenarioKind.EXCEPTION]
    assert declined.nodes[-2:] == ["capture", "end"]
    assert declined.nodes.count("join") == 1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_boundary_path_through_an_exclusive_merge_completes_the_block(strategy: str) -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("split", "parallelGateway")
    b.node("pay", "serviceTask", "Authorise payment")
    b.node("merge", "exclusiveGateway")
    b.node("stock", "serviceTask", "Confirm stock")
    b.node("join", "parallelGateway")
    b.node("capture", "serviceTask", "Capture payment")
    b.node("end", "endEvent")
    b.node("timeout", "boundaryEvent", "No answer", attached_to="pay", cancel_activity=True)
    b.node("fallback", "serviceTask", "Pay on delivery")
    b.flow("start", "split")
    b.flow("split", "pay")
    b.flow("split", "stock")
    b.flow("pay", "merge")
    b.flow("timeout", "fallback")
    b.flow("fallback", "merge")
    b.flow("merge", "join")
    b.flow("stock", "join")
    b.flow("join", "capture")
    b.flow("capture", "end")
    suite = _suite(b.graph(), strategy)
    [timeout] = [s for s in suite.scenarios if s.kind is ScenarioKind.EXCEPTION]
    assert {"fallback", "stock", "join", "capture"} <= set(timeout.nodes)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_boundary_path_that_skips_the_join_goes_on_without_it(strategy: str) -> None:
    """The boundary token joins the tail after the block: it goes on; the join itself never fires."""
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("split", "parallelGateway")
    b.node("pay", "serviceTask", "Authorise payment")
    b.node("stock", "serviceTask", "Confirm stock")
    b.node("join", "parallelGateway")
    b.node("after", "exclusiveGateway")
    b.node("mail", "sendTask", "Mail the customer")
    b.node("end", "endEvent")
    b.node("declined", "boundaryEvent", "Payment declined", attached_to="pay", cancel_activity=True)
    b.node("cancel", "serviceTask", "Cancel order")
    for source, target in [
        ("start", "split"),
        ("split", "pay"),
        ("split", "stock"),
        ("pay", "join"),
        ("stock", "join"),
        ("join", "after"),
        ("after", "mail"),
        ("mail", "end"),
        ("declined", "cancel"),
        ("cancel", "after"),
    ]:
        b.flow(source, target)
    suite = _suite(b.graph(), strategy)
    [declined] = [s for s in suite.scenarios if s.kind is ScenarioKind.EXCEPTION]
    assert declined.nodes.count("mail") == 1 and "stock" in declined.nodes
    assert declined.nodes.index("cancel") < declined.nodes.index("after") < declined.nodes.index("mail")
    assert "join" not in declined.nodes


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_an_interruption_in_a_nested_block_leaves_both_joins_waiting(strategy: str) -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("outer", "parallelGateway")
    b.node("inner", "parallelGateway")
    b.node("pay", "serviceTask", "Authorise payment")
    b.node("stock", "serviceTask", "Confirm stock")
    b.node("inner_join", "parallelGateway")
    b.node("invoice", "serviceTask", "Write invoice")
    b.node("outer_join", "parallelGateway")
    b.node("ship", "serviceTask", "Ship order")
    b.node("end", "endEvent")
    b.node("declined", "boundaryEvent", "Payment declined", attached_to="pay", cancel_activity=True)
    b.node("cancelled", "endEvent")
    b.flow("start", "outer")
    b.flow("outer", "inner")
    b.flow("outer", "invoice")
    b.flow("inner", "pay")
    b.flow("inner", "stock")
    b.flow("pay", "inner_join")
    b.flow("stock", "inner_join")
    b.flow("inner_join", "outer_join")
    b.flow("invoice", "outer_join")
    b.flow("outer_join", "ship")
    b.flow("ship", "end")
    b.flow("declined", "cancelled")
    suite = _suite(b.graph(), strategy)
    [declined] = [s for s in suite.scenarios if s.kind is ScenarioKind.EXCEPTION]
    assert {"stock", "invoice", "cancelled"} <= set(declined.nodes)
    assert not {"inner_join", "outer_join", "ship"} & set(declined.nodes)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_subprocess_whose_join_waits_for_ever_never_completes(strategy: str) -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("checkout", "subProcess", "Checkout")
    b.node("ship", "serviceTask", "Ship order")
    b.node("end", "endEvent")
    b.node("s_start", "startEvent", parent_id="checkout")
    b.node("split", "parallelGateway", parent_id="checkout")
    b.node("pay", "serviceTask", "Authorise payment", parent_id="checkout")
    b.node("stock", "serviceTask", "Confirm stock", parent_id="checkout")
    b.node("join", "parallelGateway", parent_id="checkout")
    b.node("s_end", "endEvent", parent_id="checkout")
    b.node("declined", "boundaryEvent", attached_to="pay", cancel_activity=True, parent_id="checkout")
    b.node("s_cancelled", "endEvent", parent_id="checkout")
    b.node("too_long", "boundaryEvent", "Checkout too long", attached_to="checkout", cancel_activity=True)
    b.node("escalate", "userTask", "Escalate")
    b.node("escalated", "endEvent")
    for source, target in [
        ("start", "checkout"),
        ("checkout", "ship"),
        ("ship", "end"),
        ("s_start", "split"),
        ("split", "pay"),
        ("split", "stock"),
        ("pay", "join"),
        ("stock", "join"),
        ("join", "s_end"),
        ("declined", "s_cancelled"),
        ("too_long", "escalate"),
        ("escalate", "escalated"),
    ]:
        b.flow(source, target)
    suite = _suite(b.graph(), strategy)
    declined = [s for s in suite.scenarios if "s_cancelled" in s.nodes]
    assert declined
    for scenario in declined:
        # The checkout's stock token waits at its join: the subprocess never completes, nothing ships.
        assert "join" not in scenario.nodes and "ship" not in scenario.nodes
    assert _with(suite, "escalate") and _with(suite, "join", "ship")


def test_an_inclusive_join_fires_without_the_interrupted_branch() -> None:
    """BPMN's OR-join waits only for tokens that can still reach it: the cancelled one cannot."""
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("split", "inclusiveGateway", "Which checks?")
    b.node("pay", "serviceTask", "Authorise payment")
    b.node("stock", "serviceTask", "Confirm stock")
    b.node("join", "inclusiveGateway")
    b.node("capture", "serviceTask", "Capture payment")
    b.node("end", "endEvent")
    b.node("declined", "boundaryEvent", "Payment declined", attached_to="pay", cancel_activity=True)
    b.node("cancelled", "endEvent")
    b.flow("start", "split")
    b.flow("split", "pay", condition="${pay}")
    b.flow("split", "stock", condition="${stock}")
    b.flow("pay", "join")
    b.flow("stock", "join")
    b.flow("join", "capture")
    b.flow("capture", "end")
    b.flow("declined", "cancelled")
    suite = _suite(b.graph(), "paths")
    both = [s for s in _with(suite, "declined", "stock") if s.kind is ScenarioKind.EXCEPTION]
    assert both and all(s.nodes[-3:] == ["join", "capture", "end"] for s in both)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_non_interrupting_boundary_event_keeps_the_block_whole(strategy: str) -> None:
    b = GraphBuilder()
    _payment_block(b, interrupting=False)
    b.node("remind", "sendTask", "Send reminder")
    b.node("reminded", "endEvent")
    b.flow("declined", "remind")
    b.flow("remind", "reminded")
    suite = _suite(b.graph(), strategy)
    [reminder] = [s for s in suite.scenarios if s.kind is ScenarioKind.EXCEPTION]
    assert {"remind", "stock", "join", "capture"} <= set(reminder.nodes)


def test_a_parallel_join_after_an_exclusive_split_is_still_released() -> None:
    """A modelling slip (XOR split, AND join) keeps its lenient release: no token was cancelled."""
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("xor", "exclusiveGateway", "Card or invoice?")
    b.node("card", "serviceTask", "Charge card")
    b.node("invoice", "serviceTask", "Send invoice")
    b.node("join", "parallelGateway")
    b.node("ship", "serviceTask", "Ship order")
    b.node("end", "endEvent")
    b.flow("start", "xor")
    b.flow("xor", "card", name="card")
    b.flow("xor", "invoice", name="invoice")
    b.flow("card", "join")
    b.flow("invoice", "join")
    b.flow("join", "ship")
    b.flow("ship", "end")
    suite = _suite(b.graph())
    assert len(suite.scenarios) == 2
    assert all(s.nodes[-2:] == ["ship", "end"] for s in suite.scenarios)


# -- terminate end events --------------------------------------------------------------------------


def _terminate(b: GraphBuilder, node_id: str, name: str | None = None, **fields: object) -> None:
    b.node(node_id, "endEvent", name, event_definition="terminate", event_definitions=["terminate"], **fields)


def _fraud_check() -> ControlFlowGraph:
    """AND split: Reserve stock | Check fraud -> Fraud? -(yes)-> Block order -> terminate; -(no)-> join."""
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("split", "parallelGateway")
    b.node("check", "serviceTask", "Check fraud")  # document order: the terminating branch first
    b.node("reserve", "serviceTask", "Reserve stock")
    b.node("fraud", "exclusiveGateway", "Fraud?")
    b.node("block", "serviceTask", "Block order")
    _terminate(b, "blocked", "Order blocked")
    b.node("join", "parallelGateway")
    b.node("ship", "serviceTask", "Ship order")
    b.node("end", "endEvent")
    b.flow("start", "split")
    b.flow("split", "check")
    b.flow("split", "reserve")
    b.flow("check", "fraud")
    b.flow("fraud", "block", "is_fraud", name="yes")
    b.flow("fraud", "join", "no_fraud", name="no")
    b.flow("block", "blocked")
    b.flow("reserve", "join")
    b.flow("join", "ship")
    b.flow("ship", "end")
    return b.graph()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_terminate_end_event_ends_the_scenario_after_the_other_branches(strategy: str) -> None:
    suite = _suite(_fraud_check(), strategy)
    [fraud] = _with(suite, "block")
    # The branch that can terminate runs last: Reserve stock really happens before the termination.
    assert fraud.nodes == ["start", "split", "reserve", "check", "fraud", "block", "blocked"]
    assert "f_reserve_join" in fraud.flows  # its token waited at the join when the terminate ended it
    assert fraud.name == "Fraud: yes"
    [normal] = _with(suite, "ship")
    assert normal.nodes.index("reserve") < normal.nodes.index("check")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_joins_that_can_fire_fire_before_a_pending_terminate(strategy: str) -> None:
    """Every scenario reaches the terminate; the block's tail must still run before it (and be covered)."""
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("split", "parallelGateway")
    b.node("alarm", "serviceTask", "Raise alarm")
    _terminate(b, "stop", "Stopped")
    b.node("a", "serviceTask", "Pick items")
    b.node("b", "serviceTask", "Print label")
    b.node("join", "parallelGateway")
    b.node("pack", "serviceTask", "Pack parcel")
    b.node("end", "endEvent")
    b.flow("start", "split")
    b.flow("split", "alarm")
    b.flow("alarm", "stop")
    b.flow("split", "a")
    b.flow("split", "b")
    b.flow("a", "join")
    b.flow("b", "join")
    b.flow("join", "pack")
    b.flow("pack", "end")
    suite = _suite(b.graph(), strategy)
    [only] = suite.scenarios
    assert only.nodes == ["start", "split", "a", "b", "alarm", "join", "pack", "end", "stop"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_terminate_inside_a_subprocess_ends_only_the_subprocess(strategy: str) -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("packing", "subProcess", "Packing")
    b.node("notify", "sendTask", "Notify customer")
    b.node("end", "endEvent")
    b.node("p_start", "startEvent", parent_id="packing")
    b.node("p_split", "parallelGateway", parent_id="packing")
    b.node("cancel_line", "serviceTask", "Cancel missing line", parent_id="packing")
    _terminate(b, "p_stop", parent_id="packing")
    b.node("pack", "serviceTask", "Pack", parent_id="packing")
    b.node("label", "serviceTask", "Label", parent_id="packing")
    b.node("p_end", "endEvent", parent_id="packing")
    for source, target in [
        ("start", "packing"),
        ("packing", "notify"),
        ("notify", "end"),
        ("p_start", "p_split"),
        ("p_split", "cancel_line"),
        ("cancel_line", "p_stop"),
        ("p_split", "pack"),
        ("pack", "label"),
        ("label", "p_end"),
    ]:
        b.flow(source, target)
    suite = _suite(b.graph(), strategy)
    [only] = suite.scenarios
    assert only.nodes == [
        "start", "packing", "p_start", "p_split", "pack", "label", "p_end", "cancel_line", "p_stop",
        "notify", "end",
    ]  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_of_two_terminating_branches_the_first_ends_the_scenario(strategy: str) -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("split", "parallelGateway")
    b.node("a", "serviceTask", "Refund")
    b.node("b", "serviceTask", "Close account")
    _terminate(b, "stop_a")
    _terminate(b, "stop_b")
    b.flow("start", "split")
    b.flow("split", "a")
    b.flow("split", "b")
    b.flow("a", "stop_a", "into_a")
    b.flow("b", "stop_b", "into_b")
    suite = _suite(b.graph(), strategy)
    for scenario in suite.scenarios:
        ends = [n for n in scenario.nodes if n.startswith("stop_")]
        assert len(ends) == 1 and scenario.nodes[-1] == ends[0]
    # Both flows into the terminate end events are covered: a gap-closing route runs its branch first.
    assert {f for s in suite.scenarios for f in s.flows} >= {"into_a", "into_b"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_terminate_in_a_loop_body_stops_the_loop(strategy: str) -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("merge", "exclusiveGateway")
    b.node("split", "parallelGateway")
    b.node("poll", "serviceTask", "Poll status")
    b.node("failed", "exclusiveGateway", "Failed?")
    _terminate(b, "abort", "Aborted")
    b.node("log", "serviceTask", "Write log")
    b.node("join", "parallelGateway")
    b.node("done", "exclusiveGateway", "Done?")
    b.node("end", "endEvent")
    b.flow("start", "merge")
    b.flow("merge", "split")
    b.flow("split", "poll")
    b.flow("split", "log")
    b.flow("poll", "failed")
    b.flow("failed", "abort", name="yes")
    b.flow("failed", "join", name="no")
    b.flow("log", "join")
    b.flow("join", "done")
    b.flow("done", "end", name="yes")
    b.flow("done", "merge", "again", name="no")
    suite = _suite(b.graph(), strategy)
    aborted = _with(suite, "abort")
    assert aborted and all(s.nodes[-1] == "abort" for s in aborted)


def test_the_invariants_catch_a_step_after_a_terminate() -> None:
    """suite_problems (used on the whole corpus) must be able to fail on the shape these tests forbid."""
    graph = _fraud_check()
    wrong = GeneratedScenario(
        key="S001",
        name="wrong",
        kind=ScenarioKind.BRANCH,
        process_id="P",
        nodes=["start", "split", "check", "fraud", "block", "blocked", "reserve", "join", "ship", "end"],
        flows=[
            "f_start_split", "f_split_check", "f_check_fraud", "is_fraud", "f_block_blocked",
            "f_split_reserve", "f_reserve_join", "f_join_ship", "f_ship_end",
        ],
    )  # fmt: skip
    suite = SuitePlan(
        scenarios=[wrong], coverage=Coverage(flows_total=10, flows_reachable=10, flows_covered=9)
    )
    problems = suite_problems(graph, suite)
    assert any("'reserve' runs after a terminate end event" in p for p in problems), problems
    assert any("'ship' runs after a terminate end event" in p for p in problems), problems


# -- compensation boundary events ------------------------------------------------------------------


def test_a_compensation_boundary_event_is_no_interruption() -> None:
    """It only links the handler compensation runs later: no scenario 'interrupted by compensate event'."""
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("book", "serviceTask", "Book hotel")
    b.node("end", "endEvent")
    b.node(
        "undo",
        "boundaryEvent",
        attached_to="book",
        event_definition="compensate",
        event_definitions=["compensate"],
    )
    b.node("cancel", "serviceTask", "Cancel hotel", extensions={"isForCompensation": True})
    b.flow("start", "book")
    b.flow("book", "end")
    graph = b.graph()
    suite = _suite(graph)
    assert [s.nodes for s in suite.scenarios] == [["start", "book", "end"]]
    # An exporter that drew a sequence flow out of it: the flow is reported as compensation-only.
    b.flow("undo", "cancel", "to_cancel")
    suite = generate_suite(b.graph())
    assert [(u.flow, u.reason.value) for u in suite.uncovered_flows] == [("to_cancel", "COMPENSATION_ONLY")]
    assert "compensation boundary event" in suite.uncovered_flows[0].detail


def test_an_inclusive_split_also_runs_its_terminating_branch_last() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("split", "inclusiveGateway", "Which?")
    b.node("refund", "serviceTask", "Refund")
    _terminate(b, "stop")
    b.node("mail", "sendTask", "Mail receipt")
    b.node("end", "endEvent")
    b.flow("start", "split")
    b.flow("split", "refund", condition="${refund}")
    b.flow("split", "mail", condition="${mail}")
    b.flow("refund", "stop")
    b.flow("mail", "end")
    suite = _suite(b.graph(), "paths")
    [both] = _with(suite, "refund", "mail")
    assert both.nodes == ["start", "split", "mail", "end", "refund", "stop"]


# -- seeded random models (synthetic.token_games) --------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_random_token_games_keep_the_invariants_and_cover_every_flow(strategy: str) -> None:
    """Blocks, loops, subprocesses, event subprocesses, interruptions and terminates, mixed at random.

    No scenario runs a node after a terminate end event ended its scope, every walk is a valid walk
    of the graph, and (edges) every flow is covered: no flow of these models is unreachable.
    """
    failures: list[str] = []
    terminates = 0
    for seed in range(40):
        graph = token_games(seed)
        terminates += sum(1 for n in graph.nodes if n.event_definition == "terminate")
        limit = None if strategy == "edges" else 40
        suite = generate_suite(graph, strategy=strategy, max_scenarios=limit)  # type: ignore[arg-type]
        problems = suite_problems(graph, suite)
        cov = suite.coverage
        if strategy == "edges" and (cov.flows_covered != cov.flows_total or suite.capped):
            problems.append(f"covered {cov.flows_covered}/{cov.flows_total}: {suite.uncovered_flows[:2]}")
        if problems:
            failures.append(f"seed {seed}: {problems[:2]}")
    assert terminates > 100  # the family does exercise terminate end events
    assert not failures, failures


@pytest.mark.parametrize("interrupting", [False, True])
def test_a_terminate_inside_an_event_subprocess_ends_that_event_subprocess(interrupting: bool) -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("a", "serviceTask", "Take order")
    b.node("c", "serviceTask", "Ship order")
    b.node("end", "endEvent")
    b.flow("start", "a")
    b.flow("a", "c")
    b.flow("c", "end")
    b.node("esp", "subProcess", "Cancellation", triggered_by_event=True)
    b.node("cancel", "startEvent", "Cancel received", parent_id="esp", cancel_activity=interrupting)
    b.node("refund", "serviceTask", "Refund", parent_id="esp")
    _terminate(b, "esp_stop", parent_id="esp")
    b.flow("cancel", "refund")
    b.flow("refund", "esp_stop")
    suite = _suite(b.graph())
    [triggered] = [s for s in suite.scenarios if s.kind is ScenarioKind.EXCEPTION]
    assert triggered.nodes[:6] == ["start", "a", "esp", "cancel", "refund", "esp_stop"]
    if interrupting:
        assert triggered.nodes[-1] == "esp_stop" and "c" not in triggered.nodes
    else:
        assert triggered.nodes == ["start", "a", "esp", "cancel", "refund", "esp_stop", "c", "end"]
