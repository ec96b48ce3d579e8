"""Kafka steps: ASSERTION (find a message produced after the window opened) and ACTION (publish)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from pydantic import Field, model_validator

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import (
    ActionMode,
    ScenarioStepSpec,
    StepKind,
    StepResultData,
    Violation,
    ViolationType,
)
from orchestra_app.domain.templating import TemplateScope
from orchestra_app.plugins.base import KafkaProfile, StepRunContext
from orchestra_app.plugins.kafka import client as kafka_client
from orchestra_app.plugins.kafka.contract import AsyncApiContractValidator
from orchestra_app.plugins.kafka.serde import (
    VALUE_FORMATS,
    decode_text,
    decode_value,
    encode_text,
    encode_value,
)
from orchestra_app.plugins.messages import (
    Correlation,
    MessageAssertMeta,
    MessageCriteria,
    SeenMessages,
    Verdict,
    not_found_violations,
    selector,
)
from orchestra_app.plugins.polling import PollEnd, poll_until
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

NOT_FOUND = ViolationType.KAFKA_MESSAGE_NOT_FOUND
UNPREPARED_LOOKBACK_MS = 60_000


class HeaderMatch(StepMeta):
    name: str = Field(min_length=1)
    value: Any


class CorrelationMeta(StepMeta):
    path: str  # selector into the message subject, e.g. "$.value.orderId"
    value: Any  # templated expected value


class KafkaAssertMeta(MessageAssertMeta):
    cluster_alias: str = Field(min_length=1)
    topic: str = Field(min_length=1)
    key_expression: Any = None  # templated expected key
    header: HeaderMatch | None = None
    correlation: CorrelationMeta | None = None
    value_format: str = "auto"
    max_messages: int = Field(default=1_000_000, ge=1, le=100_000_000)

    @model_validator(mode="after")
    def _format(self) -> KafkaAssertMeta:
        if self.value_format not in VALUE_FORMATS:
            raise ValueError(f"valueFormat must be one of {', '.join(VALUE_FORMATS)}")
        return self


class KafkaPublishMeta(StepMeta):
    cluster_alias: str = Field(min_length=1)
    topic: str = Field(min_length=1)
    key_expression: Any = None
    value_template: Any = None
    headers: dict[str, Any] = Field(default_factory=dict)
    partition: int | None = Field(default=None, ge=0)
    value_format: str = "json"
    timeout_ms: int = Field(default=10_000, ge=1, le=600_000)  # SYNC: wait this long for the delivery report


@dataclass
class Scan:
    """State of one assertion across polls."""

    reader: kafka_client.TopicReader | None = None
    assigned: bool = False
    found: dict[str, Any] | None = None
    seen: SeenMessages = field(default_factory=SeenMessages)
    problems: list[str] = field(default_factory=list)
    limit_reached: bool = False


def message_subject(message: Message, value: Any) -> dict[str, Any]:
    ts_type, ts = message.timestamp()
    headers: dict[str, Any] = {}
    raw_headers: Any = message.headers() or []
    for name, raw in raw_headers:
        decoded = decode_text(raw)
        if name in headers:  # repeated header: all values, in order
            previous = headers[name]
            headers[name] = [*previous, decoded] if isinstance(previous, list) else [previous, decoded]
        else:
            headers[name] = decoded
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": ts if ts_type else None,
        "key": decode_text(message.key()),
        "headers": headers,
        "value": value,
    }


class KafkaStepExecutor:
    def __init__(
        self, validator: AsyncApiContractValidator | None = None, *, plugin_id: str = "kafka"
    ) -> None:
        self.validator = validator or AsyncApiContractValidator()
        self.plugin_id = plugin_id

    # ---- windows -------------------------------------------------------------------------------

    def prepare(self, step: ScenarioStepSpec, run: StepRunContext) -> bool:
        """A Kafka window is a point in time: messages with a timestamp at or after it count."""
        meta = parse_meta(KafkaAssertMeta, step)
        run.environment.profile("kafka", meta.cluster_alias)  # a missing alias fails the run early
        remember_window(run, step, TimeWindow())
        return True

    def _window_start_ms(self, step: ScenarioStepSpec, run: StepRunContext, meta: KafkaAssertMeta) -> int:
        window = take_window(run, step)
        if window is not None:
            return int(window.opened_at * 1000) - (meta.lookback_ms or 0)
        lookback = UNPREPARED_LOOKBACK_MS if meta.lookback_ms is None else meta.lookback_ms
        return int(time.time() * 1000) - lookback

    # ---- dispatch ------------------------------------------------------------------------------

    def execute(self, step: ScenarioStepSpec, run: StepRunContext) -> StepResultData:
        with step_result(step, run) as (result, scope):
            if step.kind == StepKind.ASSERTION:
                self._assert(step, run, scope, result)
            else:
                self._publish(step, run, scope, result)
        return result

    def _contract(
        self, step: ScenarioStepSpec, run: StepRunContext, topic: str
    ) -> tuple[SpecSummary, Operation] | None:
        ref = step.endpoint_ref
        if ref is None:
            return None
        spec = run.spec_for(ref.service_name)
        if spec is None:
            return None
        operation = self.validator.find_operation(spec, ref.endpoint_name, topic)
        if operation is None:
            raise invalid(
                "UNKNOWN_OPERATION",
                f"operation or channel {ref.endpoint_name!r} is not in the spec of "
                f"service {ref.service_name!r}",
                pointer="/endpointRef/endpointName",
            )
        return spec, operation

    # ---- ASSERTION -----------------------------------------------------------------------------

    def _criteria(
        self, step: ScenarioStepSpec, meta: KafkaAssertMeta, scope: TemplateScope
    ) -> MessageCriteria:
        correlations: list[Correlation] = []
        if meta.key_expression is not None:
            key = render_value(meta.key_expression, scope, "/action/meta/keyExpression")
            correlations.append(Correlation("key", selector("$.key", "/action/meta/keyExpression"), key))
        if meta.header is not None:
            value = render_value(meta.header.value, scope, "/action/meta/header/value")
            path = "$.headers[" + repr(meta.header.name).replace("'", '"') + "]"
            correlations.append(
                Correlation(f"header {meta.header.name}", selector(path, "/action/meta/header/name"), value)
            )
        if meta.correlation is not None:
            value = render_value(meta.correlation.value, scope, "/action/meta/correlation/value")
            path = meta.correlation.path
            if path.startswith("$") and not path.startswith(("$.value", "$.key", "$.headers", "$[")):
                path = "$.value" + path[1:]  # "$.orderId" means inside the value
            correlations.append(Correlation(path, selector(path, "/action/meta/correlation/path"), value))
        expected = render_value(meta.expected, scope, "/action/meta/expected")
        assert meta.value_matcher_mode is not None
        return MessageCriteria(correlations, meta.value_matcher_mode, expected, "value", compile_rules(step))

    def _assert(
        self, step: ScenarioStepSpec, run: StepRunContext, scope: TemplateScope, result: StepResultData
    ) -> None:
        meta = parse_meta(KafkaAssertMeta, step)
        profile = run.environment.profile("kafka", meta.cluster_alias)
        assert isinstance(profile, KafkaProfile)
        topic = str(render_value(meta.topic, scope, "/action/meta/topic"))
        criteria = self._criteria(step, meta, scope)
        contract = self._contract(step, run, topic)
        registry = kafka_client.registry(run, meta.cluster_alias, scope, self.plugin_id)
        start_ms = self._window_start_ms(step, run, meta)
        config = kafka_client.base_config(profile, meta.cluster_alias, scope)
        scan = Scan()
        started = time.monotonic()

        def observe(budget: float) -> Scan:
            if scan.reader is None:
                scan.reader = kafka_client.TopicReader(config, topic, profile.request_timeout_ms / 1000)
            if not scan.assigned:
                scan.assigned = scan.reader.assign_from(start_ms)
                if not scan.assigned:
                    time.sleep(min(budget, 0.1))  # the topic may be created by the first produce
                    return scan
            for message in scan.reader.read(budget):
                self._consider(message, meta, criteria, registry, start_ms, scan)
                if scan.found is not None:
                    break
                if scan.seen.scanned >= meta.max_messages:
                    scan.limit_reached = True
                    break
            return scan

        try:
            outcome = poll_until(
                observe,
                lambda s: s.found is not None or s.limit_reached,
                timeout_s=step_timeout_s(run, meta.timeout_ms),
                interval_s=0,
                block_s=meta.poll_interval_ms / 1000,
                should_cancel=cancel_check(run),
            )
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            raise StepFailed(
                violation(
                    NOT_FOUND,
                    "KAFKA_ERROR",
                    f"reading {topic!r} on cluster {meta.cluster_alias!r} failed: {error}",
                    topic=topic,
                )
            ) from None
        finally:
            if scan.reader is not None:
                scan.reader.close()

        window = {
            "startMs": start_ms,
            "partitions": {
                str(p): {"from": scan.reader.assigned[p], "to": scan.reader.positions.get(p)}
                for p in sorted(scan.reader.assigned)
            }
            if scan.reader
            else {},
            "elapsedMs": round((time.monotonic() - started) * 1000),
            "polls": outcome.attempts,
            **scan.seen.summary(),
        }
        if scan.found is not None:
            scan.found["window"] = window
            result.kafka_message = scan.found
            if contract is not None:
                spec, operation = contract
                result.violations.extend(
                    self.validator.validate_response(spec, operation, scan.found["value"])
                )
            return
        result.kafka_message = {"topic": topic, "window": window, "problems": scan.problems[:5]}
        if outcome.end is PollEnd.CANCELLED:
            raise StepFailed(
                violation(ViolationType.TIMEOUT, "CANCELLED", "the run was cancelled while waiting")
            )
        where = f"topic {topic!r}"
        violations: list[Violation] = []
        if scan.reader is not None and scan.reader.not_ready and not scan.assigned:
            violations.append(
                violation(
                    NOT_FOUND,
                    "KAFKA_ERROR",
                    f"{where} on cluster {meta.cluster_alias!r} could not be read within "
                    f"{meta.timeout_ms} ms: {scan.reader.not_ready}",
                    topic=topic,
                )
            )
        elif scan.reader is not None and scan.reader.missing_topic:
            violations.append(
                violation(
                    NOT_FOUND,
                    "TOPIC_NOT_FOUND",
                    f"{where} does not exist on cluster {meta.cluster_alias!r} ({scan.reader.missing_topic})",
                    topic=topic,
                )
            )
        elif scan.limit_reached:
            violations.append(
                violation(
                    NOT_FOUND,
                    "SCAN_LIMIT_REACHED",
                    f"{meta.max_messages} messages scanned on {where} without a match (meta.maxMessages)",
                    **scan.seen.summary(),
                )
            )
        else:
            violations.extend(not_found_violations(NOT_FOUND, meta.timeout_ms, scan.seen, criteria, where))
        if scan.problems:
            violations[-1].details["decodingProblems"] = scan.problems[:5]
        raise StepFailed(*violations)

    def _consider(
        self,
        message: Message,
        meta: KafkaAssertMeta,
        criteria: MessageCriteria,
        registry: Any,
        start_ms: int,
        scan: Scan,
    ) -> None:
        ts_type, ts = message.timestamp()
        if ts_type and ts < start_ms:
            scan.seen.skipped_before_window += 1  # an older timestamp after the start offset
            return
        decoded = decode_value(message.value(), meta.value_format, registry)
        if decoded.problem and len(scan.problems) < 20:
            scan.problems.append(
                f"partition {message.partition()} offset {message.offset()}: {decoded.problem}"
            )
        subject = message_subject(message, decoded.value)
        verdict: Verdict = criteria.judge(subject)
        brief = {
            "partition": subject["partition"],
            "offset": subject["offset"],
            "key": preview(subject["key"], 80),
            "value": preview(subject["value"], 200),
        }
        scan.seen.record(subject, verdict, brief)
        if verdict.matched:
            scan.found = {**subject, "valueFormat": decoded.format}
            if decoded.schema_id is not None:
                scan.found["schemaId"] = decoded.schema_id

    # ---- ACTION: publish -----------------------------------------------------------------------

    def _publish(
        self, step: ScenarioStepSpec, run: StepRunContext, scope: TemplateScope, result: StepResultData
    ) -> None:
        meta = parse_meta(KafkaPublishMeta, step)
        run.environment.profile("kafka", meta.cluster_alias)
        topic = str(render_value(meta.topic, scope, "/action/meta/topic"))
        key = render_value(meta.key_expression, scope, "/action/meta/keyExpression")
        if meta.value_template is not None:
            value = render_value(meta.value_template, scope, "/action/meta/valueTemplate")
        else:
            value = render_value(step.action.input_template or None, scope, "/action/inputTemplate")
        headers = render_value(meta.headers, scope, "/action/meta/headers") or {}
        try:
            payload = encode_value(value, meta.value_format)
        except ValueError as exc:
            raise invalid("INVALID_VALUE", str(exc), pointer="/action/meta/valueFormat") from None
        contract = self._contract(step, run, topic)
        notes: list[Violation] = []
        if contract is not None:
            spec, operation = contract
            notes = self.validator.validate_request(spec, operation, value)
            if notes and not step.negative:
                result.request = {"topic": topic, "key": key, "value": preview(value, 2000)}
                raise StepFailed(*notes)
        shared = kafka_client.producer(run, meta.cluster_alias, scope, self.plugin_id)
        record: dict[str, Any] = {
            "topic": topic,
            "key": key,
            "headers": headers,
            "value": preview(value, 2000),
        }
        if notes:
            record["contractNotes"] = [v.to_json_dict() for v in notes]  # a negative test publishes anyway
        result.request = record
        delivered = threading.Event()
        report: dict[str, Any] = {}

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            report["error"] = error
            if error is None:
                report["partition"] = message.partition()
                report["offset"] = message.offset()
                report["timestamp"] = message.timestamp()[1]
            delivered.set()

        kwargs: dict[str, Any] = {
            "value": payload,
            "key": encode_text(key),
            "headers": [(str(k), encode_text(v)) for k, v in headers.items()],
            "on_delivery": on_delivery,
        }
        if meta.partition is not None:
            kwargs["partition"] = meta.partition
        try:
            shared.producer.produce(topic, **kwargs)
        except (KafkaException, BufferError) as exc:
            raise StepFailed(
                violation(NOT_FOUND, "PUBLISH_FAILED", f"cannot publish to {topic!r}: {exc}", topic=topic)
            ) from None
        if step.action.mode == ActionMode.FIRE_AND_FORGET:
            shared.producer.poll(0)
            result.kafka_message = {"topic": topic, "key": key, "headers": headers, "delivery": "not awaited"}
            return
        deadline = time.monotonic() + min(
            meta.timeout_ms / 1000, step_timeout_s(run, meta.timeout_ms) or 0.001
        )
        cancelled = cancel_check(run)
        while not delivered.is_set() and time.monotonic() < deadline and not cancelled():
            shared.producer.poll(0.05)
        if not delivered.is_set():
            raise StepFailed(
                violation(
                    ViolationType.TIMEOUT,
                    "DELIVERY_TIMEOUT",
                    f"no delivery report for the message to {topic!r} within {meta.timeout_ms} ms",
                    topic=topic,
                )
            )
        error = report.get("error")
        if error is not None:
            raise StepFailed(
                violation(
                    NOT_FOUND,
                    "PUBLISH_FAILED",
                    f"the broker refused the message to {topic!r}: {error.name()} ({error.str()})",
                    topic=topic,
                    error=error.name(),
                )
            )
        result.kafka_message = {
            "topic": topic,
            "partition": report["partition"],
            "offset": report["offset"],
            "timestamp": report["timestamp"],
            "key": key,
            "headers": headers,
            "value": preview(value, 2000),
        }
