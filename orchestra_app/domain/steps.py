"""Scenario steps, run results and violations (seed sections 4.5 and 4.8)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field

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


class StepExpectations(DomainModel):
    expected_status_code: int | None = None
    business_rules: dict[str, Any] | list[Any] = Field(default_factory=list)
    schema_refs: dict[str, Any] | list[Any] = Field(default_factory=list)


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


class Violation(DomainModel):
    type: ViolationType
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


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
