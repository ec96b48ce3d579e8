"""kafka plugin against a real Apache Kafka broker: group-less reads, matching, publish, contracts."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ActionMode, ChannelType, EndpointRef, StepStatus
from orchestra_app.plugins.kafka import plugin
from orchestra_app.plugins.registry import default_registry
from orchestra_app.plugins.windows import close_windows, prepare_windows
from tests.brokers import leftover_consumer_groups
from tests.sideeffect_helpers import action, assertion, codes, environment, later, run_context

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(kafka_bootstrap: str):  # type: ignore[no-untyped-def]
    name = f"orders-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.fixture
def env(kafka_bootstrap: str):  # type: ignore[no-untyped-def]
    environment_ = environment({"kafka": {"main": {"bootstrapServers": kafka_bootstrap}}})
    yield environment_
    environment_.close()


def produce(bootstrap: str, topic: str, records: list[tuple[str | None, Any, dict[str, str]]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value, headers in records:
        payload = value if isinstance(value, bytes) else json.dumps(value).encode()
        producer.produce(topic, key=key, value=payload, headers=list(headers.items()))
    assert producer.flush(30) == 0


def kafka_assert(topic: str, rules: Any = None, **meta: Any):  # type: ignore[no-untyped-def]
    return assertion(
        ChannelType.KAFKA, {"clusterAlias": "main", "topic": topic, "timeoutMs": 20_000, **meta}, rules
    )


def prepared(env, step, data: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    run = run_context(env, data or {})
    assert prepare_windows([step], run, default_registry().plugin_for) == 1
    return run


def test_finds_by_key_only_messages_after_the_window(env, topic: str, kafka_bootstrap: str) -> None:  # type: ignore[no-untyped-def]
    # Before the window: a message with the same key and the expected value must NOT count.
    produce(kafka_bootstrap, topic, [("A-1", {"orderId": "A-1", "status": "CREATED"}, {})])
    step = kafka_assert(
        topic, keyExpression="{{data.orderId}}", expected={"status": "CREATED"}, timeoutMs=1500
    )
    run = prepared(env, step, {"orderId": "A-1"})
    try:
        early = plugin.execute(step, run)
        assert codes(early) == [
            ("TIMEOUT", "ASSERTION_TIMEOUT"),
            ("KAFKA_MESSAGE_NOT_FOUND", "MESSAGE_NOT_FOUND"),
        ]
        produce(kafka_bootstrap, topic, [("A-1", {"orderId": "A-1", "status": "CREATED", "total": 9}, {})])
        found = plugin.execute(step, run)
    finally:
        close_windows(run)
    assert found.status == StepStatus.PASSED, codes(found)
    assert found.kafka_message["key"] == "A-1"
    assert found.kafka_message["value"] == {"orderId": "A-1", "status": "CREATED", "total": 9}
    assert found.kafka_message["valueFormat"] == "json"
    assert set(found.kafka_message["window"]["partitions"]) == {"0", "1", "2"}


def test_waits_for_a_message_produced_while_polling(env, topic: str, kafka_bootstrap: str) -> None:  # type: ignore[no-untyped-def]
    step = kafka_assert(topic, header={"name": "x-correlation-id", "value": "{{data.corr}}"})
    run = prepared(env, step, {"corr": "c-77"})
    writer = later(
        0.5, lambda: produce(kafka_bootstrap, topic, [("k", {"x": 1}, {"x-correlation-id": "c-77"})])
    )
    try:
        result = plugin.execute(step, run)
    finally:
        writer.join()
        close_windows(run)
    assert result.status == StepStatus.PASSED, codes(result)
    assert result.kafka_message["headers"] == {"x-correlation-id": "c-77"}


def test_correlation_into_the_value_partial_match_and_rules(env, topic: str, kafka_bootstrap: str) -> None:  # type: ignore[no-untyped-def]
    step = kafka_assert(
        topic,
        [{"path": "$.value.items", "length": {"gte": 1}}, {"path": "$.key", "matches": "^order-"}],
        correlation={"path": "$.orderId", "value": "{{data.orderId}}"},
        valueMatcherMode="PARTIAL_MATCH",
        expected={"status": "PAID", "customer": {"tier": "gold"}},
    )
    run = prepared(env, step, {"orderId": 1001})
    produce(
        kafka_bootstrap,
        topic,
        [
            (
                "order-1000",
                {"orderId": 1000, "status": "PAID", "customer": {"tier": "gold"}, "items": [1]},
                {},
            ),
            (
                "order-1001",
                {"orderId": "1001", "status": "PAID", "customer": {"tier": "gold", "id": 5}, "items": [1]},
                {},
            ),
        ],
    )
    try:
        result = plugin.execute(step, run)
    finally:
        close_windows(run)
    assert result.status == StepStatus.PASSED, codes(result)
    assert result.kafka_message["value"]["orderId"] == "1001"


def test_wrong_field_is_a_mismatch_with_the_nearest_candidate(env, topic: str, kafka_bootstrap: str) -> None:  # type: ignore[no-untyped-def]
    step = kafka_assert(
        topic,
        [{"path": "$.value.total", "gt": 0}],
        keyExpression="{{data.orderId}}",
        expected={"status": "PAID"},
        timeoutMs=1500,
    )
    run = prepared(env, step, {"orderId": "B-2"})
    produce(
        kafka_bootstrap,
        topic,
        [("B-2", {"status": "CANCELLED", "total": 0}, {}), ("other", {"status": "PAID"}, {})],
    )
    try:
        result = plugin.execute(step, run)
    finally:
        close_windows(run)
    assert codes(result) == [
        ("TIMEOUT", "ASSERTION_TIMEOUT"),
        ("KAFKA_MESSAGE_NOT_FOUND", "MESSAGE_MISMATCH"),
        ("BUSINESS_RULE_VIOLATION", "RULE_GT"),
    ]
    mismatch = result.violations[1]
    assert mismatch.details["scanned"] == 2 and mismatch.details["correlated"] == 1
    assert mismatch.details["nearest"][0]["differences"] == [
        {"pointer": "/status", "expected": "PAID", "actual": "CANCELLED"}
    ]
    assert "/status: expected PAID, got CANCELLED" in mismatch.message


def test_reading_never_creates_a_consumer_group_and_the_systems_group_loses_nothing(  # type: ignore[no-untyped-def]
    env, topic: str, kafka_bootstrap: str
) -> None:
    group = f"shop-{uuid.uuid4().hex[:6]}"
    system = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": group, "auto.offset.reset": "earliest"}
    )
    system.subscribe([topic])
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    try:
        before = set(leftover_consumer_groups(kafka_bootstrap))
        step = kafka_assert(topic, keyExpression="k-{{data.n}}")
        run = prepared(env, step, {"n": 3})
        produce(kafka_bootstrap, topic, [(f"k-{n}", {"n": n}, {}) for n in range(5)])
        try:
            result = plugin.execute(step, run)
        finally:
            close_windows(run)
        assert result.status == StepStatus.PASSED, codes(result)
        after = set(leftover_consumer_groups(kafka_bootstrap))
        # The assertion's reader joined no group: the only new one is the system's own (it joins on poll).
        assert after - before <= {group}
        assert not [g for g in after if g.startswith("orchestra")]
        got: list[str] = []
        for _ in range(300):
            message = system.poll(0.1)
            if message is not None and message.error() is None:
                got.append(message.key().decode())
            if len(got) == 5:
                break
        assert sorted(got) == [f"k-{n}" for n in range(5)]
    finally:
        system.close()
        admin.delete_consumer_groups([group])[group].result(30)


def test_publish_sync_and_fire_and_forget_then_assert(env, topic: str) -> None:  # type: ignore[no-untyped-def]
    check = kafka_assert(topic, keyExpression="{{data.id}}", expected={"id": "{{data.id}}", "n": 2})
    run = prepared(env, check, {"id": "P-9"})
    sync = action(
        ChannelType.KAFKA,
        {
            "clusterAlias": "main",
            "topic": topic,
            "keyExpression": "{{data.id}}",
            "valueTemplate": {"id": "{{data.id}}", "n": 1},
            "headers": {"source": "orchestra"},
        },
    )
    fire = action(
        ChannelType.KAFKA,
        {"clusterAlias": "main", "topic": topic, "keyExpression": "{{data.id}}"},
        mode=ActionMode.FIRE_AND_FORGET,
        input_template={"id": "{{data.id}}", "n": 2},
    )
    try:
        first = plugin.execute(sync, run)
        assert first.status == StepStatus.PASSED, codes(first)
        assert first.kafka_message["offset"] >= 0 and first.kafka_message["headers"] == {
            "source": "orchestra"
        }
        second = plugin.execute(fire, run)
        assert second.status == StepStatus.PASSED and second.kafka_message["delivery"] == "not awaited"
        found = plugin.execute(check, run)
    finally:
        close_windows(run)
    assert found.status == StepStatus.PASSED, codes(found)
    assert found.kafka_message["value"] == {"id": "P-9", "n": 2}


ORDER_EVENTS = SpecSummary(
    protocol="asyncapi",
    format="asyncapi",
    schema_dialect="jsonschema-draft-07",
    operations=[
        Operation.model_validate(
            {
                "id": "orderCreated",
                "method": "send",
                "path": "orders",
                "messages": [{"name": "OrderCreated", "payload": {"$ref": "#/components/schemas/Order"}}],
            }
        )
    ],
    components={
        "schemas": {
            "Order": {
                "type": "object",
                "required": ["orderId", "total"],
                "properties": {"orderId": {"type": "string"}, "total": {"type": "number", "minimum": 0}},
            }
        }
    },
)


def test_asyncapi_bound_messages_are_validated(kafka_bootstrap: str, topic: str) -> None:
    env = environment({"kafka": {"main": {"bootstrapServers": kafka_bootstrap}}})
    env.specs["events"] = ORDER_EVENTS
    ref = EndpointRef(protocol_id="kafka", service_name="events", endpoint_name="orderCreated")
    bad_publish = action(
        ChannelType.KAFKA,
        {"clusterAlias": "main", "topic": topic, "valueTemplate": {"orderId": 5, "total": -1}},
    ).model_copy(update={"endpoint_ref": ref})
    check = kafka_assert(topic, correlation={"path": "$.orderId", "value": "Z-1"}).model_copy(
        update={"endpoint_ref": ref}
    )
    run = prepared(env, check)
    try:
        refused = plugin.execute(bad_publish, run)
        assert codes(refused) == [("CONTRACT_VIOLATION", "MESSAGE_SCHEMA_MISMATCH")]
        assert refused.kafka_message is None  # nothing was published
        produce(kafka_bootstrap, topic, [("Z-1", {"orderId": "Z-1", "total": "lots"}, {})])
        found = plugin.execute(check, run)
    finally:
        close_windows(run)
        env.close()
    assert codes(found) == [("CONTRACT_VIOLATION", "MESSAGE_SCHEMA_MISMATCH")]
    assert found.violations[0].details["errors"][0]["pointer"] == "/total"
    assert found.kafka_message["value"]["total"] == "lots"


def test_missing_topic_and_bad_meta(env, kafka_bootstrap: str) -> None:  # type: ignore[no-untyped-def]
    missing = plugin.execute(kafka_assert(f"absent-{uuid.uuid4().hex[:6]}", timeoutMs=500), run_context(env))
    assert [v.code for v in missing.violations] == ["TOPIC_NOT_FOUND"]
    for meta, pointer in [
        ({"clusterAlias": "main"}, "/action/meta/topic"),
        (
            {"clusterAlias": "main", "topic": "t", "valueMatcherMode": "FUZZY"},
            "/action/meta/valueMatcherMode",
        ),
        ({"clusterAlias": "main", "topic": "t", "valueMatcherMode": "PARTIAL_MATCH"}, "/action/meta"),
        ({"clusterAlias": "main", "topic": "t", "valueFormat": "xml"}, "/action/meta"),
        ({"clusterAlias": "main", "topic": "t", "header": {"name": ""}}, "/action/meta/header/name"),
        ({"clusterAlias": "main", "topic": "t", "correlation": {"path": "orderId", "value": 1}}, None),
    ]:
        result = plugin.execute(assertion(ChannelType.KAFKA, meta), run_context(env))
        assert result.status == StepStatus.FAILED
        assert result.violations[0].type == "VALIDATION_ERROR", (meta, codes(result))
        if pointer is not None:
            assert result.violations[0].details["pointer"] == pointer, meta
    unknown = plugin.execute(
        kafka_assert("t").model_copy(
            update={
                "action": kafka_assert("t").action.model_copy(
                    update={"meta": {"clusterAlias": "nope", "topic": "t"}}
                )
            }
        ),
        run_context(env),
    )
    assert (
        codes(unknown) == [("VALIDATION_ERROR", "CONFIGURATION_ERROR")]
        and "'nope'" in unknown.violations[0].message
    )


def test_prepare_fails_early_for_an_unknown_cluster(env) -> None:  # type: ignore[no-untyped-def]
    from orchestra_app.domain.errors import ConfigurationError

    step = assertion(ChannelType.KAFKA, {"clusterAlias": "billing", "topic": "t"})
    with pytest.raises(ConfigurationError, match="billing"):
        prepare_windows([step], run_context(env), default_registry().plugin_for)


def test_publish_to_an_unreachable_cluster_times_out_clearly() -> None:
    env = environment({"kafka": {"main": {"bootstrapServers": "127.0.0.1:9", "requestTimeoutMs": 500}}})
    step = action(
        ChannelType.KAFKA, {"clusterAlias": "main", "topic": "t", "valueTemplate": {"a": 1}, "timeoutMs": 800}
    )
    try:
        result = plugin.execute(step, run_context(env))
    finally:
        env.close()
    assert codes(result) == [("TIMEOUT", "DELIVERY_TIMEOUT")]
