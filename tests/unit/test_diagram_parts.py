"""Pure parts of the diagrams: mermaid text from sequence models, names for decisions, step statuses
per node, flow coverage of a run, and the layout drawn for BPMN files without one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from orchestra_app.domain.diagram import (
    describe_decisions,
    element_labels,
    exercised_flows,
    node_statuses,
)
from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.importers.bpmn import import_bpmn
from orchestra_app.importers.bpmn_layout import DC_NS, DI_NS, add_layout, layout_graph
from orchestra_app.importers.sequence import import_sequence, parse_sequence
from orchestra_app.importers.sequence_render import document_to_mermaid, escape, graph_to_mermaid
from orchestra_app.services.diagrams import bpmn_for_viewer

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SHOP = ROOT / "examples" / "shop" / "order-process.bpmn"


def _messages(graph: ControlFlowGraph) -> list[tuple[str, str]]:
    nodes = sorted((n for n in graph.nodes if n.id.startswith("msg_")), key=lambda n: int(n.id[4:]))
    return [(n.id, n.name or "") for n in nodes]


@pytest.mark.parametrize(
    "name", ["sequence/order.json", "sequence/order.puml", "sequence/checkout.mmd", "app/checkout.mmd"]
)
def test_generated_mermaid_reads_back_as_the_same_messages(name: str) -> None:
    path = FIXTURES / name
    original = import_sequence(path.read_bytes(), filename=path.name)
    text = document_to_mermaid(parse_sequence(path.read_bytes(), filename=path.name).document)
    again = import_sequence(text, filename="generated.mmd")
    assert [n for _, n in _messages(again)] == [n for _, n in _messages(original)]
    assert [i for i, _ in _messages(again)] == [i for i, _ in _messages(original)]
    # the same decisions: fragments survive the round trip
    assert sorted(n.id for n in again.nodes) == sorted(n.id for n in original.nodes)


def test_labels_cannot_break_out_of_their_statement() -> None:
    assert escape("a;b#c\nd %% e <br> {x}") == "a#59;b#35;c<br>d #37;#37; e #60;br#62; #123;x#125;"
    graph = import_sequence(
        '{"format": "orchestra-sequence/1", "participants": [{"id": "a"}, {"id": "b", "name": "B; end"}],'
        ' "items": [{"from": "a", "to": "b", "label": "x\\nsequenceDiagram; note"}]}',
        filename="x.json",
    )
    text = graph_to_mermaid(graph)
    assert text.count("\n") == 5  # header, title, two participants, one message
    assert "x<br>sequenceDiagram#59; note" in text and "B#59; end" in text


def test_graph_fallback_lists_every_message_in_order() -> None:
    path = FIXTURES / "sequence" / "order.json"
    graph = import_sequence(path.read_bytes(), filename=path.name)
    text = graph_to_mermaid(graph)
    labels = re.findall(r"^\s+p\d+\S+p\d+: (.*)$", text, re.M)
    assert labels == [escape(n) for _, n in _messages(graph)]


def test_decisions_read_by_names_in_path_order_with_ids_beside() -> None:
    graph = import_bpmn(SHOP.read_bytes(), filename=SHOP.name)
    decisions = {
        "Gateway_PaymentResult": {"flow": "Flow_Authorised"},
        "Gateway_InStock": {"flow": "Flow_InStock"},
        "loop_1": {"loop": True, "header": "Gateway_PaymentAttempt", "iterations": 2},
    }
    path = ["StartEvent_OrderPlaced", "Gateway_InStock", "Gateway_PaymentAttempt", "Gateway_PaymentResult"]
    out = describe_decisions(graph, decisions, path)
    assert [d.text for d in out] == [
        "Items in stock? → in stock",
        "loop at Payment attempt × 2",
        "Payment authorised? → authorised",
    ]
    assert out[0].ids == "Gateway_InStock → Flow_InStock"
    labels = element_labels(graph)
    assert labels["Gateway_InStock"] == "Items in stock?" and labels["Flow_OutOfStock"] == "out of stock"


def test_node_status_is_the_worst_of_its_steps() -> None:
    steps = [(0, "A"), (1, "A"), (2, "B"), (3, "C"), (4, None)]
    assert node_statuses(steps, [(0, "PASSED"), (1, "FAILED"), (2, "PASSED")]) == {
        "A": "FAILED",
        "B": "PASSED",
        "C": "PENDING",  # planned, no result yet
    }
    assert node_statuses(steps, [(0, "PASSED"), (1, "SKIPPED")])["A"] == "SKIPPED"
    assert node_statuses(steps, [(0, "FLAKY"), (1, "PASSED")])["A"] == "FLAKY"


def test_a_run_exercises_its_path_up_to_the_last_step_that_ran() -> None:
    graph = import_bpmn(SHOP.read_bytes(), filename=SHOP.name)
    flows = {f.id: f for f in graph.flows}
    nodes = ["StartEvent_OrderPlaced", "Task_CreateOrder", "Gateway_InStock", "Task_AuthorisePayment", "End"]
    path = ["Flow_ToCreateOrder", "Flow_ToInStock", "Flow_InStock", "Flow_ToAuthorise"]
    stopped = {"Task_CreateOrder": "FAILED", "Task_AuthorisePayment": "SKIPPED"}
    assert exercised_flows(flows, nodes, path, stopped) == {"Flow_ToCreateOrder"}
    complete = {"Task_CreateOrder": "PASSED", "Task_AuthorisePayment": "FAILED"}
    assert exercised_flows(flows, nodes, path, complete) == set(path)
    assert exercised_flows(flows, nodes, path, {"Task_CreateOrder": "PENDING"}) == set()


def _without_di(data: bytes) -> bytes:
    root = etree.fromstring(data)
    for diagram in root.findall(f"{{{DI_NS}}}BPMNDiagram"):
        root.remove(diagram)
    return etree.tostring(root)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("name", ["shop", "bpmn/all_elements.bpmn", "generation/dangling_gateway.bpmn"])
def test_layout_draws_every_node_and_flow_without_overlaps(name: str) -> None:
    data = _without_di(SHOP.read_bytes()) if name == "shop" else (FIXTURES / name).read_bytes()
    graph = import_bpmn(data, filename="model.bpmn")
    layout = layout_graph(graph)
    assert set(layout.shapes) == {n.id for n in graph.nodes}
    assert set(layout.edges) == {
        f.id for f in graph.flows if f.source in layout.shapes or f.source in layout.pools
    }
    assert all(len(points) >= 2 for points in layout.edges.values())
    by_parent: dict[str | None, list[str]] = {}
    for node in graph.nodes:
        if not node.attached_to:
            by_parent.setdefault(node.parent_id or node.process_id, []).append(node.id)
    for members in by_parent.values():
        boxes = [(b.x, b.y, b.w, b.h) for b in (layout.shapes[m] for m in members)]
        for i, a in enumerate(boxes):
            assert not any(_overlap(a, b) for b in boxes[i + 1 :]), members
    for node in graph.nodes:  # children inside their sub-process, boundary events on their activity
        inner, outer_id = layout.shapes[node.id], node.parent_id or node.attached_to
        if outer_id and outer_id in layout.shapes:
            outer = layout.shapes[outer_id]
            assert _overlap((inner.x, inner.y, inner.w, inner.h), (outer.x, outer.y, outer.w, outer.h))
    assert layout_graph(graph) == layout  # deterministic


def test_viewer_xml_gets_a_layout_only_when_the_file_has_none() -> None:
    shop = SHOP.read_bytes()
    text, has_layout = bpmn_for_viewer(shop, "shop.bpmn", import_bpmn(shop, filename="shop.bpmn"))
    assert has_layout and "BPMNDiagram_orchestra_layout" not in text
    bare = (FIXTURES / "generation" / "dangling_gateway.bpmn").read_bytes()
    text, has_layout = bpmn_for_viewer(bare, "bare.bpmn", import_bpmn(bare, filename="bare.bpmn"))
    assert not has_layout
    root = etree.fromstring(text.encode())
    shapes = root.findall(f".//{{{DI_NS}}}BPMNShape")
    assert {s.get("bpmnElement") for s in shapes} == {
        "start",
        "valid",
        "pay",
        "done",
        "rejected",
        "leftover",
        "audit",
    }
    assert all(s.find(f"{{{DC_NS}}}Bounds") is not None for s in shapes)
    assert len(root.findall(f".//{{{DI_NS}}}BPMNEdge")) == 6


def test_viewer_xml_normalises_namespace_spellings_and_drops_entities() -> None:
    data = (
        b'<?xml version="1.0"?><definitions xmlns=" http://schema.omg.org/spec/BPMN/2.0 " id="d">'
        b'<process id="p"><startEvent id="s"/></process></definitions>'
    )
    text, _ = bpmn_for_viewer(data, "old.bpmn")
    assert 'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"' in text
    with pytest.raises(Exception, match="entit"):
        bpmn_for_viewer(b'<!DOCTYPE d [<!ENTITY x "y">]><definitions>&x;</definitions>', "bomb.bpmn")


@pytest.mark.parametrize("name", ["bpmn/all_elements.bpmn", "generation/dangling_gateway.bpmn"])
def test_graph_rebuilt_as_bpmn_has_every_node_and_flow(name: str) -> None:
    from orchestra_app.importers.bpmn_layout import graph_to_bpmn

    graph = import_bpmn((FIXTURES / name).read_bytes(), filename="model.bpmn")
    root = graph_to_bpmn(graph)
    assert add_layout(root, graph) > len(graph.nodes) - 1
    again = import_bpmn(etree.tostring(root), filename="rebuilt.bpmn")
    assert {n.id for n in again.nodes} == {n.id for n in graph.nodes}
    assert {(f.id, f.source, f.target) for f in again.flows} == {
        (f.id, f.source, f.target) for f in graph.flows
    }
    parents = {n.id: (n.parent_id, n.attached_to) for n in graph.nodes}
    assert {n.id: (n.parent_id, n.attached_to) for n in again.nodes} == parents
