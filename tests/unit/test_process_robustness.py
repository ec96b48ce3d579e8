"""Process import + generation under hostile, odd and huge input: only OrchestraError, right, bounded.

Bounded means work counts (scenarios emitted, node visits), never wall-clock limits: the times of the
same cases are measured by ``benchmarks/bench_process.py --robustness``.
"""

# ruff: noqa: E501 - inline XML fixtures read better unwrapped

from __future__ import annotations

import random
from pathlib import Path

import pytest

from orchestra_app.domain.errors import ErrorKind, OrchestraError
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation import SuitePlan, generate_suite
from orchestra_app.generation.combos import pairwise, subsets
from orchestra_app.generation.synthetic import GraphBuilder
from orchestra_app.importers.detect import import_process
from orchestra_app.importers.graph_facts import derive_facts
from tests.unit.suite_invariants import suite_problems

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PROCESS_FIXTURES = sorted(
    p
    for folder in ("bpmn", "generation", "sequence", "app")
    for p in (FIXTURES / folder).iterdir()
    if p.suffix in (".bpmn", ".json", ".mmd", ".puml", ".xml", ".txt")
)
HEAD = '<?xml version="1.0"?>\n<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'


def _bpmn(body: str) -> bytes:
    return f'{HEAD}<process id="p">{body}</process></definitions>'.encode()


def _import_and_generate(data: bytes, name: str) -> None:
    """Import + both strategies; anything but an OrchestraError escapes and fails the test."""
    try:
        graph = import_process(data, filename=name)
    except OrchestraError:
        return
    for strategy in ("edges", "paths"):
        try:
            generate_suite(graph, strategy=strategy, max_scenarios=50)  # type: ignore[arg-type]
        except OrchestraError:
            return


# -- (1) only OrchestraError ----------------------------------------------------------------------


def _mutations(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    step = max(1, len(data) // 40)
    out = [data[:cut] for cut in range(0, len(data), step)]  # truncated at every Nth byte
    lines = data.splitlines(keepends=True)
    for _ in range(25):
        kept = [line for line in lines if rng.random() > 0.15]  # random lines dropped
        out.append(b"".join(kept))
    for _ in range(15):
        cut = bytearray(data)
        for _ in range(3):
            if cut:
                cut[rng.randrange(len(cut))] = rng.choice(b"<>/\"'{}[]:;=-\n\x00\xff")
        out.append(bytes(cut))
    return out


@pytest.mark.parametrize("path", PROCESS_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_mutated_fixtures_only_ever_raise_orchestra_error(path: Path) -> None:
    data = path.read_bytes()
    mutations = _mutations(data, seed=len(data))
    for i, mutated in enumerate(mutations):
        _import_and_generate(mutated, f"{path.name}#{i}")
    assert len(mutations) >= 40


ODD_BPMN = {
    "gateway without outgoing flow": '<startEvent id="s"/><exclusiveGateway id="g"/>'
    '<sequenceFlow id="f" sourceRef="s" targetRef="g"/>',
    "flows to and from missing nodes": '<startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="x"/>'
    '<sequenceFlow id="f2" sourceRef="y" targetRef="s"/><sequenceFlow id="f3"/>',
    "boundary on a missing activity": '<startEvent id="s"/><boundaryEvent id="b" attachedToRef="nope"/>'
    '<endEvent id="e"/><sequenceFlow id="f" sourceRef="b" targetRef="e"/>',
    "boundary events attached to each other": '<boundaryEvent id="b1" attachedToRef="b2"/>'
    '<boundaryEvent id="b2" attachedToRef="b1"/><startEvent id="s"/>',
    "self-loops on task and gateways": '<startEvent id="s"/><task id="t"/><parallelGateway id="g"/>'
    '<inclusiveGateway id="i"/><sequenceFlow id="f" sourceRef="s" targetRef="t"/>'
    '<sequenceFlow id="f1" sourceRef="t" targetRef="t"/><sequenceFlow id="f2" sourceRef="t" targetRef="g"/>'
    '<sequenceFlow id="f3" sourceRef="g" targetRef="g"/><sequenceFlow id="f4" sourceRef="g" targetRef="i"/>'
    '<sequenceFlow id="f5" sourceRef="i" targetRef="i"/>',
    "only a cycle, no start": '<task id="a"/><task id="b"/><sequenceFlow id="f1" sourceRef="a" targetRef="b"/>'
    '<sequenceFlow id="f2" sourceRef="b" targetRef="a"/>',
    "empty and blank names": '<startEvent id="s" name=""/><exclusiveGateway id="g" name=" "/><task id="a" name="&#10;"/>'
    '<sequenceFlow id="f" sourceRef="s" targetRef="g" name=""/><sequenceFlow id="f1" sourceRef="g" targetRef="a">'
    "<conditionExpression> </conditionExpression></sequenceFlow>"
    '<sequenceFlow id="f2" sourceRef="g" targetRef="s"/>',
    "unicode everywhere": '<startEvent id="s" name="Старт 🚀"/><task id="т" name="\u202eзадача"/>'
    '<sequenceFlow id="ф" name="да" sourceRef="s" targetRef="т"/>',
    "huge attribute values": f'<startEvent id="s" name="{"x" * 2_000_000}"/><task id="{"t" * 100_000}"/>',
    "event subprocess only": '<subProcess id="esp" triggeredByEvent="true"><startEvent id="s"/></subProcess>',
    "empty subprocess": '<startEvent id="s"/><subProcess id="sp"/><sequenceFlow id="f" sourceRef="s" targetRef="sp"/>',
    "huge maxLoopIterations": '<startEvent id="s"/><task id="t" xmlns:o="https://orchestra.dev/schema/bpmn" '
    'o:maxLoopIterations="99999999999999999999"/><exclusiveGateway id="g"/><endEvent id="e"/>'
    '<sequenceFlow id="f" sourceRef="s" targetRef="t"/><sequenceFlow id="f1" sourceRef="t" targetRef="g"/>'
    '<sequenceFlow id="f2" sourceRef="g" targetRef="t"/><sequenceFlow id="f3" sourceRef="g" targetRef="e"/>',
}


@pytest.mark.parametrize("body", ODD_BPMN.values(), ids=list(ODD_BPMN))
def test_odd_bpmn_imports_or_fails_cleanly_and_suites_stay_consistent(body: str) -> None:
    graph = import_process(_bpmn(body), filename="odd.bpmn")
    for strategy in ("edges", "paths"):
        suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
        assert suite_problems(graph, suite) == []


def test_sequence_flow_from_a_participant_is_a_warning() -> None:
    data = (
        f'{HEAD}<collaboration id="c"><participant id="P" processRef="p"/></collaboration>'
        '<process id="p"><startEvent id="s"/><sequenceFlow id="f" sourceRef="P" targetRef="s"/>'
        "</process></definitions>"
    ).encode()
    graph = import_process(data, filename="odd.bpmn")
    assert any(w.code == "DANGLING_REF" and w.element_id == "f" for w in graph.warnings)
    assert suite_problems(graph, generate_suite(graph)) == []


def test_json_integer_beyond_pythons_digit_limit_is_a_syntax_error() -> None:
    data = b'{"format": "orchestra-sequence/1", "participants": [], "items": [], "n": ' + b"9" * 5000 + b"}"
    with pytest.raises(OrchestraError) as caught:
        import_process(data, filename="big.json")
    assert caught.value.kind is ErrorKind.SYNTAX
    assert str(caught.value).startswith("big.json:1: invalid JSON")


def _nested_subprocesses(depth: int) -> bytes:
    opened = "".join(f'<subProcess id="sp{i}"><startEvent id="s{i}"/>' for i in range(depth))
    closed = "".join(
        f'<sequenceFlow id="f{i}" sourceRef="s{i}" targetRef="{f"sp{i + 1}" if i + 1 < depth else "t"}"/>'
        "</subProcess>"
        for i in reversed(range(depth))
    )
    return _bpmn(
        f'<startEvent id="s"/>{opened}<task id="t"/>{closed}<sequenceFlow id="f" sourceRef="s" targetRef="sp0"/>'
    )


def test_subprocesses_nested_beyond_the_xml_depth_limit_are_refused_not_half_read() -> None:
    # Recover mode used to return the top 250 levels without a single flow, as a valid graph.
    with pytest.raises(OrchestraError) as caught:
        import_process(_nested_subprocesses(500), filename="deep.bpmn")
    assert caught.value.kind is ErrorKind.TOO_LARGE
    assert "nested deeper than 256 levels" in str(caught.value) and caught.value.line == 2


def test_subprocesses_nested_just_under_the_limit_generate() -> None:
    graph = import_process(_nested_subprocesses(250), filename="deep.bpmn")
    assert len(graph.flows) == 251
    for strategy in ("edges", "paths"):
        suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
        assert suite.scenarios[0].nodes[-1] == "t"
        assert suite_problems(graph, suite) == []


def test_hand_made_graph_nested_too_deep_is_an_orchestra_error() -> None:
    b = GraphBuilder()
    b.node("s", "startEvent")
    parent: str | None = None
    for i in range(3000):
        b.node(f"sp{i}", "subProcess", parent_id=parent)
        parent = f"sp{i}"
    b.flow("s", "sp0")
    try:
        generate_suite(b.graph())
    except OrchestraError as exc:
        assert exc.kind is ErrorKind.TOO_LARGE


# -- (2) right results ----------------------------------------------------------------------------


def _or_split_retry_loop() -> ControlFlowGraph:
    """start -> merge -> Check -(retry, conditional)-> merge; Check -(done, conditional)-> end.

    The loop is closed by a task's conditional flows (an implicit inclusive split), not a gateway.
    """
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("merge", "exclusiveGateway")
    b.node("check", "task", "Check")
    b.node("end", "endEvent")
    b.flow("start", "merge", "f0")
    b.flow("merge", "check", "f1")
    b.flow("check", "merge", "retry", condition="${retry}")
    b.flow("check", "end", "done", condition="${!retry}")
    return derive_facts(b.graph())


@pytest.mark.parametrize("strategy", ["edges", "paths"])
def test_loop_closed_by_an_implicit_inclusive_split_runs_to_the_end(strategy: str) -> None:
    graph = _or_split_retry_loop()
    suite = generate_suite(graph, strategy=strategy, max_loop=3)  # type: ignore[arg-type]
    assert suite_problems(graph, suite) == []
    for s in suite.scenarios:
        assert s.nodes[-1] == "end", (s.name, s.nodes)  # the happy path used to stop at "check"
    loop = next(k for k, d in suite.scenarios[0].decisions.items() if d.get("loop"))
    assert {s.decisions[loop]["iterations"] for s in suite.scenarios} == {0, 1, 3}
    assert suite.scenarios[0].kind == "happy"


def test_fixture_suites_are_valid_walks_with_consistent_coverage() -> None:
    checked = 0
    for path in PROCESS_FIXTURES:
        try:
            graph = import_process(path.read_bytes(), filename=path.name)
        except OrchestraError:
            continue
        for strategy in ("edges", "paths"):
            suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
            assert suite_problems(graph, suite) == [], (path.name, strategy)
            checked += 1
    assert checked >= 16


# -- (3) performance traps ------------------------------------------------------------------------


def _generated(data: bytes, name: str, *, strategy: str = "edges") -> tuple[ControlFlowGraph, SuitePlan]:
    graph = import_process(data, filename=name)
    return graph, generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]


def _visits(suite: SuitePlan) -> int:
    """Node visits over the whole suite: the generator's output work."""
    return sum(len(s.nodes) for s in suite.scenarios)


def _linear(graph: ControlFlowGraph, suite: SuitePlan) -> bool:
    """The generator's own work counters (walk steps, search visits) stay linear in the graph's size: a
    quadratic step would count tens of millions here."""
    return suite.stats.nodes_visited + suite.stats.graph_visits <= 10 * len(graph.nodes)


def test_twenty_thousand_node_chain_imports_and_generates_linearly() -> None:
    body = '<startEvent id="n0"/>' + "".join(f'<task id="n{i}"/>' for i in range(1, 20_000))
    body += "".join(f'<sequenceFlow id="f{i}" sourceRef="n{i}" targetRef="n{i + 1}"/>' for i in range(19_999))
    graph, suite = _generated(_bpmn(body), "chain.bpmn")
    assert (len(graph.nodes), len(suite.scenarios), _visits(suite)) == (20_000, 1, 20_000)
    assert _linear(graph, suite) and suite.stats.walks == 1


def _wide(width: int, gateway: str) -> bytes:
    parts = [f'<startEvent id="s"/><{gateway} id="g"/><{gateway} id="j"/><endEvent id="e"/>']
    parts.append(
        '<sequenceFlow id="fs" sourceRef="s" targetRef="g"/><sequenceFlow id="fe" sourceRef="j" targetRef="e"/>'
    )
    for i in range(width):
        parts.append(
            f'<task id="t{i}"/><sequenceFlow id="a{i}" sourceRef="g" targetRef="t{i}">'
            f"<conditionExpression>x == {i}</conditionExpression></sequenceFlow>"
            f'<sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="j"/>'
        )
    return _bpmn("".join(parts))


@pytest.mark.parametrize("gateway", ["exclusiveGateway", "inclusiveGateway", "parallelGateway"])
@pytest.mark.parametrize("strategy", ["edges", "paths"])
def test_five_thousand_way_gateway_stays_bounded(gateway: str, strategy: str) -> None:
    # The inclusive one used to build 50 million pairwise tuples (gigabytes); the parallel one in
    # paths mode spent 13 s on 12.5 million pairs of single-variant branches.
    graph, suite = _generated(_wide(5000, gateway), "wide.bpmn", strategy=strategy)
    cap = 5000 if strategy == "edges" else 200  # one scenario per branch at most / the paths default
    assert 1 <= len(suite.scenarios) <= cap and suite.stats.scenarios_emitted <= cap
    assert _linear(graph, suite)
    if gateway == "parallelGateway":  # one token per branch, all in one scenario
        assert len(suite.scenarios) == 1 and _visits(suite) == len(graph.nodes)
    else:  # start, split, branch task, join, end
        assert _visits(suite) <= 5 * len(suite.scenarios)


def test_pairwise_and_subsets_stay_bounded_for_thousands_of_factors() -> None:
    rows, capped = pairwise([2] * 5000, cap=64)
    assert capped and 1 <= len(rows) <= 64 and {r[0] for r in rows} == {0, 1}
    rows, capped = pairwise([1] * 5000, cap=64)
    assert rows == [(0,) * 5000] and not capped
    picked, capped = subsets(5000, cap=15)
    assert capped and len(picked) == 5001 and picked[-1] == tuple(range(5000))


def _parallel_chain(blocks: int) -> ControlFlowGraph:
    b = GraphBuilder()
    prev = b.node("s", "startEvent")
    for i in range(blocks):
        for node, kind in (
            (f"f{i}", "parallelGateway"),
            (f"a{i}", "task"),
            (f"b{i}", "task"),
            (f"j{i}", "parallelGateway"),
        ):
            b.node(node, kind)
        for source, target in (
            (prev, f"f{i}"),
            (f"f{i}", f"a{i}"),
            (f"f{i}", f"b{i}"),
            (f"a{i}", f"j{i}"),
            (f"b{i}", f"j{i}"),
        ):
            b.flow(source, target)
        prev = f"j{i}"
    b.node("e", "endEvent")
    b.flow(prev, "e")
    return derive_facts(b.graph())


@pytest.mark.parametrize("strategy", ["edges", "paths"])
def test_chain_of_parallel_blocks_is_linear(strategy: str) -> None:
    # Each split's join search and path-count table used to span the whole model: 2,000 blocks took 27 s.
    graph = _parallel_chain(2500)
    suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
    assert suite.path_count == 1 and len(suite.scenarios) == 1 and _visits(suite) == len(graph.nodes)
    assert _linear(graph, suite)
    assert suite.coverage.flows_covered == suite.coverage.flows_total


def _nested_parallel(depth: int) -> ControlFlowGraph:
    b = GraphBuilder()
    prev = b.node("s", "startEvent")
    for i in range(depth):
        b.node(f"f{i}", "parallelGateway")
        b.node(f"a{i}", "task")
        b.flow(prev, f"f{i}")
        b.flow(f"f{i}", f"a{i}")
        prev = f"f{i}"
    last = b.node("mid", "task")
    b.flow(prev, last)
    for i in reversed(range(depth)):
        b.node(f"j{i}", "parallelGateway")
        b.flow(last, f"j{i}")
        b.flow(f"a{i}", f"j{i}")
        last = f"j{i}"
    b.node("e", "endEvent")
    b.flow(last, "e")
    return derive_facts(b.graph())


@pytest.mark.parametrize("strategy", ["edges", "paths"])
def test_deeply_nested_parallel_blocks_do_not_exhaust_the_stack(strategy: str) -> None:
    # paths mode recursed seven frames per nesting level (RecursionError at 150 levels); the path
    # counter three per level (RecursionError at ~330).
    graph = _nested_parallel(400)
    suite = generate_suite(graph, strategy=strategy)  # type: ignore[arg-type]
    assert len(suite.scenarios) == 1 and suite.scenarios[0].nodes[-1] == "e"
    assert suite_problems(graph, suite) == []


# -- (4) XML safety -------------------------------------------------------------------------------

_LOL = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10 if i else "lol"}">' for i in range(10))
_MODEL = (
    '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
    '<process id="p"><task id="t" name="&X;"/></process></definitions>'
)


@pytest.mark.parametrize(
    "prolog",
    [
        # A "<a" in a comment or PI before the DOCTYPE used to end the byte scan's prolog early.
        f'<!-- <a --><!DOCTYPE definitions [{_LOL}<!ENTITY X "&l9;">]>',
        '<!-- <a --><!DOCTYPE definitions [<!ENTITY X SYSTEM "file:///etc/passwd">]>',
        '<?pi <a?><!DOCTYPE definitions [<!ENTITY X SYSTEM "file:///etc/passwd">]>',
        # A SYSTEM literal may hold "<a" too: only the parsed internal subset tells.
        '<!DOCTYPE definitions SYSTEM "<a" [<!ENTITY X SYSTEM "file:///etc/passwd">]>',
        '<!-- <a --><!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;<!ENTITY X "x">]>',
    ],
    ids=[
        "laughs-behind-comment",
        "xxe-behind-comment",
        "xxe-behind-pi",
        "xxe-behind-system-literal",
        "param",
    ],
)
def test_entity_declarations_are_refused_wherever_the_doctype_hides(prolog: str) -> None:
    data = f'<?xml version="1.0"?>{prolog}{_MODEL}'.encode()
    with pytest.raises(OrchestraError) as caught:
        import_process(data, filename="evil.bpmn")
    assert caught.value.kind is ErrorKind.UNSAFE_XML, str(caught.value)
