"""Queue steps for RabbitMQ and Redis Streams: ASSERTION by correlation id, ACTION publish."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import redis
from pydantic import Field, model_validator

from orchestra_app.domain.steps import (
    ActionMode,
    ScenarioStepSpec,
    StepKind,
    StepResultData,
    ViolationType,
)
from orchestra_app.domain.templating import TemplateScope
from orchestra_app.plugins.base import QueueProfile, StepRunContext
from orchestra_app.plugins.messages import (
    Correlation,
    MessageAssertMeta,
    MessageCriteria,
    SeenMessages,
    not_found_violations,
    selector,
)
from orchestra_app.plugins.polling import PollEnd, poll_until
from orchestra_app.plugins.queue import rabbitmq, redis_streams
from orchestra_app.plugins.sideeffects import (
    StepFailed,
    StepMeta,
    cancel_check,
    compile_rules,
    invalid,
    parse_meta,
    preview,
    render_value,
    step_result,
    step_timeout_s,
    violation,
)
from orchestra_app.plugins.windows import TimeWindow, remember_window, take_window

NOT_FOUND = ViolationType.QUEUE_MESSAGE_NOT_FOUND
UNPREPARED_LOOKBACK_MS = 60_000
DEFAULT_CORRELATION = {"rabbitmq": "$.properties.correlationId", "redis": "$.fields.correlationId"}


class QueueAssertMeta(MessageAssertMeta):
    broker_alias: str = Field(min_length=1)
    exchange: str | None = None  # RabbitMQ: tap this exchange
    routing_key: str = "#"  # binding key of the tap (topic/direct exchanges; fanout ignores it)
    bind_arguments: dict[str, Any] | None = None  # headers exchanges: x-match and header values
    stream: str | None = None  # RabbitMQ stream queue, or the Redis stream key
    queue_name: str | None = None  # seed name: a RabbitMQ stream queue (classic queues are refused)
    correlation_id_expr: str | None = None  # where the id is ($.properties.correlationId, $.body.orderId)
    correlation_id: Any = None  # the expected id (templated)
    body_field: str = "body"  # Redis: the field holding the (JSON) body

    @model_validator(mode="after")
    def _correlation(self) -> QueueAssertMeta:
        if self.correlation_id_expr and "{{" in self.correlation_id_expr:
            # "correlationIdExpr": "{{data.orderId}}" gives the expected id, looked for in the default place
            if self.correlation_id is not None:
                raise ValueError("correlationIdExpr is a template and correlationId is also given")
            self.correlation_id, self.correlation_id_expr = self.correlation_id_expr, None
        if self.correlation_id_expr is not None and self.correlation_id is None:
            raise ValueError("correlationIdExpr needs correlationId (the expected value)")
        return self


class QueuePublishMeta(StepMeta):
    broker_alias: str = Field(min_length=1)
    exchange: str = ""  # RabbitMQ ("" = the default exchange, routing key = queue name)
    routing_key: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)  # correlationId, messageId, headers...
    mandatory: bool = True  # SYNC: an unroutable message fails the step
    stream: str | None = None  # Redis stream key
    fields: dict[str, Any] | None = None  # Redis entry fields (templated)
    body: Any = None  # templated; falls back to action.inputTemplate
    body_field: str = "body"  # Redis: field that receives the body
    max_len: int | None = Field(default=None, ge=1)  # Redis: approximate MAXLEN trim


@dataclass
class Watch:
    seen: SeenMessages = field(default_factory=SeenMessages)
    found: dict[str, Any] | None = None
    position: Any = None  # tap/stream buffer index or Redis id
    error: str | None = None


_PROPERTY_NAMES = {
    "correlationId": "correlation_id",
    "messageId": "message_id",
    "contentType": "content_type",
    "contentEncoding": "content_encoding",
    "type": "type",
    "appId": "app_id",
    "replyTo": "reply_to",
    "deliveryMode": "delivery_mode",
    "priority": "priority",
    "expiration": "expiration",
    "headers": "headers",
    "timestamp": "timestamp",
}


class QueueStepExecutor:
    def __init__(self, *, plugin_id: str = "queue") -> None:
        self.plugin_id = plugin_id

    # ---- connections ---------------------------------------------------------------------------

    def _profile(self, run: StepRunContext, alias: str) -> QueueProfile:
        profile = run.environment.profile("queue", alias)
        assert isinstance(profile, QueueProfile)
        return profile

    def _credentials(self, profile: QueueProfile, alias: str, scope: TemplateScope) -> tuple[Any, Any]:
        user = render_value(profile.username, scope, f"/environment/queue/{alias}/username")
        password = render_value(profile.password, scope, f"/environment/queue/{alias}/password")
        return user, password

    def _amqp(self, profile: QueueProfile, alias: str, scope: TemplateScope) -> pika.URLParameters:
        user, password = self._credentials(profile, alias, scope)
        return rabbitmq.connection_parameters(profile, alias, user, password)

    def _redis(self, run: StepRunContext, profile: QueueProfile, alias: str, scope: TemplateScope) -> Any:
        def make() -> redis_streams.RedisBroker:
            user, password = self._credentials(profile, alias, scope)
            return redis_streams.RedisBroker(profile, alias, user, password)

        return run.environment.resource(f"{self.plugin_id}:redis:{alias}", make)

    # ---- windows -------------------------------------------------------------------------------

    def prepare(self, step: ScenarioStepSpec, run: StepRunContext) -> bool:
        meta = parse_meta(QueueAssertMeta, step)
        profile = self._profile(run, meta.broker_alias)
        scope = run.template_scope()
        self._check_source(meta, profile)
        remember_window(run, step, self._open_window(run, meta, profile, scope))
        return True

    def _open_window(
        self, run: StepRunContext, meta: QueueAssertMeta, profile: QueueProfile, scope: TemplateScope
    ) -> Any:
        from orchestra_app.domain.errors import ConfigurationError

        where = f"broker {meta.broker_alias!r}"
        if profile.kind == "redis":
            stream = str(render_value(meta.stream, scope, "/action/meta/stream"))
            try:
                last = self._redis(run, profile, meta.broker_alias, scope).last_id(stream)
            except redis_streams.CONNECTION_ERRORS as exc:
                raise ConfigurationError(
                    f"cannot open a window on {where}: {exc}", field="brokerAlias"
                ) from None
            return TimeWindow(position=last)
        if meta.exchange is None:
            return TimeWindow()  # stream queues are read from a timestamp
        try:
            return rabbitmq.RabbitTap(
                self._amqp(profile, meta.broker_alias, scope),
                exchange=meta.exchange,
                routing_key=str(render_value(meta.routing_key, scope, "/action/meta/routingKey")),
                bind_arguments=render_value(meta.bind_arguments, scope, "/action/meta/bindArguments"),
                max_length=profile.tap_max_length,
            )
        except rabbitmq.CONNECTION_ERRORS as exc:
            raise ConfigurationError(
                f"cannot tap exchange {meta.exchange!r} on {where}: {rabbitmq.describe_amqp_error(exc)}",
                field="exchange",
            ) from None

    @staticmethod
    def _check_source(meta: QueueAssertMeta, profile: QueueProfile) -> None:
        if profile.kind == "redis":
            if not meta.stream or meta.exchange or meta.queue_name:
                raise invalid(
                    "INVALID_STEP_META",
                    f"broker {meta.broker_alias!r} is Redis: give meta.stream (the stream key) only",
                    pointer="/action/meta/stream",
                )
            return
        sources = [name for name in ("exchange", "stream", "queueName") if getattr(meta, _snake(name))]
        if meta.exchange == "":
            raise invalid(
                "UNTAPPABLE_SOURCE",
                "publishes to the default exchange go straight to a queue and cannot be tapped without "
                "taking messages from the system; assert on a stream queue or on a named exchange",
                pointer="/action/meta/exchange",
            )
        if len(sources) != 1:
            raise invalid(
                "INVALID_STEP_META",
                "a RabbitMQ assertion reads exactly one of: exchange (+ routingKey) through a tap queue, "
                f"or stream / queueName (a stream queue); got {sources or 'none'}",
                pointer="/action/meta",
            )

    # ---- dispatch ------------------------------------------------------------------------------

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData:
        with step_result(step, run) as (result, scope):
            if step.kind == StepKind.ASSERTION:
                self._assert(step, run, scope, result)
            else:
                self._publish(step, run, scope, result)
        return result

    # ---- ASSERTION -----------------------------------------------------------------------------

    def _criteria(
        self, step: ScenarioStepSpec, meta: QueueAssertMeta, profile: QueueProfile, scope: TemplateScope
    ) -> MessageCriteria:
        correlations: list[Correlation] = []
        if meta.correlation_id is not None:
            path = meta.correlation_id_expr or DEFAULT_CORRELATION[profile.kind]
            value = render_value(meta.correlation_id, scope, "/action/meta/correlationId")
            correlations.append(Correlation(path, selector(path, "/action/meta/correlationIdExpr"), value))
        expected = render_value(meta.expected, scope, "/action/meta/expected")
        assert meta.value_matcher_mode is not None
        return MessageCriteria(correlations, meta.value_matcher_mode, expected, "body", compile_rules(step))

    def _assert(
        self, step: ScenarioStepSpec, run: StepRunContext, scope: TemplateScope, result: StepResultData
    ) -> None:
        meta = parse_meta(QueueAssertMeta, step)
        profile = self._profile(run, meta.broker_alias)
        self._check_source(meta, profile)
        criteria = self._criteria(step, meta, profile, scope)
        window = take_window(run, step)
        prepared = window is not None
        if window is None:
            # Not prepared (a single step run on its own): open the window now and keep it for the run.
            window = self._open_window(run, meta, profile, scope)
            remember_window(run, step, window)
        watch = Watch()
        where, observe, cleanup = self._source(run, meta, profile, scope, window, criteria, watch, prepared)
        started = time.monotonic()
        try:
            outcome = poll_until(
                observe,
                lambda w: w.found is not None or w.error is not None,
                timeout_s=step_timeout_s(run, meta.timeout_ms),
                interval_s=0,
                block_s=meta.poll_interval_ms / 1000,
                should_cancel=cancel_check(run),
            )
        except (*rabbitmq.CONNECTION_ERRORS, *redis_streams.CONNECTION_ERRORS) as exc:
            raise StepFailed(
                violation(
                    NOT_FOUND, "BROKER_ERROR", f"reading {where} failed: {rabbitmq.describe_amqp_error(exc)}"
                )
            ) from None
        finally:
            cleanup()
        summary = {
            "source": where,
            "windowOpenedAt": window.opened_at,
            "prepared": prepared,
            "elapsedMs": round((time.monotonic() - started) * 1000),
            "polls": outcome.attempts,
            **watch.seen.summary(),
        }
        if watch.found is not None:
            result.queue_message = {**watch.found, "window": summary}
            return
        result.queue_message = {"window": summary}
        if outcome.end is PollEnd.CANCELLED:
            raise StepFailed(
                violation(ViolationType.TIMEOUT, "CANCELLED", "the run was cancelled while waiting")
            )
        if watch.error is not None:
            raise StepFailed(violation(NOT_FOUND, "BROKER_ERROR", f"{where}: {watch.error}"))
        raise StepFailed(*not_found_violations(NOT_FOUND, meta.timeout_ms, watch.seen, criteria, where))

    def _source(
        self,
        run: StepRunContext,
        meta: QueueAssertMeta,
        profile: QueueProfile,
        scope: TemplateScope,
        window: Any,
        criteria: MessageCriteria,
        watch: Watch,
        prepared: bool,
    ) -> tuple[str, Any, Any]:
        def consider(subject: dict[str, Any]) -> None:
            verdict = criteria.judge(subject)
            brief = {
                k: preview(subject.get(k), 120)
                for k in ("id", "routingKey", "properties", "body")
                if subject.get(k) is not None
            }
            watch.seen.record(subject, verdict, brief)
            if verdict.matched and watch.found is None:
                watch.found = subject

        if profile.kind == "redis":
            broker = self._redis(run, profile, meta.broker_alias, scope)
            stream = str(render_value(meta.stream, scope, "/action/meta/stream"))
            if prepared and isinstance(window.position, str):
                watch.position = window.position
            else:
                lookback = UNPREPARED_LOOKBACK_MS if meta.lookback_ms is None else meta.lookback_ms
                watch.position = redis_streams.clock_id(lookback)

            def observe_redis(budget: float) -> Watch:
                for entry_id, fields in broker.read(stream, watch.position, budget):
                    watch.position = entry_id
                    consider(redis_streams.redis_subject(stream, entry_id, fields, meta.body_field))
                    if watch.found is not None:
                        break
                return watch

            return f"Redis stream {stream!r}", observe_redis, lambda: None

        if isinstance(window, rabbitmq.RabbitTap):
            buffer = window.buffer
            watch.position = 0

            def observe_tap(budget: float) -> Watch:
                new = buffer.wait_beyond(watch.position, budget)
                for subject in new:
                    watch.position += 1
                    consider(subject)
                    if watch.found is not None:
                        break
                if buffer.error is not None and watch.found is None:
                    watch.error = buffer.error
                return watch

            where = f"exchange {window.exchange!r} (routing key {window.routing_key!r})"
            return where, observe_tap, lambda: None

        stream_name = str(render_value(meta.stream or meta.queue_name, scope, "/action/meta/stream"))
        lookback = (
            (meta.lookback_ms or 0)
            if prepared
            else (UNPREPARED_LOOKBACK_MS if meta.lookback_ms is None else meta.lookback_ms)
        )
        start = window.opened_at - lookback / 1000
        from orchestra_app.domain.errors import ConfigurationError

        try:
            reader = rabbitmq.StreamReader(self._amqp(profile, meta.broker_alias, scope), stream_name, start)
        except ConfigurationError as exc:
            raise invalid("UNTAPPABLE_SOURCE", exc.message, pointer="/action/meta/stream") from None
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise StepFailed(
                violation(
                    NOT_FOUND,
                    "QUEUE_NOT_FOUND",
                    f"stream queue {stream_name!r} on broker {meta.broker_alias!r}: {exc.reply_text}",
                )
            ) from None
        watch.position = 0

        def observe_stream(budget: float) -> Watch:
            reader.pump(budget)
            for subject in reader.buffer.items[watch.position :]:
                watch.position += 1
                ts = subject.get("properties", {}).get("timestamp")
                if isinstance(ts, int) and ts < int(start):
                    watch.seen.skipped_before_window += 1
                    continue
                consider(subject)
                if watch.found is not None:
                    break
            return watch

        return f"stream queue {stream_name!r}", observe_stream, reader.close

    # ---- ACTION: publish -----------------------------------------------------------------------

    def _publish(
        self, step: ScenarioStepSpec, run: StepRunContext, scope: TemplateScope, result: StepResultData
    ) -> None:
        meta = parse_meta(QueuePublishMeta, step)
        profile = self._profile(run, meta.broker_alias)
        if meta.body is not None:
            body = render_value(meta.body, scope, "/action/meta/body")
        else:
            body = render_value(step.action.input_template or None, scope, "/action/inputTemplate")
        if profile.kind == "redis":
            self._publish_redis(run, meta, profile, scope, body, result)
        else:
            self._publish_rabbitmq(step, run, meta, profile, scope, body, result)

    def _publish_redis(
        self,
        run: StepRunContext,
        meta: QueuePublishMeta,
        profile: QueueProfile,
        scope: TemplateScope,
        body: Any,
        result: StepResultData,
    ) -> None:
        if not meta.stream:
            raise invalid(
                "INVALID_STEP_META", "publishing to Redis needs meta.stream", pointer="/action/meta/stream"
            )
        stream = str(render_value(meta.stream, scope, "/action/meta/stream"))
        fields = dict(render_value(meta.fields or {}, scope, "/action/meta/fields") or {})
        if body is not None:
            fields[meta.body_field] = body
        if not fields:
            raise invalid(
                "INVALID_STEP_META", "a Redis entry needs fields or a body", pointer="/action/meta/fields"
            )
        result.request = {"stream": stream, "fields": preview(fields, 2000)}
        broker = self._redis(run, profile, meta.broker_alias, scope)
        try:
            entry_id = broker.add(stream, fields, meta.max_len)
        except (*redis_streams.CONNECTION_ERRORS, redis.exceptions.ResponseError) as exc:  # type: ignore[misc]
            raise StepFailed(
                violation(NOT_FOUND, "PUBLISH_FAILED", f"XADD to {stream!r} failed: {exc}", stream=stream)
            ) from None
        result.queue_message = {"stream": stream, "id": entry_id, "fields": preview(fields, 2000)}

    def _publish_rabbitmq(
        self,
        step: ScenarioStepSpec,
        run: StepRunContext,
        meta: QueuePublishMeta,
        profile: QueueProfile,
        scope: TemplateScope,
        body: Any,
        result: StepResultData,
    ) -> None:
        if meta.routing_key is None:
            raise invalid(
                "INVALID_STEP_META",
                "publishing to RabbitMQ needs meta.routingKey (the queue name for the default exchange)",
                pointer="/action/meta/routingKey",
            )
        routing_key = str(render_value(meta.routing_key, scope, "/action/meta/routingKey"))
        props = render_value(meta.properties, scope, "/action/meta/properties") or {}
        unknown = sorted(set(props) - set(_PROPERTY_NAMES))
        if unknown:
            raise invalid(
                "INVALID_STEP_META",
                f"unknown AMQP propert(y/ies) {unknown}; known: {', '.join(sorted(_PROPERTY_NAMES))}",
                pointer="/action/meta/properties",
            )
        kwargs = {_PROPERTY_NAMES[k]: v for k, v in props.items()}
        for name in ("correlation_id", "message_id", "type", "app_id", "reply_to", "expiration"):
            if name in kwargs and kwargs[name] is not None:
                kwargs[name] = str(kwargs[name])
        if isinstance(body, str):
            payload = body.encode("utf-8")
            kwargs.setdefault("content_type", "text/plain")
        else:
            payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            kwargs.setdefault("content_type", "application/json")
        try:
            properties = pika.BasicProperties(**kwargs)
        except (TypeError, ValueError) as exc:
            raise invalid(
                "INVALID_STEP_META", f"AMQP properties: {exc}", pointer="/action/meta/properties"
            ) from None
        result.request = {
            "exchange": meta.exchange,
            "routingKey": routing_key,
            "properties": props,
            "body": preview(body, 2000),
        }
        sync = step.action.mode == ActionMode.SYNC

        def make() -> rabbitmq.RabbitPublisher:
            return rabbitmq.RabbitPublisher(self._amqp(profile, meta.broker_alias, scope))

        publisher = run.environment.resource(f"{self.plugin_id}:amqp-publisher:{meta.broker_alias}", make)
        target = f"exchange {meta.exchange!r} with routing key {routing_key!r}"
        try:
            publisher.publish(
                exchange=meta.exchange,
                routing_key=routing_key,
                body=payload,
                properties=properties,
                confirm=sync,
                mandatory=meta.mandatory,
            )
        except pika.exceptions.UnroutableError:
            raise StepFailed(
                violation(
                    NOT_FOUND,
                    "UNROUTABLE",
                    f"no queue is bound to {target}: the broker returned the message",
                    exchange=meta.exchange,
                    routingKey=routing_key,
                )
            ) from None
        except pika.exceptions.NackError:
            raise StepFailed(
                violation(NOT_FOUND, "PUBLISH_FAILED", f"the broker refused the message to {target}")
            ) from None
        except rabbitmq.CONNECTION_ERRORS as exc:
            raise StepFailed(
                violation(
                    NOT_FOUND,
                    "PUBLISH_FAILED",
                    f"publishing to {target} failed: {rabbitmq.describe_amqp_error(exc)}",
                )
            ) from None
        result.queue_message = {
            "exchange": meta.exchange,
            "routingKey": routing_key,
            "properties": props,
            "confirmed": sync,
        }


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)
