"""Generator coverage (issue 8): every reachable flow covered on every model, the rest explained."""

# ruff: noqa: E501 - inline BPMN models read better unwrapped

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra_app.cli import app
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation import generate_suite, scenario_steps, synthetic
from orchestra_app.generation.model import SuitePlan, UncoveredReason
from orchestra_app.generation.synthetic import GraphBuilder
from orchestra_app.importers.detect import import_process
from tests.unit.suite_invariants import suite_problems

pytestmark = pytest.mark.unit

GEN = Path(__file__).resolve().parents[1] / "fixtures" / "generation"
HEAD = '<?xml version="1.0"?>\n<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'


def _bpmn(body: str) -> ControlFlowGraph:
    return import_process(f'{HEAD}<process id="p">{body}</process></definitions>'.encode(), filename="t.bpmn")


def _complete(graph: ControlFlowGraph, suite: SuitePlan) -> None:
    cov = suite.coverage
    assert cov.flows_covered == cov.flows_reachable == cov.flows_total, suite.uncovered_flows
    assert suite_problems(graph, suite) == []


def _reasons(suite: SuitePlan) -> dict[str, UncoveredReason]:
    return {u.flow: u.reason for u in suite.uncovered_flows}


# -- 1. loops holding choices ----------------------------------------------------------------------


def _loop_alt_opt() -> ControlFlowGraph:
    return import_process((GEN / "loop_alt_opt.mmd").read_bytes(), filename="loop_alt_opt.mmd")


def test_loop_holding_alt_and_opt_is_fully_covered_and_not_capped() -> None:
    graph = _loop_alt_opt()
    suite = generate_suite(graph)
    _complete(graph, suite)
    assert suite.coverage.decisions_covered == suite.coverage.decisions_total == 9
    assert not suite.capped  # 15 counted paths, a handful of scenarios: no cap was involved
    assert len(suite.scenarios) <= 5
    gap = [s for s in suite.scenarios if s.name.startswith("Covers ")]
    assert [s.name for s in gap] == ["Covers gift wrap -> wrap item (+1 more flow)"]
    # The gap-closing scenario enters the loop once and takes the opt branch.
    assert gap[0].decisions["opt_1_split"]["flow"] == "flow_10"
    assert gap[0].nodes[-1] == "end"


def test_loop_with_choices_under_max_loop_one_is_still_covered() -> None:
    graph = _loop_alt_opt()
    suite = generate_suite(graph, max_loop=1)
    _complete(graph, suite)
    for scenario in suite.scenarios:
        assert scenario.flows.count("flow_13") <= 1  # the back flow, at most max_loop times


# -- 2. dense cyclic models ------------------------------------------------------------------------


@pytest.mark.parametrize("decisions", [60, 200])
def test_dense_cycles_cover_every_flow_with_short_scenarios(decisions: int) -> None:
    graph = synthetic.dense_cycles(decisions)
    suite = generate_suite(graph)
    _complete(graph, suite)
    assert not suite.capped and not any(s.truncated for s in suite.scenarios)
    flows = suite.coverage.flows_total
    # Near the number of gaps, far from the number of paths: fewer scenarios than flows.
    assert suite.stats.gap_scenarios > 0 and len(suite.scenarios) < flows // 2
    gap = [s for s in suite.scenarios if s.name.startswith("Covers ")]
    assert len(gap) == suite.stats.gap_scenarios
    for scenario in gap:
        assert scenario.nodes[-1] == "end"  # shortest routes end at an end event
        assert len(scenario.flows) < 4 * decisions  # short: nothing like the 3,440-flow walk
    # Work stays linear-ish in the model: a deterministic budget instead of a timed assertion.
    size = len(graph.nodes) + len(graph.flows)
    assert suite.stats.nodes_visited + suite.stats.graph_visits < 200 * size


def test_dense_cycles_family_is_seeded_and_tangled() -> None:
    first, again, other = (synthetic.dense_cycles(60, seed=s) for s in (1, 1, 2))
    assert first.model_dump() == again.model_dump()
    assert first.model_dump() != other.model_dump()
    backs = [f for f in first.flows if f.id.startswith("back")]
    skips = [f for f in first.flows if f.id.startswith("skip")]
    assert len(backs) == 25 and len(skips) == 25
    # Every gateway is a decision: the chain flow plus one more.
    out: dict[str, int] = {}
    for flow in first.flows:
        out[flow.source] = out.get(flow.source, 0) + 1
    assert all(out[f"x{i}"] == 2 for i in range(60))


def test_dense_cycles_with_a_scenario_cap_say_capped_per_flow() -> None:
    graph = synthetic.dense_cycles(60)
    suite = generate_suite(graph, max_scenarios=5)
    assert len(suite.scenarios) == 5 and suite.capped
    assert suite.uncovered_flows and {u.reason for u in suite.uncovered_flows} == {UncoveredReason.CAPPED}
    assert suite_problems(graph, suite) == []


# -- 3. implicit starts ----------------------------------------------------------------------------


def test_task_with_boundary_event_and_no_incoming_flow_starts_with_the_process() -> None:
    graph = _bpmn(
        '<startEvent id="s"/><task id="a" name="Approve"/><endEvent id="e1"/>'
        '<sequenceFlow id="f1" sourceRef="s" targetRef="a"/><sequenceFlow id="f2" sourceRef="a" targetRef="e1"/>'
        '<task id="watch" name="Watch deadline"/><endEvent id="e2"/><endEvent id="e3"/>'
        '<boundaryEvent id="late" name="Too late" attachedToRef="watch"><timerEventDefinition/></boundaryEvent>'
        '<sequenceFlow id="f3" sourceRef="watch" targetRef="e2"/>'
        '<sequenceFlow id="f4" sourceRef="late" targetRef="e3"/>'
    )
    suite = generate_suite(graph)
    _complete(graph, suite)
    for scenario in suite.scenarios:
        assert {"s", "a", "watch"} <= set(scenario.nodes)  # the implicit start runs in every scenario
    steps = [step.name for step in scenario_steps(graph, suite.scenarios[0])]
    assert steps == ["Approve", "Watch deadline"]


def test_timer_catch_without_incoming_flow_joins_a_parallel_gateway() -> None:
    graph = _bpmn(
        '<startEvent id="s"/><task id="a" name="Prepare"/><parallelGateway id="j"/><task id="b" name="Ship"/>'
        '<intermediateCatchEvent id="t" name="Monday 9:00"><timerEventDefinition/></intermediateCatchEvent>'
        '<endEvent id="e"/><sequenceFlow id="f1" sourceRef="s" targetRef="a"/>'
        '<sequenceFlow id="f2" sourceRef="a" targetRef="j"/><sequenceFlow id="f3" sourceRef="t" targetRef="j"/>'
        '<sequenceFlow id="f4" sourceRef="j" targetRef="b"/><sequenceFlow id="f5" sourceRef="b" targetRef="e"/>'
    )
    suite = generate_suite(graph)
    _complete(graph, suite)
    (scenario,) = suite.scenarios
    assert scenario.nodes.count("j") == 1 and scenario.nodes.count("b") == 1  # the join fires once
    assert scenario.nodes.index("t") < scenario.nodes.index("j")


def test_implicit_starts_join_every_start_event_alternative() -> None:
    graph = _bpmn(
        '<startEvent id="s1" name="By mail"/><startEvent id="s2" name="By phone"/><task id="t" name="Log"/>'
        '<task id="free" name="Open file"/><endEvent id="e"/><endEvent id="e2"/>'
        '<sequenceFlow id="f1" sourceRef="s1" targetRef="t"/><sequenceFlow id="f2" sourceRef="s2" targetRef="t"/>'
        '<sequenceFlow id="f3" sourceRef="t" targetRef="e"/><sequenceFlow id="f4" sourceRef="free" targetRef="e2"/>'
    )
    suite = generate_suite(graph)
    _complete(graph, suite)
    assert len(suite.scenarios) == 2
    assert all("free" in s.nodes for s in suite.scenarios)
    assert {s.nodes[0] for s in suite.scenarios} == {"s1", "s2"}


def test_nodes_bpmn_does_not_start_stay_unreached_with_a_reason() -> None:
    graph = _bpmn(
        '<startEvent id="s"/><task id="a"/><endEvent id="e"/>'
        '<sequenceFlow id="f1" sourceRef="s" targetRef="a"/><sequenceFlow id="f2" sourceRef="a" targetRef="e"/>'
        # a compensation handler, a throw event and a gateway without incoming flow: none starts
        '<task id="undo" name="Refund" isForCompensation="true"/><endEvent id="e2"/>'
        '<sequenceFlow id="f3" sourceRef="undo" targetRef="e2"/>'
        '<intermediateThrowEvent id="throw"/><exclusiveGateway id="g" name="Dangling?"/>'
        '<sequenceFlow id="f4" sourceRef="throw" targetRef="g"/><sequenceFlow id="f5" sourceRef="g" targetRef="e2"/>'
        # a link catch no throw names, and a boundary event attached to nothing
        '<intermediateCatchEvent id="lc" name="Go on"><linkEventDefinition name="Go on"/></intermediateCatchEvent>'
        '<sequenceFlow id="f6" sourceRef="lc" targetRef="e2"/>'
        '<boundaryEvent id="b" attachedToRef="missing"/><sequenceFlow id="f7" sourceRef="b" targetRef="e2"/>'
        # nodes inside an event subprocess start only with its start event
        '<subProcess id="esp" triggeredByEvent="true"><startEvent id="es" name="Cancel"><messageEventDefinition/>'
        '</startEvent><task id="inner"/><endEvent id="ee"/><sequenceFlow id="f8" sourceRef="es" targetRef="ee"/>'
        '<sequenceFlow id="f9" sourceRef="inner" targetRef="ee"/></subProcess>'
    )
    suite = generate_suite(graph)
    assert suite_problems(graph, suite) == []
    reasons = _reasons(suite)
    assert reasons == {
        "f3": UncoveredReason.COMPENSATION_ONLY,
        "f4": UncoveredReason.NO_PATH_FROM_START,
        "f5": UncoveredReason.NO_PATH_FROM_START,
        "f6": UncoveredReason.UNMATCHED_LINK,
        "f7": UncoveredReason.DETACHED_BOUNDARY,
        "f9": UncoveredReason.NO_PATH_FROM_START,
    }
    for scenario in suite.scenarios:
        assert not {"undo", "throw", "g", "lc", "b", "inner"} & set(scenario.nodes)
    assert suite.coverage.flows_reachable == 3  # f1, f2 and the event subprocess's f8
    detail = next(u.detail for u in suite.uncovered_flows if u.flow == "f6")
    assert "lc" in detail and "'Go on'" in detail


def test_process_without_start_event_starts_every_free_node_together() -> None:
    graph = _bpmn(
        '<task id="a" name="A"/><exclusiveGateway id="g"/><task id="b" name="B"/><endEvent id="e"/>'
        '<sequenceFlow id="f1" sourceRef="a" targetRef="e"/><sequenceFlow id="f2" sourceRef="g" targetRef="b"/>'
        '<sequenceFlow id="f3" sourceRef="b" targetRef="e"/>'
    )
    suite = generate_suite(graph)
    _complete(graph, suite)
    assert {"a", "g"} <= set(suite.scenarios[0].nodes)


# -- 4. event subprocesses with no normal flow ----------------------------------------------------


def test_process_of_event_subprocesses_only_gets_one_scenario_per_trigger() -> None:
    graph = _bpmn(
        '<subProcess id="cancel" name="Cancellation" triggeredByEvent="true">'
        '<startEvent id="c1" name="Cancel received"><messageEventDefinition/></startEvent>'
        '<serviceTask id="refund" name="Refund"/><endEvent id="c2"/>'
        '<sequenceFlow id="f1" sourceRef="c1" targetRef="refund"/><sequenceFlow id="f2" sourceRef="refund" targetRef="c2"/>'
        "</subProcess>"
        '<subProcess id="nightly" triggeredByEvent="true">'
        '<startEvent id="n1" name="Every night"><timerEventDefinition/></startEvent>'
        '<startEvent id="n2" name="Audit requested"><signalEventDefinition/></startEvent>'
        '<serviceTask id="report" name="Report"/><endEvent id="n3"/>'
        '<sequenceFlow id="f3" sourceRef="n1" targetRef="report"/><sequenceFlow id="f4" sourceRef="n2" targetRef="report"/>'
        '<sequenceFlow id="f5" sourceRef="report" targetRef="n3"/></subProcess>'
    )
    for strategy in ("edges", "paths"):
        suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
        _complete(graph, suite)
        assert [s.name for s in suite.scenarios] == [
            "Cancellation triggered by Cancel received",
            "Triggered by Every night",
            "Triggered by Audit requested",
        ]
        assert all(s.kind == "exception" for s in suite.scenarios)
        assert suite.scenarios[0].nodes == ["cancel", "c1", "refund", "c2"]
        assert suite.path_count == 3


def test_subprocess_holding_only_event_subprocesses_offers_them_on_entry() -> None:
    graph = _bpmn(
        '<startEvent id="s"/><subProcess id="sp" name="Watch"><subProcess id="esp" triggeredByEvent="true">'
        '<startEvent id="es" name="Alarm"><signalEventDefinition/></startEvent><task id="t" name="React"/>'
        '<endEvent id="ee"/><sequenceFlow id="f1" sourceRef="es" targetRef="t"/>'
        '<sequenceFlow id="f2" sourceRef="t" targetRef="ee"/></subProcess></subProcess><endEvent id="e"/>'
        '<sequenceFlow id="f3" sourceRef="s" targetRef="sp"/><sequenceFlow id="f4" sourceRef="sp" targetRef="e"/>'
    )
    suite = generate_suite(graph)
    _complete(graph, suite)
    assert any("triggered by Alarm" in s.name.lower() or "Alarm" in s.name for s in suite.scenarios)


# -- 5. paths mode: each distinct path once, step-less scenarios explained or dropped -------------


def test_paths_mode_holds_each_distinct_path_once() -> None:
    graph = _loop_alt_opt()
    suite = generate_suite(graph, strategy="paths")
    _complete(graph, suite)
    signatures = [
        (
            frozenset(s.flows),
            tuple(sorted((k, d.get("iterations", 0)) for k, d in s.decisions.items() if d.get("loop"))),
        )
        for s in suite.scenarios
    ]
    assert len(signatures) == len(set(signatures)) == len(suite.scenarios) == 14
    assert not any("#" in s.name for s in suite.scenarios)
    assert suite.stats.duplicates_dropped == 69 - 14  # the iteration orders it enumerated and merged
    assert not suite.capped


def test_stepless_scenario_is_kept_with_a_note_only_when_it_alone_covers_something() -> None:
    graph = import_process(
        b"sequenceDiagram\n    loop Until done\n        A->>B: work\n    end\n", filename="loop.mmd"
    )
    for strategy in ("edges", "paths"):
        suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
        _complete(graph, suite)
        stepless = [s for s in suite.scenarios if not scenario_steps(graph, s)]
        assert len(stepless) == 1  # the loop run 0 times: only this scenario takes that outcome
        assert stepless[0].note and "skipped (0 iterations)" in stepless[0].note
        assert all(s.note is None for s in suite.scenarios if s is not stepless[0])


def test_redundant_stepless_path_is_dropped() -> None:
    # Inclusive split: {x}, {y}, {x, y}. {x} runs no task and takes nothing {x, y} does not.
    graph = _bpmn(
        '<startEvent id="s"/><inclusiveGateway id="g" name="Notify?"/><endEvent id="e1"/>'
        '<task id="t" name="Send mail"/><endEvent id="e2"/><sequenceFlow id="f0" sourceRef="s" targetRef="g"/>'
        '<sequenceFlow id="x" sourceRef="g" targetRef="e1" name="log only"/>'
        '<sequenceFlow id="y" sourceRef="g" targetRef="t" name="mail"/><sequenceFlow id="f2" sourceRef="t" targetRef="e2"/>'
    )
    suite = generate_suite(graph, strategy="paths")
    _complete(graph, suite)
    assert suite.stats.stepless_dropped == 1
    assert all(scenario_steps(graph, s) for s in suite.scenarios)
    assert len(suite.scenarios) == 2


# -- 6. uncovered flows are explained --------------------------------------------------------------


def test_reachable_flows_cut_by_the_cap_are_marked_capped() -> None:
    graph = synthetic.wide_gateway(10)
    suite = generate_suite(graph, max_scenarios=3)
    assert suite.capped and len(suite.scenarios) == 3
    reasons = _reasons(suite)
    assert len(reasons) == 14 and set(reasons.values()) == {UncoveredReason.CAPPED}
    assert suite_problems(graph, suite) == []


def test_uncovered_flows_in_cli_json_carry_reason_and_detail(tmp_path: Path) -> None:
    model = tmp_path / "dangling.bpmn"
    model.write_text(
        f'{HEAD}<process id="p"><startEvent id="s"/><endEvent id="e"/>'
        '<sequenceFlow id="f1" sourceRef="s" targetRef="e"/><exclusiveGateway id="g"/><endEvent id="e2"/>'
        '<sequenceFlow id="f2" sourceRef="g" targetRef="e2"/></process></definitions>'
    )
    result = CliRunner().invoke(app, ["process", "scenarios", str(model), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["uncovered_flows"] == [
        {
            "flow": "f2",
            "reason": "NO_PATH_FROM_START",
            "detail": "the way here starts at exclusiveGateway g: no flow enters it, and BPMN starts only "
            "start events, activities and catch events with their process",
        }
    ]
    assert data["coverage"]["flows_reachable"] == 1 and not data["capped"]
    assert data["scenarios"][0]["note"].startswith("No task runs on this path")


def test_route_takes_the_back_flow_an_and_split_sibling_would_spend_first() -> None:
    # task_2 is an implicit AND-split whose two flows both close the loop at task_1 (the old
    # "document order only" limit): the gap-closing route walks its own branch first.
    b = GraphBuilder()
    for nid in ("task_1", "task_2", "task_3"):
        b.node(nid, "task", nid)
    b.flow("task_2", "task_3", "flow_1")
    b.flow("task_1", "task_2", "flow_2")
    b.flow("task_2", "task_1", "flow_3")
    b.flow("task_3", "task_1", "flow_4")
    graph = b.graph()
    suite = generate_suite(graph)
    _complete(graph, suite)


def test_route_avoids_spending_the_loop_count_it_needs_later() -> None:
    # An irreducible loop: the shortest way to A goes round B -> A (a back flow). With max_loop 1 a
    # route that took it could not take D -> A later; the generator takes the long way in instead.
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("x", "exclusiveGateway", "Route?")
    for name in ("c1", "c2", "c3"):
        b.node(name, "serviceTask", name)
    b.node("a", "exclusiveGateway", "A?")
    b.node("bb", "exclusiveGateway", "B?")
    b.node("d", "serviceTask", "D")
    b.node("end", "endEvent")
    for source, target in [("start", "x"), ("x", "c1"), ("c1", "c2"), ("c2", "c3"), ("c3", "a"), ("x", "bb")]:
        b.flow(source, target, f"{source}_{target}")
    for source, target in [("a", "bb"), ("a", "d"), ("bb", "a"), ("d", "a"), ("bb", "end")]:
        b.flow(source, target, f"{source}_{target}")
    graph = b.graph()
    suite = generate_suite(graph, max_loop=1)
    _complete(graph, suite)
    for scenario in suite.scenarios:
        assert scenario.nodes[-1] == "end"
        assert scenario.flows.count("bb_a") + scenario.flows.count("d_a") <= 1


def test_flow_that_needs_more_loop_iterations_than_max_loop_is_loop_limit() -> None:
    # T starts implicitly and enters the loop at Y only through Z -> Y, a back flow: reaching
    # W -> Y (the loop's other back flow) needs two iterations.
    b = GraphBuilder()
    b.node("s", "startEvent")
    b.node("e", "endEvent")
    b.node("y", "exclusiveGateway", "Y?")
    for name in ("z", "w", "t"):
        b.node(name, "serviceTask", name.upper())
    for source, target in [("s", "e"), ("y", "z"), ("z", "y"), ("y", "w"), ("w", "y"), ("t", "z")]:
        b.flow(source, target, f"{source}_{target}")
    graph = b.graph()
    suite = generate_suite(graph, max_loop=1)
    assert _reasons(suite) == {"w_y": UncoveredReason.LOOP_LIMIT}
    assert suite.coverage.flows_reachable == 6 and suite.coverage.flows_covered == 5
    assert suite_problems(graph, suite) == []
    _complete(graph, generate_suite(graph, max_loop=2))
