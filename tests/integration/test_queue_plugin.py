"""queue plugin against real RabbitMQ and Redis: taps that steal nothing, stream queues, Redis Streams."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pika
import pika.exceptions
import pytest
import redis

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.steps import ActionMode, ChannelType, StepStatus
from orchestra_app.plugins.queue import plugin
from orchestra_app.plugins.registry import default_registry
from orchestra_app.plugins.windows import close_windows, prepare_windows, registry, take_window
from tests.sideeffect_helpers import action, assertion, codes, dumped, environment, later, run_context

pytestmark = pytest.mark.integration


@pytest.fixture
def amqp(amqp_url: str):  # type: ignore[no-untyped-def]
    """An exchange with the system's own durable queue bound to it; both deleted afterwards."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    exchange = f"payments-{uuid.uuid4().hex[:6]}"
    system_queue = f"shop-payments-{uuid.uuid4().hex[:6]}"
    channel.exchange_declare(exchange, "topic")
    channel.queue_declare(system_queue, durable=True)
    channel.queue_bind(system_queue, exchange, "payment.*")
    yield channel, exchange, system_queue
    channel.queue_delete(system_queue)
    channel.exchange_delete(exchange)
    connection.close()


@pytest.fixture
def env(amqp_url: str, redis_url: str):  # type: ignore[no-untyped-def]
    endpoint = amqp_url.replace("guest:guest@", "")
    environment_ = environment(
        {
            "queue": {
                "mq": {
                    "kind": "rabbitmq",
                    "endpoint": endpoint,
                    "username": "guest",
                    "password": {"secret": "MQ"},
                },
                "rs": {"kind": "redis", "endpoint": redis_url},
            }
        },
        {"MQ": "guest"},
    )
    yield environment_
    environment_.close()


def publish(channel: Any, exchange: str, key: str, body: Any, correlation_id: str | None = None) -> None:
    channel.basic_publish(
        exchange,
        key,
        json.dumps(body).encode(),
        properties=pika.BasicProperties(correlation_id=correlation_id, content_type="application/json"),
    )


def mq_assert(rules: Any = None, **meta: Any):  # type: ignore[no-untyped-def]
    return assertion(ChannelType.QUEUE, {"brokerAlias": "mq", "timeoutMs": 15_000, **meta}, rules)


def prepare(env, step, data: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    run = run_context(env, data or {})
    prepare_windows([step], run, default_registry().plugin_for)
    return run


def queue_exists(channel: Any, name: str) -> bool:
    probe = channel.connection.channel()
    try:
        probe.queue_declare(name, passive=True)
        probe.close()
        return True
    except pika.exceptions.ChannelClosedByBroker as exc:
        return exc.reply_code == 405  # RESOURCE_LOCKED: exists, exclusive to another connection


def drain(channel: Any, queue: str) -> list[dict[str, Any]]:
    out = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body.decode()
        out.append({"correlationId": properties.correlation_id, "body": parsed})


def test_tap_sees_the_message_and_the_system_still_gets_everything(env, amqp) -> None:  # type: ignore[no-untyped-def]
    channel, exchange, system_queue = amqp
    step = mq_assert(
        exchange=exchange,
        routingKey="payment.*",
        correlationIdExpr="{{data.orderId}}",
        expected={"amount": 42},
    )
    run = prepare(env, step, {"orderId": "O-1"})
    tap = take_window(run, step)
    assert tap is not None and queue_exists(channel, tap.queue)  # type: ignore[attr-defined]
    publish(channel, exchange, "payment.started", {"amount": 1}, "O-0")
    publish(channel, exchange, "payment.done", {"amount": 42, "currency": "EUR"}, "O-1")
    try:
        result = plugin.execute(step, run)
    finally:
        close_windows(run)
    assert result.status == StepStatus.PASSED, codes(result)
    assert result.queue_message["properties"]["correlationId"] == "O-1"
    assert result.queue_message["body"] == {"amount": 42, "currency": "EUR"}
    assert result.queue_message["routingKey"] == "payment.done"
    assert [m["correlationId"] for m in drain(channel, system_queue)] == ["O-0", "O-1"]  # nothing stolen
    assert not queue_exists(channel, tap.queue)  # type: ignore[attr-defined]
    assert "guest" not in json.dumps(result.queue_message)


def test_a_message_published_before_the_window_is_not_seen(env, amqp) -> None:  # type: ignore[no-untyped-def]
    channel, exchange, system_queue = amqp
    publish(channel, exchange, "payment.done", {"amount": 5}, "O-2")
    step = mq_assert(exchange=exchange, routingKey="payment.*", correlationId="O-2", timeoutMs=600)
    run = prepare(env, step)
    try:
        result = plugin.execute(step, run)
    finally:
        close_windows(run)
    assert codes(result) == [
        ("TIMEOUT", "ASSERTION_TIMEOUT"),
        ("QUEUE_MESSAGE_NOT_FOUND", "MESSAGE_NOT_FOUND"),
    ]
    assert len(drain(channel, system_queue)) == 1


def test_body_correlation_and_mismatch(env, amqp) -> None:  # type: ignore[no-untyped-def]
    channel, exchange, _ = amqp
    step = mq_assert(
        [{"path": "$.body.status", "one_of": ["CAPTURED", "SETTLED"]}],
        exchange=exchange,
        routingKey="payment.#",
        correlationIdExpr="$.body.orderId",
        correlationId="{{data.orderId}}",
        expected={"amount": 10},
        timeoutMs=800,
    )
    run = prepare(env, step, {"orderId": 7})
    publish(channel, exchange, "payment.done", {"orderId": "7", "amount": 11, "status": "FAILED"})
    try:
        result = plugin.execute(step, run)
    finally:
        close_windows(run)
    assert codes(result) == [
        ("TIMEOUT", "ASSERTION_TIMEOUT"),
        ("QUEUE_MESSAGE_NOT_FOUND", "MESSAGE_MISMATCH"),
        ("BUSINESS_RULE_VIOLATION", "RULE_ONE_OF"),
    ]
    assert result.violations[1].details["nearest"][0]["differences"][0]["pointer"] == "/amount"


def test_unprepared_step_opens_its_own_tap_and_closes_it_with_the_run(env, amqp) -> None:  # type: ignore[no-untyped-def]
    channel, exchange, _ = amqp
    step = mq_assert(exchange=exchange, routingKey="payment.*", correlationId="O-3")
    run = run_context(env)
    writer = later(0.5, lambda: publish(channel, exchange, "payment.done", {"amount": 1}, "O-3"))
    result = plugin.execute(step, run)
    writer.join()
    assert result.status == StepStatus.PASSED, codes(result)
    assert result.queue_message["window"]["prepared"] is False
    tap = take_window(run, step)
    assert tap is not None and queue_exists(channel, tap.queue)  # type: ignore[attr-defined]
    assert close_windows(run) == 1
    assert not queue_exists(channel, tap.queue)  # type: ignore[attr-defined]
    assert registry(run).open_count() == 0


def test_stream_queue_is_read_without_consuming_and_classic_queues_are_refused(env, amqp) -> None:  # type: ignore[no-untyped-def]
    channel, exchange, system_queue = amqp
    stream = f"events-{uuid.uuid4().hex[:6]}"
    channel.queue_declare(stream, durable=True, arguments={"x-queue-type": "stream"})
    try:
        step = mq_assert(stream=stream, correlationId="S-1", expected={"ok": True})
        run = prepare(env, step)
        publish(channel, "", stream, {"ok": True}, "S-1")
        try:
            first = plugin.execute(step, run)
            again = plugin.execute(step, run)  # a stream keeps the message: a second read sees it too
        finally:
            close_windows(run)
        assert first.status == StepStatus.PASSED, codes(first)
        assert again.status == StepStatus.PASSED, codes(again)
        publish(channel, exchange, "payment.done", {"amount": 3}, "C-1")
        classic = mq_assert(queueName=system_queue, correlationId="C-1", timeoutMs=300)
        refused = plugin.execute(classic, run_context(env))
        assert [v.code for v in refused.violations] == ["UNTAPPABLE_SOURCE"]
        assert [m["correlationId"] for m in drain(channel, system_queue)] == ["C-1"]  # still there
    finally:
        channel.queue_delete(stream)


@pytest.mark.parametrize(
    ("meta", "code"),
    [
        ({"exchange": ""}, "UNTAPPABLE_SOURCE"),
        ({}, "INVALID_STEP_META"),
        ({"exchange": "x", "stream": "y"}, "INVALID_STEP_META"),
        ({"exchange": "x", "correlationIdExpr": "$.body.id"}, "INVALID_STEP_META"),
        ({"exchange": "x", "expected": {"a": 1}, "valueMatcherMode": "EXISTS_ONLY"}, "INVALID_STEP_META"),
        ({"exchange": "x", "timeoutMs": "soon"}, "INVALID_STEP_META"),
        ({"exchange": "x", "correlationId": 1, "correlationIdExpr": "body.id"}, "INVALID_STEP_META"),
    ],
)
def test_bad_assertion_meta(env, meta: dict[str, Any], code: str) -> None:  # type: ignore[no-untyped-def]
    result = plugin.execute(mq_assert(**meta), run_context(env))
    assert [v.code for v in result.violations] == [code], codes(result)


def test_prepare_names_a_missing_exchange_and_a_wrong_password(env, amqp_url: str) -> None:  # type: ignore[no-untyped-def]
    step = mq_assert(exchange=f"nope-{uuid.uuid4().hex[:4]}")
    with pytest.raises(ConfigurationError, match=r"nope-.*404"):
        prepare_windows([step], run_context(env), default_registry().plugin_for)
    bad = environment(
        {
            "queue": {
                "mq": {
                    "kind": "rabbitmq",
                    "endpoint": amqp_url.replace("guest:guest@", ""),
                    "username": "guest",
                    "password": {"secret": "MQ"},
                }
            }
        },
        {"MQ": "wrong-password-xyz"},
    )
    try:
        result = plugin.execute(mq_assert(exchange="amq.topic"), run_context(bad))
    finally:
        bad.close()
    assert codes(result) == [("VALIDATION_ERROR", "CONFIGURATION_ERROR")]
    assert "authentication refused" in result.violations[0].message
    assert "wrong-password-xyz" not in dumped(result)


def test_publish_sync_fire_and_forget_and_unroutable(env, amqp) -> None:  # type: ignore[no-untyped-def]
    channel, exchange, system_queue = amqp
    base = {"brokerAlias": "mq", "exchange": exchange, "routingKey": "payment.done"}
    sync = action(
        ChannelType.QUEUE,
        {**base, "properties": {"correlationId": "{{data.id}}"}, "body": {"id": "{{data.id}}"}},
    )
    fire = action(ChannelType.QUEUE, {**base, "body": "plain text"}, mode=ActionMode.FIRE_AND_FORGET)
    run = run_context(env, {"id": 12})
    assert plugin.execute(sync, run).status == StepStatus.PASSED
    assert plugin.execute(fire, run).status == StepStatus.PASSED
    unroutable = plugin.execute(
        action(ChannelType.QUEUE, {**base, "routingKey": "refund.done", "body": {}}), run
    )
    assert [v.code for v in unroutable.violations] == ["UNROUTABLE"]
    missing = plugin.execute(
        action(ChannelType.QUEUE, {**base, "exchange": "no-such-exchange", "body": {}}), run
    )
    assert [v.code for v in missing.violations] == ["PUBLISH_FAILED"] and "404" in missing.violations[
        0
    ].message
    bad_prop = plugin.execute(
        action(ChannelType.QUEUE, {**base, "properties": {"corrId": 1}, "body": {}}), run
    )
    assert [v.code for v in bad_prop.violations] == ["INVALID_STEP_META"]
    got: list[dict[str, Any]] = []
    for _ in range(200):  # the fire-and-forget publish is not confirmed: wait for it to be routed
        got += drain(channel, system_queue)
        if len(got) >= 2:
            break
        channel.connection.sleep(0.05)
    assert got == [{"correlationId": "12", "body": {"id": 12}}, {"correlationId": None, "body": "plain text"}]


# ---- Redis Streams -------------------------------------------------------------------------------


@pytest.fixture
def stream(redis_url: str):  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(redis_url)
    name = f"payments-{uuid.uuid4().hex[:6]}"
    client.xgroup_create(name, "shop", id="0", mkstream=True)
    yield client, name
    client.delete(name)
    client.close()


def test_redis_stream_assertion_leaves_the_systems_group_alone(env, stream) -> None:  # type: ignore[no-untyped-def]
    client, name = stream
    client.xadd(name, {"body": json.dumps({"orderId": "R-1", "amount": 1})})  # before the window
    step = assertion(
        ChannelType.QUEUE,
        {
            "brokerAlias": "rs",
            "stream": name,
            "correlationIdExpr": "$.body.orderId",
            "correlationId": "{{data.orderId}}",
            "expected": {"amount": 2},
            "timeoutMs": 10_000,
        },
    )
    run = prepare(env, step, {"orderId": "R-1"})
    writer = later(0.3, lambda: client.xadd(name, {"body": json.dumps({"orderId": "R-1", "amount": 2})}))
    try:
        result = plugin.execute(step, run)
    finally:
        writer.join()
        close_windows(run)
    assert result.status == StepStatus.PASSED, codes(result)
    assert result.queue_message["body"] == {"orderId": "R-1", "amount": 2}
    assert result.queue_message["window"]["scanned"] == 1  # the older entry was before the window
    assert client.xpending(name, "shop")["pending"] == 0
    delivered = client.xreadgroup("shop", "worker", {name: ">"})
    assert len(delivered[0][1]) == 2  # the system's group still gets both entries


def test_redis_publish_then_assert_and_bad_meta(env, stream) -> None:  # type: ignore[no-untyped-def]
    _, name = stream
    check = assertion(ChannelType.QUEUE, {"brokerAlias": "rs", "stream": name, "correlationId": "C-5"})
    run = prepare(env, check)
    sent = plugin.execute(
        action(
            ChannelType.QUEUE,
            {"brokerAlias": "rs", "stream": name, "fields": {"correlationId": "C-5"}, "body": {"x": 1}},
        ),
        run,
    )
    try:
        assert sent.status == StepStatus.PASSED, codes(sent)
        found = plugin.execute(check, run)
    finally:
        close_windows(run)
    assert found.status == StepStatus.PASSED, codes(found)
    assert found.queue_message["id"] == sent.queue_message["id"]
    wrong = plugin.execute(
        assertion(ChannelType.QUEUE, {"brokerAlias": "rs", "exchange": "x"}), run_context(env)
    )
    assert [v.code for v in wrong.violations] == ["INVALID_STEP_META"]
    no_stream = plugin.execute(action(ChannelType.QUEUE, {"brokerAlias": "rs", "body": {}}), run_context(env))
    assert [v.code for v in no_stream.violations] == ["INVALID_STEP_META"]
