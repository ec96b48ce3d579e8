"""BPMN importer: every element kind, namespaces, extensions (hand-written fixtures)."""

# ruff: noqa: E501 - inline XML fixtures read better unwrapped

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.graph import ControlFlowGraph, GatewayRole, LoopMarker
from orchestra_app.importers.bpmn import LINK_FLOW_PREFIX, import_bpmn

pytestmark = pytest.mark.unit

MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def doc(body: str, *, ns: str = MODEL_NS, extra: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{ns}" id="D" {extra}>\n'
        f"{body}\n</definitions>\n"
    ).encode()


@pytest.fixture(scope="module")
def graph(fixtures_dir: Path) -> ControlFlowGraph:
    data = (fixtures_dir / "bpmn" / "all_elements.bpmn").read_bytes()
    return import_bpmn(data, filename="all_elements.bpmn")


def node(graph: ControlFlowGraph, node_id: str):  # type: ignore[no-untyped-def]
    return next(n for n in graph.nodes if n.id == node_id)


def flow(graph: ControlFlowGraph, flow_id: str):  # type: ignore[no-untyped-def]
    return next(f for f in graph.flows if f.id == flow_id)


def test_every_flow_node_type_is_read_with_its_original_id_name_and_line(graph: ControlFlowGraph) -> None:
    types = {n.type for n in graph.nodes}
    assert types >= {
        "task", "serviceTask", "userTask", "manualTask", "scriptTask", "businessRuleTask", "sendTask",
        "receiveTask", "subProcess", "adHocSubProcess", "transaction", "callActivity",
        "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
        "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    }  # fmt: skip
    check = node(graph, "Check")
    assert (check.type, check.name, check.process_id, check.line) == (
        "serviceTask",
        "Check order",
        "Proc_Shop",
        35,
    )
    assert graph.name == "Order handling"
    assert not graph.warnings or {w.code for w in graph.warnings} == {"IMPLICIT_SPLIT"}


def test_nesting_boundary_events_and_event_subprocesses(graph: ControlFlowGraph) -> None:
    assert node(graph, "Sub_Task").parent_id == "Sub"
    assert node(graph, "AdHoc_Task").parent_id == "AdHoc"
    assert node(graph, "Tx_Cancel").parent_id == "Tx"
    assert node(graph, "Tx_Cancel").event_definition == "cancel"
    error, reminder = node(graph, "Sub_Error"), node(graph, "Sub_Reminder")
    assert (error.attached_to, error.cancel_activity, error.event_definition) == ("Sub", True, "error")
    assert (reminder.attached_to, reminder.cancel_activity, reminder.event_definition) == (
        "Sub",
        False,
        "timer",
    )
    assert node(graph, "EventSub").triggered_by_event is True
    assert node(graph, "Sub").triggered_by_event is None
    assert node(graph, "EventSub_Start").cancel_activity is False


def test_event_definitions_including_global_refs(graph: ControlFlowGraph) -> None:
    assert node(graph, "Start").event_definitions == ["message"]
    assert node(graph, "Timeout").event_definition == "timer"
    assert node(graph, "Cancelled").event_definition == "signal"  # via eventDefinitionRef
    assert node(graph, "End_Reject").event_definition == "terminate"
    assert node(graph, "Escalate").event_definition == "escalation"
    assert node(graph, "End").event_definition is None


def test_loop_markers_call_activity_and_defaults(graph: ControlFlowGraph) -> None:
    assert node(graph, "Check").loop is LoopMarker.STANDARD
    assert node(graph, "Pack").loop is LoopMarker.MI_SEQUENTIAL
    assert node(graph, "Send_Payment").loop is LoopMarker.MI_PARALLEL
    assert node(graph, "Plain").loop is None
    assert node(graph, "Ship").called_element == "shipping"
    assert node(graph, "Valid").default_flow == "Flow_Invalid"
    assert flow(graph, "Flow_Invalid").is_default is True
    assert flow(graph, "Flow_Valid").is_default is False
    assert flow(graph, "Flow_Valid").condition == "${valid}"
    assert flow(graph, "Flow_Valid").name == "yes"


def test_collaboration_pools_message_flows_and_lanes(graph: ControlFlowGraph) -> None:
    shop = next(p for p in graph.processes if p.id == "Proc_Shop")
    assert (shop.participant_id, shop.participant_name, shop.is_executable) == ("Pool_Shop", "Shop", True)
    assert {p.id: p.process_id for p in graph.participants} == {
        "Pool_Shop": "Proc_Shop",
        "Pool_Bank": "Proc_Bank",
        "Pool_Customer": None,
    }
    order = flow(graph, "MF_Order")
    assert (order.kind, order.source, order.target, order.name) == (
        "message",
        "Pool_Customer",
        "Start",
        "order",
    )
    assert flow(graph, "MF_Pay").target == "Bank_Receive"
    lanes = {lane.id: lane for lane in graph.lanes}
    assert lanes["Lane_Desk"].parent_id == "Lane_Sales"
    assert lanes["Lane_Sales"].node_ids == ["Start", "Check"]
    assert node(graph, "Check").lane_id == "Lane_Desk"  # innermost lane wins
    assert node(graph, "Start").lane_id == "Lane_Sales"
    assert node(graph, "Fork").lane_id == "Lane_Ops"


def test_link_events_are_paired_by_name_into_a_derived_flow(graph: ControlFlowGraph) -> None:
    assert node(graph, "Goto_End").link_name == "LinkA"
    link = flow(graph, f"{LINK_FLOW_PREFIX}Goto_End->From_Goto")
    assert (link.kind, link.source, link.target, link.name) == ("sequence", "Goto_End", "From_Goto", "LinkA")


def test_extensions_bindings_and_engine_hints(graph: ControlFlowGraph) -> None:
    assert node(graph, "Check").extensions == {
        "operation": "checkOrder",
        "camunda:type": "external",
        "camunda:topic": "check",
    }
    pay = node(graph, "Send_Payment").extensions
    assert pay["operation"] == "createPayment"
    assert pay["service"] == "payments"
    assert pay["zeebe:taskDefinition"] == "payment-worker"
    assert pay["dataOutputs"] == [{"id": "Store_Ref", "type": "dataStoreReference", "name": "Orders DB"}]


def test_derived_facts_on_the_fixture(graph: ControlFlowGraph) -> None:
    assert graph.gateways["Valid"].role is GatewayRole.SPLIT
    assert graph.gateways["Join"].role is GatewayRole.JOIN
    assert graph.gateways["Join"].incoming == ["F_Pack", "F_Conf"]
    assert [(b.split, b.join, b.branches) for b in graph.parallel_blocks] == [
        ("Fork", "Join", [["F_Fork1"], ["F_Fork2"]])
    ]
    (loop,) = graph.loops
    assert (loop.header, loop.back_flows) == ("Check", ["F_Retry"])
    assert loop.max_loop_iterations == 5  # the process's orchestra:maxLoopIterations
    assert "Rules" in loop.nodes and "Ship" not in loop.nodes


def test_json_is_camel_case_and_round_trips(graph: ControlFlowGraph) -> None:
    data = graph.to_json_dict()
    assert data["schemaVersion"] == 1
    assert {"id", "type", "name", "processId", "line"} <= set(data["nodes"][0])
    assert "parallelBlocks" in data and "isDefault" in data["flows"][0]
    assert ControlFlowGraph.model_validate(data) == graph


@pytest.mark.parametrize(
    ("ns", "code"),
    [
        ("http://schema.omg.org/spec/BPMN/2.0", "PRERELEASE_NAMESPACE"),
        (" http://www.omg.org/spec/BPMN/20100524/MODEL ", "NAMESPACE_WHITESPACE"),
    ],
)
def test_namespace_variants_are_accepted_with_a_warning(ns: str, code: str) -> None:
    body = '<process id="p"><startEvent id="s"/><endEvent id="e"/><sequenceFlow id="f" sourceRef="s" targetRef="e"/></process>'
    graph = import_bpmn(doc(body, ns=ns), filename="ns.bpmn")
    assert [n.id for n in graph.nodes] == ["s", "e"]
    assert code in {w.code for w in graph.warnings}


def test_prefixed_root_and_foreign_elements_with_bpmn_names_are_not_nodes() -> None:
    data = (
        b'<bpmn2:definitions xmlns:bpmn2="' + MODEL_NS.encode() + b'" xmlns:z="urn:zeebe">'
        b'<bpmn2:process id="p"><bpmn2:userTask id="u"><bpmn2:extensionElements><z:userTask/>'
        b"</bpmn2:extensionElements></bpmn2:userTask><z:task id='fake'/></bpmn2:process></bpmn2:definitions>"
    )
    graph = import_bpmn(data, filename="p.bpmn")
    assert [n.id for n in graph.nodes] == ["u"]


def test_orchestra_loop_limits_per_node_and_per_graph() -> None:
    body = (
        '<process id="p"><startEvent id="s"/><task id="t" orc:maxLoopIterations="7"/>'
        '<exclusiveGateway id="g"/><endEvent id="e"/>'
        '<sequenceFlow id="f1" sourceRef="s" targetRef="t"/><sequenceFlow id="f2" sourceRef="t" targetRef="g"/>'
        '<sequenceFlow id="f3" sourceRef="g" targetRef="t"/><sequenceFlow id="f4" sourceRef="g" targetRef="e"/>'
        "</process>"
    )
    extra = 'xmlns:orc="https://orchestra.dev/schema/bpmn" orc:maxLoopIterations="4"'
    graph = import_bpmn(doc(body, extra=extra), filename="l.bpmn")
    assert graph.max_loop_iterations == 4
    assert graph.loops[0].max_loop_iterations == 7
    plain = import_bpmn(doc(body.replace(' orc:maxLoopIterations="7"', ""), extra=extra), filename="l.bpmn")
    assert plain.loops[0].max_loop_iterations == 4
    override = import_bpmn(
        doc(body.replace(' orc:maxLoopIterations="7"', "")), filename="l.bpmn", max_loop_iterations=2
    )
    assert override.loops[0].max_loop_iterations == 2


def test_bad_extension_value_is_a_warning() -> None:
    body = '<process id="p"><task id="t" orc:maxLoopIterations="many"/></process>'
    graph = import_bpmn(doc(body, extra='xmlns:orc="https://orchestra.dev/schema/bpmn"'), filename="b.bpmn")
    assert "maxLoopIterations" not in graph.nodes[0].extensions
    assert "BAD_EXTENSION" in {w.code for w in graph.warnings}


def test_choreography_tasks_are_nodes_of_a_choreography_process() -> None:
    body = (
        '<choreography id="ch"><participant id="a"/><participant id="b"/>'
        '<messageFlow id="m" sourceRef="a" targetRef="b"/>'
        '<startEvent id="s"/><choreographyTask id="ct" initiatingParticipantRef="a"/><endEvent id="e"/>'
        '<sequenceFlow id="f1" sourceRef="s" targetRef="ct"/><sequenceFlow id="f2" sourceRef="ct" targetRef="e"/>'
        "</choreography>"
    )
    graph = import_bpmn(doc(body), filename="c.bpmn")
    assert [(n.id, n.process_id) for n in graph.nodes] == [("s", "ch"), ("ct", "ch"), ("e", "ch")]
    assert [p.id for p in graph.participants] == ["a", "b"]
    assert flow(graph, "m").kind == "message"
