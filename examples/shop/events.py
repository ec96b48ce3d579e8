"""Event publishing: order events to Kafka (confluent-kafka) and payment messages to RabbitMQ (pika).

Both publishers are optional: without a bootstrap server / AMQP URL they are disabled, say why in
the service's /health, and publishing is a no-op. Publishing never blocks the event loop: Kafka's
``produce`` only queues (a thread polls for delivery reports), and AMQP publishes go through a queue
to one thread that owns the pika connection (pika connections are not thread-safe).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from typing import Any

import anyio

log = logging.getLogger("shop.events")


class StartupError(RuntimeError):
    """A configured broker cannot be reached when the service starts."""


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published = 0
        self.failed = 0
        self.last_error: str | None = None

    def ok(self) -> None:
        with self.lock:
            self.published += 1

    def fail(self, error: str) -> None:
        with self.lock:
            self.failed += 1
            self.last_error = error[:300]
        log.error("publish failed: %s", error)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"published": self.published, "failed": self.failed, "lastError": self.last_error}


class KafkaPublisher:
    """Order events to one topic; key = order id; delivery reports counted in health()."""

    def __init__(self, bootstrap: str | None, topic: str, *, client_id: str, partitions: int = 3) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.client_id = client_id
        self.partitions = partitions
        self.stats = _Stats()
        self._producer: Any = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap)

    async def start(self) -> None:
        if self.enabled:
            await anyio.to_thread.run_sync(self._start)

    def _start(self) -> None:
        from confluent_kafka import KafkaError, KafkaException, Producer
        from confluent_kafka.admin import AdminClient, NewTopic

        assert self.bootstrap is not None
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "client.id": self.client_id})
        future = admin.create_topics(
            [NewTopic(self.topic, num_partitions=self.partitions, replication_factor=1)], request_timeout=10
        )[self.topic]
        try:
            future.result(timeout=20)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise StartupError(
                    f"Kafka at {self.bootstrap}: cannot create topic {self.topic!r}: {exc}"
                ) from None
        except Exception as exc:
            raise StartupError(f"Kafka at {self.bootstrap} did not answer: {exc}") from None
        self._producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "client.id": self.client_id,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
                "message.timeout.ms": 30000,
            }
        )
        self._poller = threading.Thread(target=self._poll, name=f"{self.client_id}-kafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.2)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.stats.fail(f"delivery to {self.topic} failed: {err}")
        else:
            self.stats.ok()

    def publish(self, key: str, value: dict[str, Any], headers: dict[str, str]) -> None:
        if self._producer is None:
            return
        payload = json.dumps(value, separators=(",", ":")).encode()
        for _ in range(2):
            try:
                self._producer.produce(
                    self.topic,
                    key=key.encode(),
                    value=payload,
                    headers=[(k, v.encode()) for k, v in headers.items()],
                    on_delivery=self._delivered,
                )
                return
            except BufferError:
                self._producer.poll(0)  # local queue full: serve delivery reports (no wait), retry once
            except Exception as exc:
                self.stats.fail(f"produce to {self.topic} failed: {exc}")
                return
        self.stats.fail(f"produce to {self.topic} failed: local queue full")

    async def stop(self) -> None:
        if self._producer is not None:
            await anyio.to_thread.run_sync(self._stop_sync)

    def _stop_sync(self) -> None:
        left = self._producer.flush(10)
        if left:
            log.error("%d Kafka message(s) not delivered at shutdown", left)
        self._stop.set()
        if self._poller is not None:
            self._poller.join(5)

    def health(self) -> dict[str, Any]:
        if not self.enabled:
            return {
                "enabled": False,
                "reason": "no Kafka bootstrap server configured: order events are skipped",
            }
        return {"enabled": True, "bootstrap": self.bootstrap, "topic": self.topic, **self.stats.snapshot()}


_STOP = object()


class AmqpPublisher:
    """Payment messages to a topic exchange, with publisher confirms; one thread owns the connection."""

    def __init__(self, url: str | None, exchange: str, *, queue_name: str | None, app_id: str) -> None:
        self.url = url
        self.exchange = exchange
        self.queue_name = queue_name
        self.app_id = app_id
        self.stats = _Stats()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._settled = threading.Event()  # the first connection attempt succeeded or gave up
        self._connect_error: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    async def start(self) -> None:
        if not self.enabled:
            return
        self._thread = threading.Thread(target=self._run, name=f"{self.app_id}-amqp", daemon=True)
        self._thread.start()
        await anyio.to_thread.run_sync(self._settled.wait, 30.0)
        if not self._connected.is_set():
            self._queue.put(_STOP)
            raise StartupError(f"RabbitMQ at {self._display_url()} did not answer: {self._connect_error}")

    def _display_url(self) -> str:
        import urllib.parse

        parts = urllib.parse.urlsplit(self.url or "")
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}:{parts.port or 5672}{parts.path}"

    def _connect(self) -> tuple[Any, Any]:
        import pika

        params = pika.URLParameters(self.url)
        params.connection_attempts = 3
        params.retry_delay = 1
        params.socket_timeout = 5
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        if self.queue_name:
            # The shop's own consumer queue (an audit trail): what Orchestra's tap must not steal from.
            channel.queue_declare(self.queue_name, durable=True, arguments={"x-max-length": 100_000})
            channel.queue_bind(self.queue_name, self.exchange, routing_key="payment.#")
        return connection, channel

    def _run(self) -> None:
        connection: Any = None
        channel: Any = None
        while True:
            if connection is None:
                try:
                    connection, channel = self._connect()
                    self._connected.set()
                    self._settled.set()
                except Exception as exc:
                    inner = "; ".join(str(a) for a in exc.args) or type(exc).__name__
                    self._connect_error = inner
                    if not self._connected.is_set():
                        self._settled.set()
                        return  # start() reports it
                    log.error("RabbitMQ reconnect failed: %s", self._connect_error)
                    time.sleep(1)
                    # drop what cannot be sent rather than block shutdown forever
                    with contextlib.suppress(queue.Empty):
                        item = self._queue.get_nowait()
                        if item is _STOP:
                            return
                        self.stats.fail(f"not published ({self._connect_error})")
                    continue
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                try:
                    connection.process_data_events(time_limit=0)  # heartbeats
                except Exception as exc:
                    log.error("RabbitMQ connection lost: %s", exc)
                    connection = None
                continue
            if item is _STOP:
                with contextlib.suppress(Exception):
                    connection.close()
                return
            routing_key, body, properties = item
            try:
                channel.basic_publish(self.exchange, routing_key, body, properties)
                self.stats.ok()
            except Exception as exc:
                self.stats.fail(
                    f"publish to {self.exchange}/{routing_key} failed: {type(exc).__name__}: {exc}"
                )
                with contextlib.suppress(Exception):
                    connection.close()
                connection = None

    def publish(
        self,
        routing_key: str,
        body: dict[str, Any],
        *,
        correlation_id: str,
        message_id: str,
        message_type: str,
        headers: dict[str, str],
    ) -> None:
        if self._thread is None:
            return
        import pika

        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            correlation_id=correlation_id,
            message_id=message_id,
            type=message_type,
            app_id=self.app_id,
            timestamp=int(time.time()),
            headers=headers,
        )
        self._queue.put((routing_key, json.dumps(body, separators=(",", ":")).encode(), properties))

    async def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            await anyio.to_thread.run_sync(self._thread.join, 10.0)

    def health(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False, "reason": "no AMQP URL configured: payment messages are skipped"}
        return {
            "enabled": True,
            "exchange": self.exchange,
            "connected": self._connected.is_set(),
            **self.stats.snapshot(),
        }
