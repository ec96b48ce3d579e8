"""Steps from tasks: ACTIONs, ASSERTION placeholders, channels, aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.domain.steps import ActionMode, ChannelType, StepKind
from orchestra_app.generation import generate_suite, scenario_steps
from orchestra_app.generation.synthetic import GraphBuilder
from orchestra_app.importers.detect import import_process

pytestmark = pytest.mark.unit


def test_steps_follow_the_scenario_tasks() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("create", "serviceTask", "Create order", extensions={"operation": "createOrder"})
    b.node(
        "publish",
        "sendTask",
        "Publish order event",
        extensions={"dataOutputs": [{"id": "db", "type": "dataStoreReference", "name": "Orders DB"}]},
    )
    b.node("kafka", "sendTask", "Emit", extensions={"topic": "orders.created"})
    b.node("wait", "intermediateCatchEvent", "Payment received", event_definition="message")
    b.node("recv", "receiveTask", "Receive invoice")
    b.node("gw", "exclusiveGateway", "Ok?")
    b.node("user", "userTask", "Approve")
    b.node("call", "callActivity", "Approve")
    b.node("end", "endEvent")
    for src, dst in [
        ("start", "create"),
        ("create", "publish"),
        ("publish", "kafka"),
        ("kafka", "wait"),
        ("wait", "recv"),
        ("recv", "gw"),
        ("gw", "user"),
        ("user", "call"),
        ("call", "end"),
    ]:
        b.flow(src, dst)
    graph = b.graph()
    scenario = generate_suite(graph).scenarios[0]
    steps = scenario_steps(graph, scenario)
    summary = [(s.alias, s.kind, s.channel_type, s.source_node_id) for s in steps]
    assert summary == [
        ("create_order", StepKind.ACTION, ChannelType.HTTP_REST, "create"),
        ("publish_order_event", StepKind.ACTION, ChannelType.HTTP_REST, "publish"),
        ("orders_db_updated_by_publish_order_event", StepKind.ASSERTION, ChannelType.DB, "publish"),
        ("emit", StepKind.ACTION, ChannelType.KAFKA, "kafka"),
        ("payment_received", StepKind.ASSERTION, ChannelType.KAFKA, "wait"),
        ("receive_invoice", StepKind.ASSERTION, ChannelType.KAFKA, "recv"),
        ("approve", StepKind.ACTION, ChannelType.HTTP_REST, "user"),
        ("approve_2", StepKind.ACTION, ChannelType.HTTP_REST, "call"),
    ]
    assert [s.order_index for s in steps] == list(range(len(steps)))
    assert steps[0].action.meta["operation"] == "createOrder"
    assert all(s.endpoint_ref is None for s in steps)
    assert steps[3].action.mode == ActionMode.FIRE_AND_FORGET
    assert steps[4].action.meta["placeholder"] is True


def test_loop_repeats_get_unique_aliases() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("m", "exclusiveGateway")
    b.node("poll", "serviceTask", "Poll status")
    b.node("x", "exclusiveGateway", "Done?")
    b.node("end", "endEvent")
    b.flow("start", "m")
    b.flow("m", "poll")
    b.flow("poll", "x")
    b.flow("x", "end", name="yes")
    b.flow("x", "m", name="no")
    graph = b.graph()
    suite = generate_suite(graph, max_loop=3)
    longest = max(suite.scenarios, key=lambda s: len(s.nodes))
    aliases = [s.alias for s in scenario_steps(graph, longest)]
    assert aliases == ["poll_status", "poll_status_2", "poll_status_3", "poll_status_4"]


def test_explicit_channel_and_queue_hint() -> None:
    b = GraphBuilder()
    b.node("start", "startEvent")
    b.node("a", "serviceTask", "Call billing", extensions={"channel": "grpc"})
    b.node("w", "receiveTask", "Wait for RabbitMQ ack")
    b.node("end", "endEvent")
    b.flow("start", "a")
    b.flow("a", "w")
    b.flow("w", "end")
    graph = b.graph()
    steps = scenario_steps(graph, generate_suite(graph).scenarios[0])
    assert [s.channel_type for s in steps] == [ChannelType.GRPC, ChannelType.QUEUE]


def test_sequence_replies_check_the_answered_call(fixtures_dir: Path) -> None:
    path = fixtures_dir / "generation" / "order.mmd"
    graph = import_process(path.read_bytes(), filename="order.mmd")
    happy = generate_suite(graph).scenarios[0]
    steps = scenario_steps(graph, happy)
    reply = next(s for s in steps if s.name == "charged")
    assert reply.kind == StepKind.ASSERTION and reply.channel_type == ChannelType.HTTP_REST
    assert reply.action.meta["replyTo"] == "charge"
