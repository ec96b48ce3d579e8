"""Scenario steps, run results and violations (seed sections 4.5 and 4.8)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field, field_validator

from orchestra_app.domain.model import DomainModel


class StepKind(StrEnum):
    ACTION = "ACTION"
    ASSERTION = "ASSERTION"


class ChannelType(StrEnum):
    HTTP_REST = "HTTP_REST"
    KAFKA = "KAFKA"
    GRPC = "GRPC"
    DB = "DB"
    QUEUE = "QUEUE"


class ActionMode(StrEnum):
    SYNC = "SYNC"
    FIRE_AND_FORGET = "FIRE_AND_FORGET"


class StepStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    FLAKY = "FLAKY"


class ViolationType(StrEnum):
    HTTP_ERROR = "HTTP_ERROR"
    CONTRACT_VIOLATION = "CONTRACT_VIOLATION"
    BUSINESS_RULE_VIOLATION = "BUSINESS_RULE_VIOLATION"
    TIMEOUT = "TIMEOUT"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    DB_ASSERTION_FAILED = "DB_ASSERTION_FAILED"
    KAFKA_MESSAGE_NOT_FOUND = "KAFKA_MESSAGE_NOT_FOUND"
    QUEUE_MESSAGE_NOT_FOUND = "QUEUE_MESSAGE_NOT_FOUND"


class EndpointRef(DomainModel):
    protocol_id: str
    service_name: str
    endpoint_name: str  # operation id (HTTP), rpc (gRPC), topic/channel (Kafka), queue


class ActionDefinition(DomainModel):
    input_template: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)
    mode: ActionMode = ActionMode.SYNC


class RequestValidation(StrEnum):
    """What an HTTP step does when its request fails the spec (``action.meta.requestValidation``)."""

    BLOCK = "block"  # not sent; the request violations fail the step (the default)
    WARN = "warn"  # sent anyway; the request violations are kept as warnings beside the response's result
    OFF = "off"  # not checked


_STATUS_CLASS = re.compile(r"^[1-5]XX$", re.IGNORECASE)
_STATUS_TEMPLATE = re.compile(r"^\s*\{\{[^{}]+\}\}\s*$")
StatusItem = int | str  # 201 or "2XX"
StatusExpectation = int | str | list[StatusItem]
STATUS_FIELD = "expectedStatusCode"


def parse_status_expectation(value: Any, field: str = STATUS_FIELD) -> StatusExpectation | None:
    """One status (``201``), a list (``[200, 201]``) or a class (``"2XX"``, any case); None = no expectation.

    Returns the normalised form (ints stay ints, "201" becomes 201, classes are upper-cased, a list of
    one item stays a list); raises ValueError naming ``field`` and the offending item otherwise.
    """
    if value is None:
        return None
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{field}: an empty list expects nothing; give at least one status or a class")
        items: list[StatusItem] = []
        for i, item in enumerate(value):
            if isinstance(item, list):
                raise ValueError(f"{field}[{i}]: lists cannot be nested")
            items.append(_status_item(item, f"{field}[{i}]"))
        return items
    return _status_item(value, field)


def _status_item(value: Any, field: str) -> StatusItem:
    if isinstance(value, bool):
        raise ValueError(
            f"{field}: {value!r} is not an HTTP status; use a code such as 200, a list or a class"
        )
    if isinstance(value, int):
        if not 100 <= value <= 599:
            raise ValueError(f"{field}: {value} is not an HTTP status (100-599)")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _status_item(int(text), field)
        if _STATUS_CLASS.match(text):
            return text.upper()
        raise ValueError(
            f"{field}: {value!r} is neither a status code nor a class like '2XX' (1XX-5XX, any case)"
        )
    raise ValueError(
        f"{field}: {type(value).__name__} {value!r} is not a status; use 201, [200, 201] or '2XX'"
    )


def status_matches(expected: StatusExpectation, status: int) -> bool:
    """True when ``status`` is the expected code, one of the expected list, or in the expected class."""
    items = expected if isinstance(expected, list) else [expected]
    for item in items:
        if isinstance(item, int):
            if item == status:
                return True
        elif str(status)[:1] == item[:1]:
            return True
    return False


def describe_status_expectation(expected: StatusExpectation) -> str:
    """``201``, ``200 or 201``, ``2XX``, ``200, 201 or 4XX``."""
    items = [str(i) for i in (expected if isinstance(expected, list) else [expected])]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


class StepExpectations(DomainModel):
    # One code, a list of codes/classes or a class ("2XX"); a "{{...}}" placeholder is resolved when
    # the step runs (a data set can carry the status it expects) and checked then.
    expected_status_code: StatusExpectation | None = None
    business_rules: dict[str, Any] | list[Any] = Field(default_factory=list)
    schema_refs: dict[str, Any] | list[Any] = Field(default_factory=list)

    @field_validator("expected_status_code", mode="before")
    @classmethod
    def _check_status(cls, value: Any) -> Any:
        if isinstance(value, str) and _STATUS_TEMPLATE.match(value):
            return value  # checked once rendered
        return parse_status_expectation(value)


class ScenarioStepSpec(DomainModel):
    """A step as the executor sees it (the table row minus storage columns)."""

    id: UUID | None = None
    order_index: int = 0
    alias: str
    name: str = ""
    kind: StepKind = StepKind.ACTION
    channel_type: ChannelType = ChannelType.HTTP_REST
    endpoint_ref: EndpointRef | None = None
    action: ActionDefinition = Field(default_factory=ActionDefinition)
    expectations: StepExpectations = Field(default_factory=StepExpectations)
    source_node_id: str | None = None  # the process node this step came from
    negative: bool = False  # a negative test: invalid requests are sent anyway


class Severity(StrEnum):
    ERROR = "error"  # fails the step
    WARNING = "warning"  # reported beside the result; the step can still pass


class Violation(DomainModel):
    type: ViolationType
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = Severity.ERROR

    @property
    def failing(self) -> bool:
        return self.severity == Severity.ERROR


def outcome(violations: list[Violation]) -> StepStatus:
    """PASSED unless a violation is an error (warnings never fail a step)."""
    return StepStatus.FAILED if any(v.failing for v in violations) else StepStatus.PASSED


class StepResultData(DomainModel):
    step_id: UUID | None = None
    step_alias: str
    status: StepStatus = StepStatus.PENDING
    duration_ms: int = 0
    actual_status_code: int | None = None
    response_body: Any = None
    response_headers: dict[str, Any] | None = None
    response_truncated: bool = False
    request: dict[str, Any] | None = None
    db_result: Any = None
    kafka_message: Any = None
    queue_message: Any = None
    violations: list[Violation] = Field(default_factory=list)
    # why the step is flaky (its outcome differed between retry attempts or across recent runs of the
    # same scenario version and data); None when it is not. A FAILED step may carry it too.
    flaky: str | None = None


class ExecutionContext(DomainModel):
    run_id: UUID | None = None
    steps_by_alias: dict[str, StepResultData] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)


class StepResultPayload(DomainModel):
    """test_step_result.payload: what a step observed (the GIN-indexed jsonb of seed 9.1)."""

    response_body: Any = None
    response_headers: dict[str, Any] | None = None
    response_truncated: bool = False
    request: dict[str, Any] | None = None
    db_result: Any = None
    kafka_message: Any = None
    queue_message: Any = None
    flaky: str | None = None  # StepResultData.flaky


class ScenarioPath(DomainModel):
    """test_scenario.path: the walk through the process graph that a scenario tests."""

    process_id: str = ""
    nodes: list[str] = Field(default_factory=list)
    flows: list[str] = Field(default_factory=list)
    decisions: dict[str, dict[str, Any]] = Field(default_factory=dict)
    note: str | None = None  # why a scenario that runs no task is in the suite


class UncoveredFlowRecord(DomainModel):
    """A sequence flow no scenario takes, with the generator's reason code (docs/scenario-generation.md)."""

    flow: str
    reason: str
    detail: str = ""


class SuiteGeneration(DomainModel):
    """scenario_suite.generation: how the suite was generated and what it covers."""

    strategy: str = "edges"
    max_scenarios: int | None = None
    max_loop: int | None = None
    coverage: dict[str, int] = Field(default_factory=dict)
    capped: bool = False
    path_count: str = "0"  # may exceed 64 bits, so kept as text
    warnings: list[str] = Field(default_factory=list)
    uncovered_flows: list[UncoveredFlowRecord] = Field(default_factory=list)
    # The suite's default for its HTTP steps' request check; a step's action.meta.requestValidation wins
    # (see with_suite_defaults). None: the environment's plugin setting, else "block".
    request_validation: RequestValidation | None = None


def with_suite_defaults(step: ScenarioStepSpec, generation: SuiteGeneration | None) -> ScenarioStepSpec:
    """The step as run inside its suite: suite-level defaults fill what the step's meta leaves unset."""
    if generation is None or generation.request_validation is None:
        return step
    if "requestValidation" in step.action.meta:
        return step
    meta = {**step.action.meta, "requestValidation": generation.request_validation.value}
    return step.model_copy(update={"action": step.action.model_copy(update={"meta": meta})})
