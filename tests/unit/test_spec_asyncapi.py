"""AsyncAPI 2.x and 3.x import against hand-written fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_app.importers.spec_detect import import_spec
from tests.unit.spec_helpers import dangling_refs

pytestmark = pytest.mark.unit


def test_asyncapi_2_kafka_amqp_keys_and_correlation_ids(fixtures_dir: Path) -> None:
    s = import_spec(fixtures_dir / "specs" / "asyncapi2-kafka.yaml", filename="asyncapi2-kafka.yaml")
    assert (s.protocol, s.format, s.spec_version, s.schema_dialect) == (
        "asyncapi",
        "asyncapi",
        "2.6.0",
        "jsonschema-draft-07",
    )
    assert [(o.id, o.method, o.path) for o in s.operations] == [
        ("onOrderCreated", "receive", "orders.created"),  # v2 publish = the application receives
        ("send_orders_created", "send", "orders.created"),
        ("sendPayment", "send", "payments"),
    ]
    created = s.operations[0]
    assert created.action == "publish"  # type: ignore[attr-defined]
    assert created.bindings == {"kafka": {"groupId": {"type": "string", "enum": ["billing"]}}}  # type: ignore[attr-defined]
    assert created.channel_bindings["kafka"]["partitions"] == 3  # type: ignore[attr-defined]
    (msg,) = created.messages  # type: ignore[attr-defined]
    assert msg["name"] == "OrderCreated" and msg["contentType"] == "application/json"
    assert msg["payload"] == {"$ref": "#/components/schemas/Order"}
    assert msg["key"] == {"type": "string", "format": "uuid"}
    assert msg["correlationId"] == {"location": "$message.payload#/orderId"}
    assert msg["headers"]["properties"]["traceId"] == {"type": "string"}
    one_of = s.operations[1].messages  # type: ignore[attr-defined]
    assert [m["name"] for m in one_of] == ["OrderCreated", "OrderCancelled"]
    pay = s.operations[2].messages[0]  # type: ignore[attr-defined]
    assert pay["correlationId"]["location"] == "$message.header#/correlationId"
    assert pay["bindings"] == {"amqp": {"contentEncoding": "gzip"}}
    assert s.operations[2].channel_bindings["amqp"]["is"] == "queue"  # type: ignore[attr-defined]
    assert [(x.url, x.protocol) for x in s.servers] == [  # type: ignore[attr-defined]
        ("kafka.example.test:9092", "kafka"),
        ("amqp://mq.example.test", "amqp"),
    ]
    order = s.components["schemas"]["Order"]
    assert order["properties"]["lines"]["items"] == {"$ref": "#/components/schemas/Order"}
    assert s.warnings == [] and dangling_refs(s) == []


def test_asyncapi_3_operations_messages_reply(fixtures_dir: Path) -> None:
    s = import_spec(fixtures_dir / "specs" / "asyncapi3.yaml", filename="asyncapi3.yaml")
    assert s.spec_version == "3.0.0"
    req, done = s.operations
    assert (req.id, req.method, req.path) == ("requestPayment", "send", "payments.requests")
    assert (done.id, done.method, done.path) == ("onPaymentDone", "receive", "payments.replies.{clientId}")
    assert req.channel == "paymentRequests"  # type: ignore[attr-defined]
    (msg,) = req.messages  # type: ignore[attr-defined]
    assert msg["name"] == "PaymentRequested"
    assert msg["correlationId"] == {"location": "$message.header#/requestId"}
    assert msg["key"] == {"type": "string"}
    assert msg["payload"] == {"$ref": "#/components/schemas/Payment"}
    assert req.reply["address"] == "payments.replies.{clientId}"  # type: ignore[attr-defined]
    assert req.reply["messages"][0]["name"] == "PaymentDone"  # type: ignore[attr-defined]
    # an operation without messages gets all of its channel's messages; multi-format payloads unwrap
    (done_msg,) = done.messages  # type: ignore[attr-defined]
    assert done_msg["payload"] == {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    assert s.servers[0].url == "kafka://broker.example.test:9092"
    assert [c["address"] for c in s.channels] == ["payments.requests", "payments.replies.{clientId}"]  # type: ignore[attr-defined]
    assert s.warnings == [] and dangling_refs(s) == []
