"""SQLModel tables: the seed's domain model (section 4) under the table names of section 9.1.

Every tenant-owned row carries a mandatory tenant_id; flexible shapes are jsonb on PostgreSQL and
JSON on SQLite and are validated by the pydantic models of orchestra_app.domain before storing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestra_app.db.types import JSONB_OR_JSON, NAMING_CONVENTION, enum_type, utcnow
from orchestra_app.domain.graph import SourceType
from orchestra_app.domain.runs import RunMode, RunStatus
from orchestra_app.domain.steps import ChannelType, StepKind, StepStatus
from orchestra_app.domain.tenancy import Role

SQLModel.metadata.naming_convention = NAMING_CONVENTION


class ArtifactStatus(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    DEPRECATED = "DEPRECATED"


class DataSetScope(StrEnum):
    GLOBAL = "GLOBAL"
    SUITE = "SUITE"
    SCENARIO = "SCENARIO"


class DataSetOrigin(StrEnum):
    MANUAL = "MANUAL"
    AI_GENERATED = "AI_GENERATED"
    IMPORTED = "IMPORTED"


def _id() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def _tenant() -> Any:
    return Field(foreign_key="tenant.id", index=True, nullable=False)


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False)


# 4.1 Tenants and users -------------------------------------------------------------------------


class Tenant(SQLModel, table=True):
    __tablename__ = "tenant"

    id: uuid.UUID = _id()
    name: str = Field(max_length=200, unique=True)
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)  # TenantSettings
    created_at: datetime = _created_at()


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: uuid.UUID = _id()
    external_id: str = Field(max_length=255, unique=True)
    email: str = Field(max_length=320)
    display_name: str = Field(max_length=200)
    created_at: datetime = _created_at()


class UserTenantRole(SQLModel, table=True):
    __tablename__ = "user_tenant_role"

    user_id: uuid.UUID = Field(foreign_key="user.id", primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", primary_key=True)
    role: Role = Field(sa_type=enum_type(Role), primary_key=True)


# 4.2 Processes and versions ----------------------------------------------------------------------


class Process(SQLModel, table=True):
    __tablename__ = "process"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    key: str = Field(max_length=200)
    name: str = Field(default="", max_length=300)
    created_at: datetime = _created_at()
    created_by: uuid.UUID | None = Field(default=None)


class ProcessVersion(SQLModel, table=True):
    __tablename__ = "process_version"
    __table_args__ = (sa.UniqueConstraint("process_id", "version"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    process_id: uuid.UUID = Field(foreign_key="process.id", index=True)
    version: int
    source_type: SourceType = Field(sa_type=enum_type(SourceType))
    source_uri: str = Field(default="", max_length=1000)
    control_flow_graph: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    is_published: bool = Field(default=False)
    status: ArtifactStatus = Field(default=ArtifactStatus.DRAFT, sa_type=enum_type(ArtifactStatus))
    created_at: datetime = _created_at()
    created_by: uuid.UUID | None = Field(default=None)


# 4.3 Specs -------------------------------------------------------------------------------------


class ProtocolSpec(SQLModel, table=True):
    __tablename__ = "protocol_spec"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "protocol_id", "service_name", "version"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    protocol_id: str = Field(max_length=50)
    service_name: str = Field(max_length=200)
    version: str = Field(max_length=100)
    raw_spec_uri: str = Field(default="", max_length=1000)
    parsed_summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    status: ArtifactStatus = Field(default=ArtifactStatus.DRAFT, sa_type=enum_type(ArtifactStatus))
    created_at: datetime = _created_at()
    created_by: uuid.UUID | None = Field(default=None)


# 4.4 Suites and scenarios ----------------------------------------------------------------------


class ScenarioSuite(SQLModel, table=True):
    __tablename__ = "scenario_suite"

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    process_id: uuid.UUID = Field(foreign_key="process.id", index=True)
    process_version: int
    name: str = Field(max_length=300)
    tags: list[str] = Field(default_factory=list, sa_type=JSONB_OR_JSON)
    generation: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)  # strategy, coverage
    created_at: datetime = _created_at()
    created_by: uuid.UUID | None = Field(default=None)


class SuiteSpec(SQLModel, table=True):
    """The specs a suite binds to (scoped binding): at most one version per (protocol, service)."""

    __tablename__ = "suite_spec"

    suite_id: uuid.UUID = Field(foreign_key="scenario_suite.id", primary_key=True)
    spec_id: uuid.UUID = Field(foreign_key="protocol_spec.id", primary_key=True, index=True)
    tenant_id: uuid.UUID = _tenant()
    created_at: datetime = _created_at()
    created_by: uuid.UUID | None = Field(default=None)


class TestScenario(SQLModel, table=True):
    __test__: ClassVar[bool] = False  # not a pytest test class
    __tablename__ = "test_scenario"
    __table_args__ = (sa.UniqueConstraint("suite_id", "key", "version"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    suite_id: uuid.UUID = Field(foreign_key="scenario_suite.id", index=True)
    key: str = Field(max_length=100)
    name: str = Field(max_length=500)
    version: int = Field(default=1)
    status: ArtifactStatus = Field(default=ArtifactStatus.DRAFT, sa_type=enum_type(ArtifactStatus))
    tags: list[str] = Field(default_factory=list, sa_type=JSONB_OR_JSON)
    active: bool = Field(default=True)
    path: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)  # nodes, flows, decisions
    created_at: datetime = _created_at()
    created_by: uuid.UUID | None = Field(default=None)
    updated_at: datetime = _created_at()
    updated_by: uuid.UUID | None = Field(default=None)


class ScenarioStep(SQLModel, table=True):
    __tablename__ = "scenario_step"
    __table_args__ = (sa.UniqueConstraint("scenario_id", "order_index"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    scenario_id: uuid.UUID = Field(foreign_key="test_scenario.id", index=True)
    order_index: int
    alias: str = Field(max_length=200)
    name: str = Field(default="", max_length=500)
    kind: StepKind = Field(sa_type=enum_type(StepKind))
    channel_type: ChannelType = Field(sa_type=enum_type(ChannelType))
    endpoint_ref: dict[str, Any] | None = Field(default=None, sa_type=JSONB_OR_JSON)  # EndpointRef
    action: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)  # ActionDefinition
    expectations: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)  # StepExpectations
    source_node_id: str | None = Field(default=None, max_length=300)


# 4.6 Test data -----------------------------------------------------------------------------------


class TestDataSet(SQLModel, table=True):
    __test__: ClassVar[bool] = False  # not a pytest test class
    __tablename__ = "test_data_set"

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    scope: DataSetScope = Field(default=DataSetScope.GLOBAL, sa_type=enum_type(DataSetScope))
    suite_id: uuid.UUID | None = Field(default=None, foreign_key="scenario_suite.id")
    scenario_id: uuid.UUID | None = Field(default=None, foreign_key="test_scenario.id")
    name: str = Field(max_length=300)
    tags: list[str] = Field(default_factory=list, sa_type=JSONB_OR_JSON)
    origin: DataSetOrigin = Field(default=DataSetOrigin.MANUAL, sa_type=enum_type(DataSetOrigin))
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    created_at: datetime = _created_at()
    created_by: uuid.UUID | None = Field(default=None)


# 4.7 Environments and connectors -------------------------------------------------------------------


class DbConnectionProfile(SQLModel, table=True):
    __tablename__ = "db_connection_profile"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "alias"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    alias: str = Field(max_length=100)
    jdbc_url: str = Field(max_length=1000)
    username_ref: str = Field(default="", max_length=300)  # a secret reference, never the value
    password_ref: str = Field(default="", max_length=300)
    default_schema: str | None = Field(default=None, max_length=200)
    # The rest of the typed DbProfile (plugins/base.py): literal username, timeouts, pool, maxRows,
    # driver options; secrets inside are references. See services/environments.py.
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    created_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: uuid.UUID | None = Field(default=None)


class KafkaClusterProfile(SQLModel, table=True):
    __tablename__ = "kafka_cluster_profile"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "alias"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    alias: str = Field(max_length=100)
    bootstrap_servers: str = Field(max_length=1000)
    security_profile_ref: str | None = Field(default=None, max_length=300)
    # The rest of the typed KafkaProfile: security (secret values as references), schema registry,
    # client id, timeouts, librdkafka options.
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    created_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: uuid.UUID | None = Field(default=None)


class QueueBrokerProfile(SQLModel, table=True):
    __tablename__ = "queue_broker_profile"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "alias"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    alias: str = Field(max_length=100)
    kind: str = Field(max_length=50)  # rabbitmq, ...
    endpoint: str = Field(max_length=1000)
    credentials_ref: str | None = Field(default=None, max_length=300)
    # The rest of the typed QueueProfile: literal username, TLS, timeouts, tap bound, options.
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    created_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: uuid.UUID | None = Field(default=None)


class Environment(SQLModel, table=True):
    __tablename__ = "environment"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    name: str = Field(max_length=200)
    db_profiles: dict[str, str] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)  # alias -> profile id
    kafka_profiles: dict[str, str] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    queue_profiles: dict[str, str] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    # serviceName -> {baseUrl, auth, timeouts, tls}: where HTTP/gRPC steps are sent
    services: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    # Beyond the seed (services/environments.py, docs/environments.md):
    description: str = Field(default="", max_length=2000, sa_column_kwargs={"server_default": ""})
    variables: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)  # {{env.*}}
    plugin_config: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    # secret name -> where a worker reads it: {"env": VAR} or {"file": PATH}; never the value
    secrets: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})  # optimistic edits
    created_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: uuid.UUID | None = Field(default=None)
    updated_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: uuid.UUID | None = Field(default=None)


# 4.8 Runs and results --------------------------------------------------------------------------------


class TestRun(SQLModel, table=True):
    __test__: ClassVar[bool] = False  # not a pytest test class
    __tablename__ = "test_run"
    __table_args__ = (
        sa.Index("ix_test_run_tenant_scenario_started", "tenant_id", "scenario_id", "started_at"),
        # admission (active runs per tenant), PENDING promotion and the runs list
        sa.Index("ix_test_run_tenant_status_created", "tenant_id", "status", "created_at"),
        # the reaper: IN_PROGRESS runs whose heartbeat stopped, QUEUED runs whose message was lost
        sa.Index("ix_test_run_status_heartbeat", "status", "heartbeat_at"),
    )

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", nullable=False)
    scenario_id: uuid.UUID = Field(foreign_key="test_scenario.id")
    scenario_version: int
    data_set_id: uuid.UUID | None = Field(default=None, foreign_key="test_data_set.id")
    environment_id: uuid.UUID | None = Field(default=None, foreign_key="environment.id")
    mode: RunMode = Field(default=RunMode.RUN_ALL_STEPS, sa_type=enum_type(RunMode))
    start_step_index: int | None = Field(default=None)
    status: RunStatus = Field(default=RunStatus.PENDING, sa_type=enum_type(RunStatus))
    created_at: datetime = _created_at()
    started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_by: uuid.UUID | None = Field(default=None)
    triggered_by: str = Field(default="user", max_length=100)  # user, ci, schedule
    # Engine columns (beyond the seed, see docs/engine.md):
    suite_id: uuid.UUID | None = Field(default=None, foreign_key="scenario_suite.id", index=True)
    batch_id: uuid.UUID | None = Field(default=None, index=True)  # one launch of many scenarios
    from_run_id: uuid.UUID | None = Field(default=None, foreign_key="test_run.id")  # FROM_STEP/SINGLE_STEP
    pinned: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)  # RunSnapshot
    worker_id: str | None = Field(default=None, max_length=200)
    heartbeat_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    dispatched_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    attempt: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    cancel_requested: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    event_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # last persisted event
    error: str | None = Field(default=None, sa_type=sa.Text)


class TestStepResult(SQLModel, table=True):
    __test__: ClassVar[bool] = False  # not a pytest test class
    __tablename__ = "test_step_result"
    __table_args__ = (
        sa.Index("ix_test_step_result_payload_gin", "payload", postgresql_using="gin"),
        # a redelivered run message can never record a step twice
        sa.UniqueConstraint("run_id", "order_index"),
    )

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    run_id: uuid.UUID = Field(foreign_key="test_run.id", index=True)
    step_id: uuid.UUID | None = Field(default=None)
    step_alias: str = Field(max_length=200)
    order_index: int = Field(default=0)
    status: StepStatus = Field(default=StepStatus.PENDING, sa_type=enum_type(StepStatus))
    duration_ms: int = Field(default=0, sa_type=sa.BigInteger)
    actual_status_code: int | None = Field(default=None)
    # responseBody, responseHeaders, dbResult, kafkaMessage, queueMessage, request (StepResultData)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    violations: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB_OR_JSON)
    created_at: datetime = _created_at()
    attempt: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # the run attempt that ran it
    seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # its StepFinished event's seq
    reused_from_run_id: uuid.UUID | None = Field(default=None)  # FROM_STEP: copied from this run


class TestRunReport(SQLModel, table=True):
    __test__: ClassVar[bool] = False  # not a pytest test class
    __tablename__ = "test_run_report"

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = _tenant()
    run_id: uuid.UUID = Field(foreign_key="test_run.id", index=True, unique=True)
    summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    recommendations: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB_OR_JSON)
    created_at: datetime = _created_at()


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_tenant_created", "tenant_id", "created_at"),)

    id: uuid.UUID = _id()
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", nullable=False)
    user_id: uuid.UUID | None = Field(default=None)
    action: str = Field(max_length=100)
    entity_type: str = Field(max_length=100)
    entity_id: str | None = Field(default=None, max_length=100)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB_OR_JSON)
    created_at: datetime = _created_at()


TENANT_OWNED = (
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioSuite,
    SuiteSpec,
    TestScenario,
    ScenarioStep,
    TestDataSet,
    DbConnectionProfile,
    KafkaClusterProfile,
    QueueBrokerProfile,
    Environment,
    TestRun,
    TestStepResult,
    TestRunReport,
    AuditLog,
)
