"""Side-effect assertions: detection latency (DB, Kafka, RabbitMQ) and Kafka on a 1,000,000-message topic.

Needs the services of scripts/services (PostgreSQL, Kafka, RabbitMQ):

    eval "$(scripts/services up)" && .venv/bin/python benchmarks/bench_side_effects.py [--quick]

1. Detection latency with default poll settings: an assertion step is already polling (its window
   opened before); at t0 the side effect *has happened* (the INSERT committed, the Kafka delivery
   report arrived, the RabbitMQ publisher confirm arrived); t1 is when the step returned PASSED.
   Target: t1 - t0 under the step's poll interval + 50 ms.
2. Kafka on a topic holding 1,000,000 messages vs an empty topic: the time of the same assertion (the
   window opens, one matching message is produced, the step finds it). Target: within 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pika  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from orchestra_app.domain.steps import ChannelType, StepStatus  # noqa: E402
from orchestra_app.plugins.db.executor import DbAssertMeta  # noqa: E402
from orchestra_app.plugins.kafka.executor import KafkaAssertMeta  # noqa: E402
from orchestra_app.plugins.queue.executor import QueueAssertMeta  # noqa: E402
from orchestra_app.plugins.registry import default_registry  # noqa: E402
from orchestra_app.plugins.windows import close_windows, prepare_windows  # noqa: E402
from tests.sideeffect_helpers import assertion, environment, run_context  # noqa: E402


def need(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        sys.exit(f'{var} is not set: run eval "$(scripts/services up)" first')
    return value


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms  max {ordered[-1]:6.1f} ms"


def default_poll_ms(model: Any) -> int:
    return int(model.model_fields["poll_interval_ms"].default)


def detect(step: Any, env: Any, data: dict[str, Any], cause: Callable[[], None], delay_s: float) -> float:
    """ms from the side effect having happened to the assertion returning PASSED."""
    plugin = default_registry().plugin_for(step.channel_type)
    run = run_context(env, data)
    prepare_windows([step], run, default_registry().plugin_for)
    done: dict[str, Any] = {}

    def body() -> None:
        done["result"] = plugin.execute(step, run)
        done["t1"] = time.perf_counter()

    thread = threading.Thread(target=body)
    thread.start()
    time.sleep(delay_s)  # the step is polling by now
    cause()
    t0 = time.perf_counter()
    thread.join()
    close_windows(run)
    result = done["result"]
    if result.status != StepStatus.PASSED:
        raise SystemExit(f"assertion failed: {[v.message for v in result.violations]}")
    return (done["t1"] - t0) * 1000


def bench_db(trials: int) -> list[float]:
    url = need("ORCHESTRA_TEST_PG_URL")
    engine = sa.create_engine(url)
    table = f"bench_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id text PRIMARY KEY, status text)"))
    parsed = sa.engine.make_url(url)
    bare = sa.engine.URL.create("postgresql", host=parsed.host, port=parsed.port, database=parsed.database)
    env = environment(
        {
            "db": {
                "main": {
                    "url": bare.render_as_string(),
                    "username": parsed.username,
                    "password": parsed.password,
                }
            }
        }
    )
    out = []
    try:
        for i in range(trials):
            key = f"o-{i}"
            step = assertion(
                ChannelType.DB,
                {
                    "dataSource": "main",
                    "sql": f"SELECT status FROM {table} WHERE id = {{{{data.id}}}}",
                    "timeoutMs": 30_000,
                },
            )

            def insert(key: str = key) -> None:
                with engine.begin() as conn:
                    conn.execute(sa.text(f"INSERT INTO {table} VALUES (:id, 'PAID')"), {"id": key})

            out.append(detect(step, env, {"id": key}, insert, 0.3 + (i % 5) * 0.05))
    finally:
        env.close()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()
    return out


def kafka_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)


def drop_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([name])[name].result(60)


def bench_kafka(trials: int) -> list[float]:
    bootstrap = need("ORCHESTRA_TEST_KAFKA_BOOTSTRAP")
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    kafka_topic(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    env = environment({"kafka": {"main": {"bootstrapServers": bootstrap}}})
    out = []
    try:
        for i in range(trials):
            key = f"k-{i}-{uuid.uuid4().hex[:4]}"
            step = assertion(
                ChannelType.KAFKA, {"clusterAlias": "main", "topic": topic, "keyExpression": key}
            )

            def send(key: str = key) -> None:
                producer.produce(topic, key=key, value=json.dumps({"k": key}).encode())
                producer.flush(30)  # returns once the delivery report arrived

            out.append(detect(step, env, {}, send, 0.4 + (i % 5) * 0.05))
    finally:
        env.close()
        drop_topic(bootstrap, topic)
    return out


def bench_rabbitmq(trials: int) -> list[float]:
    url = need("ORCHESTRA_TEST_AMQP_URL")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    exchange = f"bench-{uuid.uuid4().hex[:8]}"
    channel.exchange_declare(exchange, "topic", auto_delete=False)
    env = environment({"queue": {"mq": {"kind": "rabbitmq", "endpoint": url}}})
    out = []
    try:
        for i in range(trials):
            corr = f"c-{i}"
            step = assertion(
                ChannelType.QUEUE,
                {"brokerAlias": "mq", "exchange": exchange, "routingKey": "#", "correlationId": corr},
            )

            def publish(corr: str = corr) -> None:
                channel.basic_publish(
                    exchange, "payment.done", b"{}", pika.BasicProperties(correlation_id=corr)
                )

            out.append(detect(step, env, {}, publish, 0.3 + (i % 5) * 0.05))
    finally:
        env.close()
        channel.exchange_delete(exchange)
        connection.close()
    return out


def kafka_scan_time(bootstrap: str, topic: str, trials: int) -> list[float]:
    """ms for the whole assertion: window opened, one matching message produced, step PASSED."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    env = environment({"kafka": {"main": {"bootstrapServers": bootstrap}}})
    plugin = default_registry().plugin_for(ChannelType.KAFKA)
    out = []
    try:
        for i in range(trials):
            key = f"needle-{i}-{uuid.uuid4().hex[:4]}"
            step = assertion(
                ChannelType.KAFKA, {"clusterAlias": "main", "topic": topic, "keyExpression": key}
            )
            run = run_context(env)
            prepare_windows([step], run, default_registry().plugin_for)
            producer.produce(topic, key=key, value=b'{"needle": true}')
            producer.flush(30)
            started = time.perf_counter()
            result = plugin.execute(step, run)
            out.append((time.perf_counter() - started) * 1000)
            close_windows(run)
            if result.status != StepStatus.PASSED:
                raise SystemExit(f"assertion failed: {[v.message for v in result.violations]}")
    finally:
        env.close()
    return out


def bench_big_topic(trials: int, size: int) -> tuple[list[float], list[float], float]:
    bootstrap = need("ORCHESTRA_TEST_KAFKA_BOOTSTRAP")
    empty, big = f"bench-empty-{uuid.uuid4().hex[:6]}", f"bench-big-{uuid.uuid4().hex[:6]}"
    kafka_topic(bootstrap, empty)
    kafka_topic(bootstrap, big)
    try:
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 50,
                "batch.size": 1_000_000,
                "compression.type": "lz4",
            }
        )
        started = time.perf_counter()
        for n in range(size):
            while True:
                try:
                    producer.produce(big, key=str(n % 1000), value=b'{"n":%d}' % n)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.flush(120)
        fill_s = time.perf_counter() - started
        # Alternate so load from other work on the machine hits both sides alike.
        on_empty: list[float] = []
        on_big: list[float] = []
        for _ in range(trials):
            on_empty += kafka_scan_time(bootstrap, empty, 1)
            on_big += kafka_scan_time(bootstrap, big, 1)
        return on_empty, on_big, fill_s
    finally:
        drop_topic(bootstrap, empty)
        drop_topic(bootstrap, big)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials and a 100,000-message topic")
    args = parser.parse_args()
    trials = 8 if args.quick else 25
    size = 100_000 if args.quick else 1_000_000
    print(f"detection latency, {trials} trials each (default poll settings)")
    for name, fn, model in (
        ("DB (PostgreSQL)", bench_db, DbAssertMeta),
        ("Kafka", bench_kafka, KafkaAssertMeta),
        ("RabbitMQ (tap)", bench_rabbitmq, QueueAssertMeta),
    ):
        poll = default_poll_ms(model)
        values = fn(trials)
        verdict = "OK" if statistics.median(values) < poll + 50 and max(values) < poll + 50 else "OVER"
        print(
            f"  {name:16s} pollInterval {poll:3d} ms -> {stats(values)}  target < {poll + 50} ms: {verdict}"
        )
    on_empty, on_big, fill_s = bench_big_topic(max(5, trials // 2), size)
    ratio = statistics.median(on_big) / statistics.median(on_empty)
    print(f"kafka assertion, {size:,} messages on the topic (filled in {fill_s:.1f} s) vs empty topic")
    print(f"  empty topic      {stats(on_empty)}")
    print(f"  {size:,} msgs  {stats(on_big)}")
    print(f"  ratio of medians {ratio:.2f}x  target <= 2x: {'OK' if ratio <= 2 else 'OVER'}")


if __name__ == "__main__":
    main()
