"""RabbitMQ (AMQP 0-9-1, pika): non-stealing taps, stream-queue readers and a publisher.

How an assertion sees the system's messages without taking them from the system's consumers:

* **tap queue** (``exchange`` + ``routingKey``): when the step's window opens (``prepare`` at run
  start), a private exclusive, auto-delete, server-named queue is bound to the same exchange with the
  same routing key (or header-match arguments). RabbitMQ then routes a *copy* of every matching
  message to it; the system's own queues and consumers are untouched. A pump thread drains the tap
  into memory. Limits: only messages published after the binding exists are seen (so the window must
  open before the action); publishes to the default exchange (straight to a queue name) cannot be
  tapped; the tap holds at most ``tapMaxLength`` messages (oldest dropped first); the queue and its
  connection vanish when the window closes.
* **stream queue** (``stream``): a consumer attached with ``x-stream-offset`` = the window's start time
  reads the stream without removing anything (streams are non-destructive); chunk granularity means a
  few messages from just before the start can appear, which the correlation id filters out. The
  queue is first checked to really be a stream (a classic queue is refused, never consumed).

Firehose tracing (``amq.rabbitmq.trace``) would also see default-exchange publishes but needs
``rabbitmqctl trace_on`` on the broker; it is not used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import ssl
import threading
import time
from typing import Any

import pika
import pika.exceptions

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.plugins.base import QueueProfile

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)


def connection_parameters(
    profile: QueueProfile, alias: str, username: Any, password: Any
) -> pika.URLParameters:
    try:
        params = pika.URLParameters(profile.endpoint)
    except Exception as exc:
        raise ConfigurationError(
            f"queue profile {alias!r}: endpoint {profile.endpoint!r} is not an AMQP URL: {exc}",
            field=f"queue.{alias}.endpoint",
        ) from None
    if username is not None:
        params.credentials = pika.PlainCredentials(str(username), str(password or ""))
    params.socket_timeout = profile.connect_timeout_s
    params.blocked_connection_timeout = profile.connect_timeout_s
    params.connection_attempts = 1
    params.client_properties = {"connection_name": f"orchestra-{alias}"}
    if profile.endpoint.startswith("amqps://"):
        context = ssl.create_default_context(cafile=profile.tls.ca_bundle)
        if not profile.tls.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if profile.tls.client_cert:
            context.load_cert_chain(profile.tls.client_cert, profile.tls.client_key)
        params.ssl_options = pika.SSLOptions(context, params.host)
    return params


def amqp_subject(method: Any, properties: pika.BasicProperties, body: bytes) -> dict[str, Any]:
    headers = {str(k): _plain(v) for k, v in (properties.headers or {}).items()}
    props = {
        "correlationId": properties.correlation_id,
        "messageId": properties.message_id,
        "contentType": properties.content_type,
        "contentEncoding": properties.content_encoding,
        "type": properties.type,
        "appId": properties.app_id,
        "userId": properties.user_id,
        "replyTo": properties.reply_to,
        "deliveryMode": properties.delivery_mode,
        "priority": properties.priority,
        "expiration": properties.expiration,
        "timestamp": properties.timestamp,
        "headers": headers,
    }
    return {
        "exchange": getattr(method, "exchange", None),
        "routingKey": getattr(method, "routing_key", None),
        "properties": {k: v for k, v in props.items() if v is not None},
        "headers": headers,
        "body": parse_body(body, properties.content_type),
    }


def parse_body(body: bytes, content_type: str | None = None) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        return {"base64": base64.b64encode(body).decode("ascii")}
    if content_type is None or "json" in content_type or text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class MessageBuffer:
    """Messages a window received, with a condition for waiting on new ones."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.condition = threading.Condition()
        self.error: str | None = None

    def add(self, subject: dict[str, Any]) -> None:
        with self.condition:
            self.items.append(subject)
            self.condition.notify_all()

    def fail(self, message: str) -> None:
        with self.condition:
            self.error = message
            self.condition.notify_all()

    def wait_beyond(self, count: int, timeout_s: float) -> list[dict[str, Any]]:
        """Messages after the first ``count``, waiting up to ``timeout_s`` for at least one."""
        with self.condition:
            if len(self.items) <= count and self.error is None and timeout_s > 0:
                self.condition.wait(timeout_s)
            return self.items[count:]


class RabbitTap:
    """An open window on an exchange: a private queue bound before the action, drained by a thread."""

    def __init__(
        self,
        params: pika.URLParameters,
        *,
        exchange: str,
        routing_key: str,
        bind_arguments: dict[str, Any] | None,
        max_length: int,
    ) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.buffer = MessageBuffer()
        self._stop = threading.Event()
        self.connection = pika.BlockingConnection(params)
        try:
            channel = self.connection.channel()
            declared = channel.queue_declare(
                queue="",
                exclusive=True,
                auto_delete=True,
                arguments={"x-max-length": max_length, "x-overflow": "drop-head"},
            )
            self.queue: str = declared.method.queue
            channel.queue_bind(self.queue, exchange, routing_key=routing_key, arguments=bind_arguments)
            channel.basic_consume(self.queue, self._on_message, auto_ack=True)
        except BaseException:
            self._close_connection()
            raise
        self.opened_at = time.time()
        self._thread = threading.Thread(target=self._pump, name=f"orchestra-tap-{self.queue}", daemon=True)
        self._thread.start()

    def _on_message(self, _channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.buffer.add(amqp_subject(method, properties, body))

    def _pump(self) -> None:
        try:
            while not self._stop.is_set():
                self.connection.process_data_events(time_limit=0.05)
        except CONNECTION_ERRORS as exc:
            if not self._stop.is_set():
                self.buffer.fail(f"the tap's connection was lost: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self._close_connection()

    def _close_connection(self) -> None:
        # Closing the connection deletes the exclusive tap queue on the broker.
        with contextlib.suppress(*CONNECTION_ERRORS):
            if self.connection.is_open:
                self.connection.close()


class StreamReader:
    """Reads a RabbitMQ stream queue from a point in time without removing anything."""

    def __init__(self, params: pika.URLParameters, stream: str, start: float) -> None:
        self.stream = stream
        self.buffer = MessageBuffer()
        self.connection = pika.BlockingConnection(params)
        try:
            self.channel = self.connection.channel()
            self._check_is_stream(params)
            self.channel.basic_qos(prefetch_count=200)
            offset = dt.datetime.fromtimestamp(int(start), tz=dt.UTC)  # AMQP timestamps are whole seconds
            self.channel.basic_consume(
                stream, self._on_message, auto_ack=False, arguments={"x-stream-offset": offset}
            )
        except BaseException:
            self.close()
            raise

    def _check_is_stream(self, params: pika.URLParameters) -> None:
        # Passive first (never create anything); then a declaration with x-queue-type=stream, which the
        # broker refuses (PRECONDITION_FAILED) for a classic or quorum queue.
        self.channel.queue_declare(self.stream, passive=True)
        try:
            self.channel.queue_declare(self.stream, durable=True, arguments={"x-queue-type": "stream"})
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise ConfigurationError(
                f"queue {self.stream!r} is not a stream queue ({exc.reply_text}); a classic queue cannot be "
                "observed without taking messages from the system: tap its exchange instead "
                "(meta exchange + routingKey)",
                field="stream",
            ) from None

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        channel.basic_ack(method.delivery_tag)  # a stream keeps the message; the ack only moves credit
        self.buffer.add(amqp_subject(method, properties, body))

    def pump(self, budget_s: float) -> None:
        self.connection.process_data_events(time_limit=max(0.0, budget_s))

    def close(self) -> None:
        with contextlib.suppress(*CONNECTION_ERRORS):
            if self.connection.is_open:
                self.connection.close()


class RabbitPublisher:
    """One publishing connection per environment and broker alias (calls serialised by a lock)."""

    def __init__(self, params: pika.URLParameters) -> None:
        self.params = params
        self.lock = threading.Lock()
        self.connection: pika.BlockingConnection | None = None
        self.confirmed: Any = None
        self.plain: Any = None

    def _channels(self) -> tuple[Any, Any]:
        if self.connection is None or not self.connection.is_open:
            self.connection = pika.BlockingConnection(self.params)
            self.confirmed = self.plain = None
        if self.confirmed is None or not self.confirmed.is_open:
            self.confirmed = self.connection.channel()
            self.confirmed.confirm_delivery()
        if self.plain is None or not self.plain.is_open:
            self.plain = self.connection.channel()
        return self.confirmed, self.plain

    def publish(
        self,
        *,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        confirm: bool,
        mandatory: bool,
    ) -> None:
        with self.lock:
            for attempt in (1, 2):  # an idle connection may have been closed by the broker: reconnect once
                try:
                    confirmed, plain = self._channels()
                    channel = confirmed if confirm else plain
                    channel.basic_publish(
                        exchange, routing_key, body, properties=properties, mandatory=mandatory and confirm
                    )
                    return
                except (pika.exceptions.StreamLostError, pika.exceptions.ConnectionClosed):
                    self.connection = None
                    if attempt == 2:
                        raise

    def close(self) -> None:
        with self.lock, contextlib.suppress(*CONNECTION_ERRORS):
            if self.connection is not None and self.connection.is_open:
                self.connection.close()


def describe_amqp_error(exc: BaseException) -> str:
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        return f"{exc.reply_code} {exc.reply_text}"
    if isinstance(
        exc, pika.exceptions.ProbableAuthenticationError | pika.exceptions.ProbableAccessDeniedError
    ):
        return "authentication refused"
    if isinstance(exc, pika.exceptions.AMQPConnectionError):
        inner = exc.args[0] if exc.args else exc
        return f"cannot connect ({type(inner).__name__}: {inner})" if str(inner) else "cannot connect"
    return f"{type(exc).__name__}: {exc}"
