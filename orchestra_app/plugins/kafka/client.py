"""librdkafka configuration from a KafkaProfile, the shared producer and the group-less reader."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.templating import TemplateScope
from orchestra_app.plugins.base import KafkaProfile, StepRunContext
from orchestra_app.plugins.kafka.serde import SchemaRegistry
from orchestra_app.plugins.sideeffects import render_value

TRANSIENT = {
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.REQUEST_TIMED_OUT,
}

# Settings a profile may not override: they are what keeps the reader out of consumer groups.
READER_FIXED = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
}


def base_config(profile: KafkaProfile, alias: str, scope: TemplateScope) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": profile.bootstrap_servers,
        "client.id": profile.client_id,
        "socket.timeout.ms": profile.request_timeout_ms,
    }
    for section in ("security", "options"):
        values = render_value(getattr(profile, section), scope, f"/environment/kafka/{alias}/{section}")
        for key, value in (values or {}).items():
            if key in READER_FIXED or key == "group.id":
                raise ConfigurationError(
                    f"kafka profile {alias!r}: {key} cannot be set (readers never join consumer groups)",
                    field=f"kafka.{alias}.{section}.{key}",
                )
            config[key] = value
    return config


class SharedProducer:
    """One producer per environment and cluster alias (thread-safe); flushed on close."""

    def __init__(self, config: dict[str, Any]) -> None:
        try:
            self.producer = Producer({**config, "linger.ms": 0, "enable.idempotence": False})
        except KafkaException as exc:
            raise ConfigurationError(f"cannot create a Kafka producer: {exc.args[0]}") from None

    def close(self) -> None:
        # Fire-and-forget messages still in flight get a few seconds; what cannot be delivered is
        # dropped rather than holding the environment open.
        if self.producer.flush(5):
            self.producer.purge()
            self.producer.flush(0)


def producer(run: StepRunContext, alias: str, scope: TemplateScope, plugin_id: str) -> SharedProducer:
    profile = run.environment.profile("kafka", alias)
    assert isinstance(profile, KafkaProfile)
    return run.environment.resource(
        f"{plugin_id}:producer:{alias}", lambda: SharedProducer(base_config(profile, alias, scope))
    )


def registry(run: StepRunContext, alias: str, scope: TemplateScope, plugin_id: str) -> SchemaRegistry | None:
    profile = run.environment.profile("kafka", alias)
    assert isinstance(profile, KafkaProfile)
    if not profile.schema_registry_url:
        return None

    def make() -> SchemaRegistry:
        auth = None
        if profile.schema_registry_auth is not None:
            pointer = f"/environment/kafka/{alias}/schemaRegistryAuth"
            user = render_value(profile.schema_registry_auth.username, scope, pointer + "/username")
            password = render_value(profile.schema_registry_auth.password, scope, pointer + "/password")
            auth = (str(user), str(password))
        return SchemaRegistry(
            profile.schema_registry_url or "", auth, timeout_s=profile.request_timeout_ms / 1000
        )

    return run.environment.resource(f"{plugin_id}:registry:{alias}", make)


class TopicReader:
    """Reads every partition of a topic from the first offset at or after a point in time.

    ``assign()`` with explicit offsets and no commits: librdkafka wants a ``group.id`` string, but a
    consumer that never subscribes and never commits does not join (or create) a consumer group, so
    the system's own consumers lose nothing and no group is left behind.
    """

    def __init__(self, config: dict[str, Any], topic: str, timeout_s: float) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self.consumer = Consumer(
            {
                **config,
                **READER_FIXED,
                "group.id": f"orchestra-reader-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
                "allow.auto.create.topics": False,
            }
        )
        self.assigned: dict[int, int] = {}  # partition -> first offset read
        self.positions: dict[int, int] = {}  # partition -> next offset to read
        self.missing_topic: str | None = None
        self.not_ready: str | None = None  # a transient broker answer (no leader yet, timed out)
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()

    def assign_from(self, start_ms: int) -> bool:
        """Assign every partition at its first offset with timestamp >= start_ms; False if the topic
        does not exist (yet) or the broker is not ready for it (retried by the next poll)."""
        try:
            return self._assign_from(start_ms)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and (error.retriable() or error.code() in TRANSIENT):
                self.not_ready = f"{error.name()}: {error.str()}"
                return False
            raise

    def _assign_from(self, start_ms: int) -> bool:
        metadata = self.consumer.list_topics(self.topic, timeout=self.timeout_s)
        topic_md = metadata.topics.get(self.topic)
        if topic_md is None or topic_md.error is not None or not topic_md.partitions:
            code = (
                topic_md.error.name()
                if topic_md is not None and topic_md.error is not None
                else "no partitions"
            )
            self.missing_topic = code
            return False
        self.missing_topic = None
        leaderless = [p for p, md in topic_md.partitions.items() if md.error is not None or md.leader < 0]
        if leaderless:  # a topic created a moment ago: its partitions get leaders shortly
            self.not_ready = f"partition(s) {sorted(leaderless)} have no leader yet"
            return False
        partitions = sorted(topic_md.partitions)
        # The high watermark is read BEFORE the time look-up: a partition with no message at or after
        # start_ms starts there, and nothing produced after start_ms can be below it.
        highs = {
            p: self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=self.timeout_s, cached=False
            )[1]
            for p in partitions
        }
        found = self.consumer.offsets_for_times(
            [TopicPartition(self.topic, p, start_ms) for p in partitions], timeout=self.timeout_s
        )
        assignment = []
        for tp in found:
            if tp.error is not None:
                raise KafkaException(tp.error)
            offset = tp.offset if tp.offset >= 0 else highs[tp.partition]
            self.assigned[tp.partition] = offset
            self.positions[tp.partition] = offset
            assignment.append(TopicPartition(self.topic, tp.partition, offset))
        self.consumer.assign(assignment)
        self.not_ready = None
        return True

    def read(self, budget_s: float, max_messages: int = 500) -> list[Any]:
        """Messages that arrived within ``budget_s`` (at least one short wait)."""
        deadline = time.monotonic() + budget_s
        out: list[Any] = []
        while True:
            left = deadline - time.monotonic()
            batch = self.consumer.consume(num_messages=max_messages, timeout=max(0.0, min(left, 0.1)))
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    if error.fatal() or not error.retriable():
                        raise KafkaException(error)
                    continue
                self.positions[int(message.partition() or 0)] = int(message.offset() or 0) + 1
                out.append(message)
            if out or time.monotonic() >= deadline:
                return out
