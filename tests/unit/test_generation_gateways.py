"""Generator: every gateway kind, implicit splits, both strategies, determinism."""

from __future__ import annotations

import itertools

import pytest

from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation import generate_suite
from orchestra_app.generation.synthetic import GraphBuilder

pytestmark = pytest.mark.unit


def _xor(gateway_type: str = "exclusiveGateway") -> ControlFlowGraph:
    b = GraphBuilder()
    b.node("start", "startEvent", "Order received")
    b.node("check", "serviceTask", "Check order")
    b.node("gw", gateway_type, "Order approved?")
    b.node("ship", "serviceTask", "Ship order")
    b.node("reject", "sendTask", "Send rejection")
    b.node("end", "endEvent")
    b.node("end2", "endEvent")
    b.flow("start", "check", "f1")
    b.flow("check", "gw", "f2")
    b.flow("gw", "ship", "yes", name="yes", condition="${approved}")
    b.flow("gw", "reject", "no", name="no", is_default=True)
    b.flow("ship", "end", "f5")
    b.flow("reject", "end2", "f6")
    return b.graph()


@pytest.mark.parametrize("strategy", ["edges", "paths"])
@pytest.mark.parametrize("gateway_type", ["exclusiveGateway", "eventBasedGateway"])
def test_exclusive_and_event_based_branch_per_outgoing_flow(strategy: str, gateway_type: str) -> None:
    suite = generate_suite(_xor(gateway_type), strategy=strategy)  # type: ignore[arg-type]
    assert [s.key for s in suite.scenarios] == ["S001", "S002"]
    happy, branch = suite.scenarios
    assert happy.kind == "happy" and branch.kind == "branch"
    assert happy.nodes == ["start", "check", "gw", "ship", "end"]
    assert happy.flows == ["f1", "f2", "yes", "f5"]
    assert happy.decisions == {"gw": {"flow": "yes", "condition": "${approved}"}}
    assert branch.decisions["gw"]["flow"] == "no"
    assert happy.name == "Order approved: yes"
    assert branch.name == "Order approved: no"
    cov = suite.coverage
    assert (cov.flows_total, cov.flows_covered, cov.decisions_total, cov.decisions_covered) == (6, 6, 2, 2)
    assert suite.path_count == 2 and not suite.capped


def _inclusive(count: int, *, default: bool = False, kind: str = "inclusiveGateway") -> ControlFlowGraph:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("or", kind, "Extras?")
    b.node("join", kind)
    b.node("end", "endEvent")
    b.flow("start", "or", "f0")
    for i in range(count):
        b.node(f"t{i}", "serviceTask", f"Extra {i}")
        b.flow("or", f"t{i}", f"o{i}", condition=f"${{extra{i}}}")
        b.flow(f"t{i}", "join", f"j{i}")
    if default:
        b.node("none", "task", "No extras")
        b.flow("or", "none", "od", is_default=True)
        b.flow("none", "join", "jd")
    b.flow("join", "end", "fe")
    return b.graph()


@pytest.mark.parametrize("kind", ["inclusiveGateway", "complexGateway"])
def test_inclusive_gateway_gives_every_non_empty_subset_in_paths_mode(kind: str) -> None:
    suite = generate_suite(_inclusive(3, kind=kind), strategy="paths")
    chosen = {tuple(s.decisions["or"].get("flows", [s.decisions["or"]["flow"]])) for s in suite.scenarios}
    expected = {
        tuple(f"o{i}" for i in combo)
        for size in (1, 2, 3)
        for combo in itertools.combinations(range(3), size)
    }
    assert chosen == expected
    assert len(suite.scenarios) == 7 and suite.path_count == 7 and not suite.capped
    both = next(s for s in suite.scenarios if s.decisions["or"].get("flows") == ["o0", "o1"])
    # Token semantics: both branches run, the join fires once.
    assert both.nodes == ["start", "or", "t0", "t1", "join", "end"]


def test_inclusive_default_flow_is_its_own_outcome() -> None:
    suite = generate_suite(_inclusive(2, default=True), strategy="paths")
    flows = [s.decisions["or"]["flow"] for s in suite.scenarios]
    assert "od" in flows
    only_default = next(s for s in suite.scenarios if s.decisions["or"]["flow"] == "od")
    assert "t0" not in only_default.nodes and "none" in only_default.nodes


def test_inclusive_beyond_cap_is_pairwise_and_capped() -> None:
    suite = generate_suite(_inclusive(10), strategy="paths", inclusive_cap=15)
    assert suite.capped
    subsets = [tuple(s.decisions["or"].get("flows", [s.decisions["or"]["flow"]])) for s in suite.scenarios]
    assert len(subsets) < 2**10 - 1
    for i, j in itertools.combinations(range(10), 2):
        a, b_ = f"o{i}", f"o{j}"
        assert any(a in s and b_ in s for s in subsets), (a, b_)
        assert any(a in s and b_ not in s for s in subsets), (a, b_)
    edges = generate_suite(_inclusive(10))
    assert edges.coverage.flows_covered == edges.coverage.flows_total


def _parallel(branches: int, variants: int = 2) -> ControlFlowGraph:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("fork", "parallelGateway")
    b.node("sync", "parallelGateway")
    b.node("end", "endEvent")
    b.flow("start", "fork", "f0")
    for i in range(branches):
        b.node(f"x{i}", "exclusiveGateway", f"Check {i}?")
        b.node(f"m{i}", "exclusiveGateway")
        b.flow("fork", f"x{i}", f"in{i}")
        for v in range(variants):
            b.node(f"t{i}_{v}", "serviceTask", f"Task {i}.{v}")
            b.flow(f"x{i}", f"t{i}_{v}", f"c{i}_{v}", name=f"v{v}")
            b.flow(f"t{i}_{v}", f"m{i}")
        b.flow(f"m{i}", "sync", f"out{i}")
    b.flow("sync", "end", "fe")
    return b.graph()


def _combo(scenario: object, branches: int) -> tuple[str, ...]:
    return tuple(scenario.decisions[f"x{i}"]["flow"] for i in range(branches))  # type: ignore[attr-defined]


def test_parallel_runs_every_branch_once_and_joins_once() -> None:
    suite = generate_suite(_parallel(3))
    for s in suite.scenarios:
        assert s.nodes.count("sync") == 1 and s.nodes.count("end") == 1
        assert all(f"x{i}" in s.nodes for i in range(3))
        # Branch by branch: a valid interleaving.
        assert s.nodes.index("x0") < s.nodes.index("x1") < s.nodes.index("x2") < s.nodes.index("sync")
    assert suite.coverage.flows_covered == suite.coverage.flows_total
    assert len(suite.scenarios) == 2


def test_parallel_pairwise_versus_product() -> None:
    pairwise = generate_suite(_parallel(4), strategy="paths")
    product = generate_suite(_parallel(4), strategy="paths", parallel="product")
    assert len(product.scenarios) == 16 and not product.capped
    assert len({_combo(s, 4) for s in product.scenarios}) == 16
    assert 4 <= len(pairwise.scenarios) < 16 and pairwise.capped
    combos = {_combo(s, 4) for s in pairwise.scenarios}
    for i, j in itertools.combinations(range(4), 2):
        for a in range(2):
            for b_ in range(2):
                assert any(c[i] == f"c{i}_{a}" and c[j] == f"c{j}_{b_}" for c in combos), (i, a, j, b_)
    assert pairwise.path_count == 16


def test_parallel_product_is_capped() -> None:
    suite = generate_suite(_parallel(8), strategy="paths", parallel="product", parallel_cap=10)
    assert suite.capped and len(suite.scenarios) == 10
    assert suite.coverage.flows_covered == suite.coverage.flows_total  # each-choice rows come first


def test_activity_with_unconditioned_flows_is_an_implicit_and_split() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("a", "serviceTask", "Create order")
    b.node("b1", "serviceTask", "Reserve stock")
    b.node("b2", "serviceTask", "Bill customer")
    b.node("e1", "endEvent")
    b.node("e2", "endEvent")
    b.flow("start", "a")
    b.flow("a", "b1")
    b.flow("a", "b2")
    b.flow("b1", "e1")
    b.flow("b2", "e2")
    suite = generate_suite(b.graph())
    assert len(suite.scenarios) == 1
    assert suite.scenarios[0].nodes == ["start", "a", "b1", "e1", "b2", "e2"]


def test_activity_with_conditioned_flows_is_an_implicit_or_split() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("a", "serviceTask", "Assess")
    b.node("b1", "serviceTask", "Notify fraud team")
    b.node("b2", "serviceTask", "Archive")
    b.node("e1", "endEvent")
    b.node("e2", "endEvent")
    b.flow("start", "a")
    b.flow("a", "b1", "cond", condition="${risk > 5}")
    b.flow("a", "b2", "always")
    b.flow("b1", "e1")
    b.flow("b2", "e2")
    suite = generate_suite(b.graph(), strategy="paths")
    runs = sorted(tuple(s.nodes) for s in suite.scenarios)
    assert runs == sorted([("start", "a", "b1", "e1", "b2", "e2"), ("start", "a", "b2", "e2")])


def test_collaboration_generates_per_process_with_participant_prefix() -> None:
    b = GraphBuilder("Shop")
    b.processes[0].participant_name = "Shop"
    b.node("s", "startEvent")
    b.node("t", "sendTask", "Send order")
    b.node("e", "endEvent")
    b.flow("s", "t")
    b.flow("t", "e")
    b2 = GraphBuilder("Warehouse")
    b2.processes[0].participant_name = "Warehouse"
    b2.node("s2", "startEvent", event_definition="message")
    b2.node("t2", "receiveTask", "Receive order")
    b2.node("e2", "endEvent")
    b2.flow("s2", "t2")
    b2.flow("t2", "e2")
    graph = b.graph()
    graph.nodes += b2.nodes
    graph.flows += [*b2.flows]
    graph.processes += b2.processes
    graph.flows.append(
        graph.flows[0].model_copy(update={"id": "msg", "source": "t", "target": "s2", "kind": "message"})
    )
    suite = generate_suite(graph)
    assert [(s.key, s.process_id) for s in suite.scenarios] == [("S001", "Shop"), ("S002", "Warehouse")]
    assert suite.scenarios[0].name.startswith("Shop: ")
    assert suite.coverage.flows_total == 4 == suite.coverage.flows_covered


def test_multiple_start_events_are_alternatives() -> None:
    b = GraphBuilder()
    b.node("web", "startEvent", "Web order")
    b.node("phone", "startEvent", "Phone order")
    b.node("t", "serviceTask", "Create order")
    b.node("e", "endEvent")
    b.flow("web", "t")
    b.flow("phone", "t")
    b.flow("t", "e")
    suite = generate_suite(b.graph())
    assert [s.nodes[0] for s in suite.scenarios] == ["web", "phone"]
    assert suite.scenarios[1].name == "Starts at Phone order"


@pytest.mark.parametrize("strategy", ["edges", "paths"])
def test_same_input_gives_the_same_suite(strategy: str) -> None:
    graph = _parallel(3, variants=3)
    first = generate_suite(graph, strategy=strategy).model_dump_json()  # type: ignore[arg-type]
    second = generate_suite(ControlFlowGraph.model_validate_json(graph.model_dump_json()), strategy=strategy)  # type: ignore[arg-type]
    assert first == second.model_dump_json()


def test_max_scenarios_caps_and_says_so() -> None:
    suite = generate_suite(_parallel(3, variants=3), strategy="paths", parallel="product", max_scenarios=5)
    assert len(suite.scenarios) == 5 and suite.capped


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        generate_suite(_xor(), strategy="random")  # type: ignore[arg-type]


def test_empty_graph_gives_an_empty_suite() -> None:
    suite = generate_suite(ControlFlowGraph())
    assert suite.scenarios == [] and suite.coverage.flows_total == 0
