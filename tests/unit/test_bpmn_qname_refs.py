"""BPMN importer: references written as QNames ('prefix:id') resolve against the declared namespaces."""

# ruff: noqa: E501 - inline XML fixtures read better unwrapped

from __future__ import annotations

import pytest

from orchestra_app.domain.graph import ControlFlowGraph
from orchestra_app.generation import generate_suite
from orchestra_app.importers.bpmn import import_bpmn

pytestmark = pytest.mark.unit

MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
TARGET = "http://example.com/shop"


def _import(body: str, *, declare: str = f'xmlns:shop="{TARGET}"', head: str = "") -> ControlFlowGraph:
    data = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions xmlns="{MODEL_NS}" {declare} id="D" targetNamespace="{TARGET}">\n'
        f"{head}{body}\n</definitions>\n"
    ).encode()
    return import_bpmn(data, filename="qname.bpmn")


# The shape of IBM Process Designer's MIWG A.3.0 export: attachedToRef as a QName of the document's
# own targetNamespace.
PROCESS = """
  <process id="P">
    <startEvent id="start" />
    <serviceTask id="charge" name="Charge card" />
    <boundaryEvent id="declined" name="Card declined" attachedToRef="{prefix}charge" />
    <endEvent id="done" />
    <serviceTask id="notify" name="Notify customer" />
    <endEvent id="failed" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="charge" />
    <sequenceFlow id="f2" sourceRef="{prefix}charge" targetRef="{prefix}done" />
    <sequenceFlow id="f3" sourceRef="declined" targetRef="notify" />
    <sequenceFlow id="f4" sourceRef="notify" targetRef="failed" />
  </process>
"""


def _codes(graph: ControlFlowGraph) -> set[str]:
    return {w.code for w in graph.warnings} - {"NO_DI"}


def test_refs_prefixed_with_the_target_namespace_resolve_silently() -> None:
    graph = _import(PROCESS.format(prefix="shop:"))
    nodes = {n.id: n for n in graph.nodes}
    assert nodes["declined"].attached_to == "charge"
    flows = {f.id: f for f in graph.flows}
    assert (flows["f2"].source, flows["f2"].target) == ("charge", "done")
    assert _codes(graph) == set()
    suite = generate_suite(graph)
    assert suite.coverage.flows_covered == suite.coverage.flows_reachable == suite.coverage.flows_total == 4
    assert any(s.name == "Charge card interrupted by Card declined" for s in suite.scenarios)


def test_an_undeclared_prefix_is_read_as_a_local_id_with_a_warning() -> None:
    graph = _import(PROCESS.format(prefix="tns:"))
    assert {n.id: n for n in graph.nodes}["declined"].attached_to == "charge"
    messages = [w.message for w in graph.warnings if w.code == "QNAME_REF"]
    assert any("'tns:charge'" in m and "prefix 'tns' is not declared" in m for m in messages), messages
    assert "DANGLING_REF" not in _codes(graph)


def test_a_prefix_bound_to_an_unrelated_namespace_is_read_as_a_local_id_with_a_warning() -> None:
    graph = _import(
        PROCESS.format(prefix="x:"), declare=f'xmlns:shop="{TARGET}" xmlns:x="http://example.com/other"'
    )
    assert {n.id: n for n in graph.nodes}["declined"].attached_to == "charge"
    [message] = {w.message for w in graph.warnings if w.code == "QNAME_REF" and "x:charge" in w.message}
    assert "'http://example.com/other'" in message and TARGET in message


def test_a_prefix_of_an_imported_document_is_not_resolved_here() -> None:
    """'other:charge' names an element of the imported document, even if this one has the same id."""
    graph = _import(
        PROCESS.format(prefix="other:"),
        declare=f'xmlns:shop="{TARGET}" xmlns:other="http://example.com/imported"',
        head='  <import importType="http://www.omg.org/spec/BPMN/20100524/MODEL" location="other.bpmn" namespace="http://example.com/imported" />\n',
    )
    assert {n.id: n for n in graph.nodes}["declined"].attached_to == "other:charge"
    dangling = [w.message for w in graph.warnings if w.code == "DANGLING_REF"]
    assert any(
        "'other:charge' (an element of the imported document 'http://example.com/imported', which is not read)"
        in m
        for m in dangling
    ), dangling


def test_a_prefix_declared_on_an_inner_element_is_honoured() -> None:
    body = PROCESS.format(prefix="inner:").replace(
        '<process id="P">', f'<process id="P" xmlns:inner="{TARGET}">'
    )
    graph = _import(body)
    assert {n.id: n for n in graph.nodes}["declined"].attached_to == "charge"
    assert _codes(graph) == set()


def test_other_references_accept_qnames_too() -> None:
    """processRef, message flows, default, eventDefinitionRef, data associations and lanes."""
    body = """
  <collaboration id="C">
    <participant id="shop_pool" name="Shop" processRef="shop:P" />
    <participant id="bank_pool" name="Bank" />
    <messageFlow id="m1" sourceRef="shop:charge" targetRef="shop:bank_pool" />
  </collaboration>
  <error id="card_error" errorCode="DECLINED" />
  <errorEventDefinition id="declined_def" />
  <process id="P">
    <laneSet id="ls">
      <lane id="cashier" name="Cashier"><flowNodeRef>shop:charge</flowNodeRef></lane>
    </laneSet>
    <dataStoreReference id="payments" name="Payments table" />
    <startEvent id="start" />
    <serviceTask id="charge" name="Charge card">
      <dataOutputAssociation id="a1"><targetRef>shop:payments</targetRef></dataOutputAssociation>
    </serviceTask>
    <boundaryEvent id="declined" attachedToRef="shop:charge"><eventDefinitionRef>shop:declined_def</eventDefinitionRef></boundaryEvent>
    <exclusiveGateway id="ok" name="Paid?" default="shop:yes" />
    <endEvent id="done" />
    <endEvent id="failed" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="charge" />
    <sequenceFlow id="f2" sourceRef="charge" targetRef="ok" />
    <sequenceFlow id="yes" sourceRef="ok" targetRef="done" />
    <sequenceFlow id="no" sourceRef="ok" targetRef="failed"><conditionExpression>${!paid}</conditionExpression></sequenceFlow>
    <sequenceFlow id="f3" sourceRef="declined" targetRef="failed" />
  </process>
"""
    graph = _import(body)
    assert _codes(graph) == set(), graph.warnings
    [process] = graph.processes
    assert (process.participant_id, process.participant_name) == ("shop_pool", "Shop")
    message = next(f for f in graph.flows if f.id == "m1")
    assert (message.source, message.target) == ("charge", "bank_pool")
    nodes = {n.id: n for n in graph.nodes}
    assert nodes["ok"].default_flow == "yes"
    assert next(f for f in graph.flows if f.id == "yes").is_default
    assert nodes["declined"].event_definition == "error"
    assert nodes["charge"].extensions["dataOutputs"] == [
        {"id": "payments", "type": "dataStoreReference", "name": "Payments table"}
    ]
    assert nodes["charge"].lane_id == "cashier"


def test_an_unknown_qname_reference_is_still_a_dangling_reference() -> None:
    graph = _import(
        PROCESS.format(prefix="shop:").replace('attachedToRef="shop:charge"', 'attachedToRef="shop:nothing"')
    )
    dangling = [w.message for w in graph.warnings if w.code == "DANGLING_REF"]
    assert dangling == ["boundary event 'declined' is attached to unknown activity 'shop:nothing'"]
    assert "QNAME_REF" not in _codes(graph)
