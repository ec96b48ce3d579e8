"""Run use cases (seed 5.1): create runs, list them, read one with its step results, cancel one.

``create_runs`` checks the request (every bad value is refused with the field named, nothing is
stored), resolves the scenarios (suite, scenario ids/keys or a tag), the data set (``dataSetId``,
or ``dataSetTag`` with the most specific scope winning: SCENARIO, SUITE, GLOBAL) and the
environment, pins what each run needs (steps, data, environment, spec ids) in ``test_run.pinned``,
stores one TestRun per scenario as QUEUED (PENDING beyond the tenant's ``maxParallelRuns``) under
one ``batch_id``, and after COMMIT enqueues a message carrying only the run id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from sqlalchemy.orm import defer
from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import (
    Environment,
    Process,
    ProtocolSpec,
    ScenarioStep,
    ScenarioSuite,
    SuiteSpec,
    TestDataSet,
    TestRun,
    TestScenario,
    TestStepResult,
)
from orchestra_app.db.types import utcnow
from orchestra_app.domain.errors import Conflict, NotFound, ValidationFailed
from orchestra_app.domain.model import DomainModel
from orchestra_app.domain.runs import TERMINAL_STATUSES, PinnedEnvironment, RunMode, RunSnapshot, RunStatus
from orchestra_app.domain.steps import (
    ActionDefinition,
    EndpointRef,
    ScenarioStepSpec,
    StepExpectations,
    StepResultData,
    SuiteGeneration,
    Violation,
    with_suite_defaults,
)
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.engine.events import RunCancelled, RunQueued
from orchestra_app.engine.runner import plan_steps
from orchestra_app.plugins.base import PROFILE_KINDS, ServiceConfig
from orchestra_app.services import audit
from orchestra_app.services.environments import pin_environment
from orchestra_app.services.guards import require
from orchestra_app.services.hooks import after_commit
from orchestra_app.services.run_queue import (
    Announcement,
    active_runs,
    announce_after_commit,
    lock_admission,
    promote_pending,
    publish,
    require_dispatcher,
)

MAX_RUNS_PER_REQUEST = 1000
MAX_PAGE = 500
READ_ROLES = (Role.VIEWER, Role.TEST_RUNNER, Role.TEST_DESIGNER)


# ---- the request -----------------------------------------------------------------------------------


class RunRequest(BaseModel):
    """Body of ``POST /api/v1/testruns`` (camelCase) and the argument of ``create_runs``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    suite_id: UUID | None = None
    suite_key: str | None = Field(
        default=None, min_length=1, max_length=200
    )  # a process key: its latest suite
    scenario_ids: list[UUID] | None = Field(default=None, min_length=1, max_length=MAX_RUNS_PER_REQUEST)
    scenario_keys: list[str] | None = Field(default=None, min_length=1, max_length=MAX_RUNS_PER_REQUEST)
    tag: str | None = Field(default=None, min_length=1, max_length=100)
    data_set_id: UUID | None = None
    data_set_tag: str | None = Field(default=None, min_length=1, max_length=100)
    environment_id: UUID | None = None
    environment_name: str | None = Field(default=None, min_length=1, max_length=200)
    mode: RunMode = RunMode.RUN_ALL_STEPS
    start_step_index: int | None = Field(default=None, ge=0, le=100_000)
    from_run_id: UUID | None = None
    variables: dict[str, Any] = Field(default_factory=dict)  # extra run variables ({{name.*}})
    # SINGLE_STEP debugging: earlier steps' results by alias, as {{step.<alias>.response...}} sees them
    step_results: dict[str, StepResultData] = Field(default_factory=dict, max_length=1000)
    step_timeout_s: float | None = Field(default=None, gt=0, le=86_400)
    run_timeout_s: float | None = Field(default=None, gt=0, le=7 * 86_400)
    triggered_by: str = Field(default="user", min_length=1, max_length=100)

    @field_validator("step_results", mode="before")
    @classmethod
    def _alias_from_key(cls, value: Any) -> Any:
        # the key is the alias: {"create": {"responseBody": {...}}}
        if isinstance(value, dict):
            return {
                alias: {**result, "stepAlias": alias} if isinstance(result, dict) else result
                for alias, result in value.items()
            }
        return value

    @field_validator("variables")
    @classmethod
    def _no_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted({"data", "run", "step", "env"} & set(value))
        if reserved:
            raise ValueError(f"variables may not be named {', '.join(reserved)} (reserved roots)")
        return value


def parse_run_request(data: Any) -> RunRequest:
    """A RunRequest from JSON-like data; a bad value is a ValidationFailed naming the field."""
    if isinstance(data, RunRequest):
        return data
    if not isinstance(data, Mapping):
        raise ValidationFailed("the run request must be a JSON object", field="body")
    try:
        return RunRequest.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        raise ValidationFailed(
            f"{message} ({exc.error_count()} problem(s) in the request)", field=where
        ) from None


# ---- views -----------------------------------------------------------------------------------------


class TestRunSummary(DomainModel):
    __test__: ClassVar[bool] = False  # not a pytest test class

    id: UUID
    batch_id: UUID | None = None
    suite_id: UUID | None = None
    scenario_id: UUID
    scenario_key: str = ""
    scenario_name: str = ""
    scenario_version: int
    data_set_id: UUID | None = None
    data_set_name: str | None = None
    environment_id: UUID | None = None
    environment_name: str | None = None
    mode: RunMode
    start_step_index: int | None = None
    from_run_id: UUID | None = None
    status: RunStatus
    cancel_requested: bool = False
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    triggered_by: str = "user"
    attempt: int = 0
    worker_id: str | None = None
    error: str | None = None
    step_count: int = 0
    counts: dict[str, int] = Field(default_factory=dict)  # step status -> steps recorded


class StepResultView(DomainModel):
    order_index: int
    alias: str
    name: str = ""
    kind: str = "ACTION"
    channel_type: str = "HTTP_REST"
    status: str = "PENDING"  # PENDING: no result recorded (yet)
    duration_ms: int = 0
    actual_status_code: int | None = None
    violations: list[Violation] = Field(default_factory=list)
    response_body: Any = None
    response_headers: dict[str, Any] | None = None
    response_truncated: bool = False
    request: dict[str, Any] | None = None
    db_result: Any = None
    kafka_message: Any = None
    queue_message: Any = None
    attempt: int | None = None
    reused_from_run_id: UUID | None = None
    finished_at: datetime | None = None
    flaky: str | None = None  # why the step is flaky (retry attempts or recent runs differ); None if not


class FlakyStep(DomainModel):
    order_index: int
    alias: str
    status: str
    reason: str


class TestRunDetail(TestRunSummary):
    steps: list[StepResultView] = Field(default_factory=list)
    flaky_steps: list[FlakyStep] = Field(default_factory=list)  # which steps are flaky and why


class RunPage(DomainModel):
    items: list[TestRunSummary]
    total: int
    limit: int
    offset: int


class CreateRunsResult(DomainModel):
    batch_id: UUID
    runs: list[TestRunSummary]
    queued: int = 0
    pending: int = 0


def _rows_changed(result: Any) -> int:
    return int(result.rowcount)


def summary_of(run: TestRun, counts: Mapping[str, int] | None = None) -> TestRunSummary:
    pinned = run.pinned or {}
    env = pinned.get("environment") or {}
    return TestRunSummary(
        id=run.id,
        batch_id=run.batch_id,
        suite_id=run.suite_id,
        scenario_id=run.scenario_id,
        scenario_key=str(pinned.get("scenarioKey", "")),
        scenario_name=str(pinned.get("scenarioName", "")),
        scenario_version=run.scenario_version,
        data_set_id=run.data_set_id,
        data_set_name=pinned.get("dataSetName"),
        environment_id=run.environment_id,
        environment_name=env.get("name")
        if run.environment_id or env.get("name", "default") != "default"
        else None,
        mode=run.mode,
        start_step_index=run.start_step_index,
        from_run_id=run.from_run_id,
        status=run.status,
        cancel_requested=run.cancel_requested,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        triggered_by=run.triggered_by,
        attempt=run.attempt,
        worker_id=run.worker_id,
        error=run.error,
        step_count=_planned_count(run),
        counts=dict(counts or {}),
    )


def _planned_count(run: TestRun) -> int:
    steps = (run.pinned or {}).get("steps", [])
    return 1 if run.mode == RunMode.SINGLE_STEP and steps else len(steps)


# ---- resolving what to run -------------------------------------------------------------------------


M = TypeVar("M", ScenarioSuite, Environment, TestDataSet, TestRun)


def _tenant_row(
    session: Session, principal: Principal, model: type[M], row_id: UUID, *, field: str, what: str
) -> M:
    """The caller's tenant's row ``row_id`` of ``model``; NotFound naming ``field`` otherwise."""
    row = session.exec(
        select(model).where(model.id == row_id, model.tenant_id == principal.tenant_id)  # type: ignore[arg-type]
    ).first()
    if row is None:
        raise NotFound(f"{what} {row_id} not found", field=field)
    return row


def _latest_versions(scenarios: Sequence[TestScenario]) -> list[TestScenario]:
    """One row per (suite, key): the highest version (older versions stay for old runs)."""
    best: dict[tuple[UUID, str], TestScenario] = {}
    for s in scenarios:
        key = (s.suite_id, s.key)
        if key not in best or s.version > best[key].version:
            best[key] = s
    return sorted(best.values(), key=lambda s: (str(s.suite_id), s.key))


def _suite(session: Session, principal: Principal, req: RunRequest) -> ScenarioSuite | None:
    if req.suite_id is not None and req.suite_key is not None:
        raise ValidationFailed("give suiteId or suiteKey, not both", field="suiteKey")
    if req.suite_id is not None:
        return _tenant_row(session, principal, ScenarioSuite, req.suite_id, field="suiteId", what="suite")
    if req.suite_key is not None:
        suite = session.exec(
            select(ScenarioSuite)
            .join(Process, col(Process.id) == col(ScenarioSuite.process_id))
            .where(Process.tenant_id == principal.tenant_id, Process.key == req.suite_key)
            .order_by(col(ScenarioSuite.process_version).desc(), col(ScenarioSuite.created_at).desc())
        ).first()
        if suite is None:
            raise NotFound(f"no suite for process key {req.suite_key!r}", field="suiteKey")
        return suite
    return None


def _scenarios(
    session: Session, principal: Principal, req: RunRequest, suite: ScenarioSuite | None
) -> list[TestScenario]:
    tenant = principal.tenant_id
    if req.scenario_ids is not None and req.scenario_keys is not None:
        raise ValidationFailed("give scenarioIds or scenarioKeys, not both", field="scenarioKeys")
    if req.scenario_ids is not None:
        rows = {
            s.id: s
            for s in session.exec(
                select(TestScenario).where(
                    TestScenario.tenant_id == tenant, col(TestScenario.id).in_(req.scenario_ids)
                )
            ).all()
        }
        chosen: list[TestScenario] = []
        for i, scenario_id in enumerate(req.scenario_ids):
            row = rows.get(scenario_id)
            if row is None:
                raise NotFound(f"scenario {scenario_id} not found", field=f"scenarioIds.{i}")
            if suite is not None and row.suite_id != suite.id:
                raise ValidationFailed(
                    f"scenario {row.key} is not in suite {suite.name!r}", field=f"scenarioIds.{i}"
                )
            if row not in chosen:
                chosen.append(row)
        return _with_tag(chosen, req, session, suite)
    if req.scenario_keys is not None:
        if suite is None:
            raise ValidationFailed("scenarioKeys need a suiteId or suiteKey", field="scenarioKeys")
        in_suite = _latest_versions(
            session.exec(
                select(TestScenario).where(
                    TestScenario.tenant_id == tenant, TestScenario.suite_id == suite.id
                )
            ).all()
        )
        by_key = {s.key: s for s in in_suite}
        chosen = []
        for i, key in enumerate(req.scenario_keys):
            if key not in by_key:
                known = ", ".join(sorted(by_key)[:20]) or "none"
                raise NotFound(
                    f"suite {suite.name!r} has no scenario {key!r} (has: {known})", field=f"scenarioKeys.{i}"
                )
            if by_key[key] not in chosen:
                chosen.append(by_key[key])
        return _with_tag(chosen, req, session, suite)
    stmt = select(TestScenario).where(TestScenario.tenant_id == tenant, col(TestScenario.active))
    if suite is not None:
        stmt = stmt.where(TestScenario.suite_id == suite.id)
    elif req.tag is None:
        return []
    return _with_tag(_latest_versions(session.exec(stmt).all()), req, session, suite)


def _with_tag(
    scenarios: list[TestScenario], req: RunRequest, session: Session, suite: ScenarioSuite | None
) -> list[TestScenario]:
    if req.tag is None:
        return scenarios
    suite_tags: dict[UUID, list[str]] = {}
    suite_ids = {s.suite_id for s in scenarios}
    if suite_ids:
        for sid, tags in session.exec(
            select(ScenarioSuite.id, ScenarioSuite.tags).where(col(ScenarioSuite.id).in_(suite_ids))
        ).all():
            suite_tags[sid] = list(tags or [])
    return [s for s in scenarios if req.tag in (s.tags or []) or req.tag in suite_tags.get(s.suite_id, [])]


def _environment(session: Session, principal: Principal, req: RunRequest) -> Environment | None:
    tenant = principal.tenant_id
    if req.environment_id is not None and req.environment_name is not None:
        raise ValidationFailed("give environmentId or environmentName, not both", field="environmentName")
    if req.environment_id is not None:
        return _tenant_row(
            session, principal, Environment, req.environment_id, field="environmentId", what="environment"
        )
    if req.environment_name is not None:
        env = session.exec(
            select(Environment).where(
                Environment.name == req.environment_name, Environment.tenant_id == tenant
            )
        ).first()
        if env is None:
            raise NotFound(f"environment {req.environment_name!r} not found", field="environmentName")
        return env
    envs = session.exec(select(Environment).where(Environment.tenant_id == tenant).limit(21)).all()
    if len(envs) > 1:
        names = ", ".join(sorted(e.name for e in envs)[:20])
        raise ValidationFailed(
            "the tenant has several environments; choose one with environmentId or environmentName "
            f"({names})",
            field="environmentId",
        )
    return envs[0] if envs else None


def _pin_environment(session: Session, env: Environment | None) -> PinnedEnvironment:
    """The environment as a run needs it (services/environments.py: services, profiles by alias,
    variables, plugin settings, secret sources; secrets stay references)."""
    return pin_environment(session, env)


def _check_environment(pinned: PinnedEnvironment) -> None:
    """Refuses an environment a worker could not build, naming the service or profile at fault."""

    def refuse(what: str, exc: ValidationError) -> None:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(
            f"environment {pinned.name!r}: {what}: {where + ': ' if where else ''}{first['msg']}",
            field="environmentId",
        )

    for name, config in pinned.services.items():
        try:
            ServiceConfig.model_validate(config)
        except ValidationError as exc:
            refuse(f"service {name!r}", exc)
    for kind, by_alias in pinned.profiles.items():
        model = PROFILE_KINDS.get(kind)
        if model is None:
            raise ValidationFailed(
                f"environment {pinned.name!r}: unknown connection profile kind {kind!r} "
                f"(known: {', '.join(sorted(PROFILE_KINDS))})",
                field="environmentId",
            )
        for alias, profile in by_alias.items():
            try:
                model.model_validate(profile)
            except ValidationError as exc:
                refuse(f"{kind} profile {alias!r}", exc)


_SCOPE_RANK = {"SCENARIO": 0, "SUITE": 1, "GLOBAL": 2}


def _applies(ds: TestDataSet, scenario: TestScenario, keys: Mapping[UUID, tuple[UUID, str]]) -> bool:
    scope = str(ds.scope)
    if scope == "GLOBAL":
        return True
    if scope == "SUITE":
        return ds.suite_id == scenario.suite_id
    # SCENARIO: that scenario, or another version of it (same suite and key)
    return ds.scenario_id == scenario.id or keys.get(ds.scenario_id or uuid4()) == (
        scenario.suite_id,
        scenario.key,
    )


def _data_sets(
    session: Session, principal: Principal, req: RunRequest, scenarios: Sequence[TestScenario]
) -> dict[UUID, TestDataSet | None]:
    tenant = principal.tenant_id
    explicit: TestDataSet | None = None
    if req.data_set_id is not None and req.data_set_tag is not None:
        raise ValidationFailed("give dataSetId or dataSetTag, not both", field="dataSetTag")
    if req.data_set_id is not None:
        explicit = _tenant_row(
            session, principal, TestDataSet, req.data_set_id, field="dataSetId", what="data set"
        )
        candidates = [explicit]
    else:
        candidates = list(session.exec(select(TestDataSet).where(TestDataSet.tenant_id == tenant)).all())
        if req.data_set_tag is not None:
            candidates = [d for d in candidates if req.data_set_tag in (d.tags or [])]
    scoped_ids = {d.scenario_id for d in candidates if d.scenario_id is not None}
    keys: dict[UUID, tuple[UUID, str]] = {}
    if scoped_ids:
        keys = {
            sid: (suite_id, key)
            for sid, suite_id, key in session.exec(
                select(TestScenario.id, TestScenario.suite_id, TestScenario.key).where(
                    col(TestScenario.id).in_(scoped_ids)
                )
            ).all()
        }
    chosen: dict[UUID, TestDataSet | None] = {}
    for scenario in scenarios:
        fitting = [d for d in candidates if _applies(d, scenario, keys)]
        if explicit is not None:
            if not fitting:
                where = f"suite {explicit.suite_id}" if str(explicit.scope) == "SUITE" else "another scenario"
                raise ValidationFailed(
                    f"data set {explicit.name!r} is scoped to {where}, not scenario {scenario.key}",
                    field="dataSetId",
                )
            chosen[scenario.id] = explicit
            continue
        if req.data_set_tag is None:
            # no choice given: the scenario's or suite's own data set, if it has one (never a GLOBAL one)
            fitting = [d for d in fitting if str(d.scope) != "GLOBAL"]
        if not fitting:
            if req.data_set_tag is not None:
                raise ValidationFailed(
                    f"no data set tagged {req.data_set_tag!r} applies to scenario {scenario.key} "
                    "(looked for SCENARIO, SUITE and GLOBAL scope)",
                    field="dataSetTag",
                )
            chosen[scenario.id] = None
            continue
        fitting.sort(key=lambda d: (_SCOPE_RANK.get(str(d.scope), 3), -d.created_at.timestamp()))
        chosen[scenario.id] = fitting[0]
    return chosen


def _chosen_specs_by_suite(
    session: Session, principal: Principal, suite_ids: set[UUID]
) -> dict[UUID, dict[tuple[str, str], UUID]]:
    """suite id -> (protocol, service) -> the spec chosen for that suite (suite_spec rows)."""
    out: dict[UUID, dict[tuple[str, str], UUID]] = {suite_id: {} for suite_id in suite_ids}
    if not suite_ids:
        return out
    for suite_id, spec_id, protocol, service in session.exec(
        select(SuiteSpec.suite_id, ProtocolSpec.id, ProtocolSpec.protocol_id, ProtocolSpec.service_name)
        .join(ProtocolSpec, col(ProtocolSpec.id) == col(SuiteSpec.spec_id))
        .where(SuiteSpec.tenant_id == principal.tenant_id, col(SuiteSpec.suite_id).in_(suite_ids))
    ).all():
        out[suite_id][(protocol, service)] = spec_id
    return out


def _spec_ids(
    session: Session,
    principal: Principal,
    steps: Sequence[ScenarioStepSpec],
    chosen: Mapping[tuple[str, str], UUID] | None = None,
) -> dict[str, UUID]:
    """serviceName -> the spec a run checks contracts against (spec rows are immutable, so pinning
    the id pins the contract).

    The spec chosen for the scenario's suite (``suite_spec``, what binding used) when the suite has
    one for that protocol and service; otherwise (a suite with no chosen specs, or a step bound to a
    service outside them) the newest non-deprecated spec of the step's protocol and service.
    """
    wanted = {(s.endpoint_ref.protocol_id, s.endpoint_ref.service_name) for s in steps if s.endpoint_ref}
    if not wanted:
        return {}
    out: dict[str, UUID] = {}
    for protocol, service in sorted(wanted):
        spec_id = (chosen or {}).get((protocol, service))
        if spec_id is not None:
            out.setdefault(service, spec_id)
    rest = {(protocol, service) for protocol, service in wanted if service not in out}
    if not rest:
        return out
    rows = session.exec(
        select(ProtocolSpec.id, ProtocolSpec.protocol_id, ProtocolSpec.service_name, ProtocolSpec.status)
        .where(
            ProtocolSpec.tenant_id == principal.tenant_id,
            col(ProtocolSpec.service_name).in_({service for _, service in rest}),
        )
        .order_by(col(ProtocolSpec.created_at).desc())
    ).all()
    for spec_id, protocol, service, status in rows:
        if (protocol, service) in rest and service not in out and str(status) != "DEPRECATED":
            out[service] = spec_id
    for spec_id, protocol, service, _status in rows:
        if (protocol, service) in rest and service not in out:
            out[service] = spec_id
    return out


def step_spec(row: ScenarioStep) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        id=row.id,
        order_index=row.order_index,
        alias=row.alias,
        name=row.name,
        kind=row.kind,
        channel_type=row.channel_type,
        endpoint_ref=EndpointRef.model_validate(row.endpoint_ref) if row.endpoint_ref else None,
        action=ActionDefinition.model_validate(row.action or {}),
        expectations=StepExpectations.model_validate(row.expectations or {}),
        source_node_id=row.source_node_id,
    )


def _steps(session: Session, scenarios: Sequence[TestScenario]) -> dict[UUID, list[ScenarioStepSpec]]:
    """Each scenario's steps as they run: with its suite's defaults filled in (with_suite_defaults)."""
    out: dict[UUID, list[ScenarioStepSpec]] = {s.id: [] for s in scenarios}
    suite_of = {s.id: s.suite_id for s in scenarios}
    generations = {
        suite_id: SuiteGeneration.model_validate(generation or {})
        for suite_id, generation in session.exec(
            select(ScenarioSuite.id, ScenarioSuite.generation).where(
                col(ScenarioSuite.id).in_(set(suite_of.values()))
            )
        ).all()
    }
    ids = list(out)
    for chunk in range(0, len(ids), 500):
        for row in session.exec(
            select(ScenarioStep)
            .where(col(ScenarioStep.scenario_id).in_(ids[chunk : chunk + 500]))
            .order_by(col(ScenarioStep.scenario_id), col(ScenarioStep.order_index))
        ).all():
            generation = generations.get(suite_of[row.scenario_id])
            out[row.scenario_id].append(with_suite_defaults(step_spec(row), generation))
    return out


def _from_run(
    session: Session, principal: Principal, req: RunRequest, suite: ScenarioSuite | None
) -> tuple[TestRun | None, TestScenario | None]:
    if req.from_run_id is None:
        return None, None
    run = _tenant_row(session, principal, TestRun, req.from_run_id, field="fromRunId", what="test run")
    if run.status not in TERMINAL_STATUSES:
        raise ValidationFailed(
            f"run {run.id} is {run.status.value}; reuse a run that has ended", field="fromRunId"
        )
    scenario = session.get(TestScenario, run.scenario_id)
    if scenario is None:  # pragma: no cover - FK guarantees it
        raise NotFound(f"the scenario of run {run.id} no longer exists", field="fromRunId")
    # the latest version of that scenario: a fixed step definition is what a rerun wants
    latest = _latest_versions(
        session.exec(
            select(TestScenario).where(
                TestScenario.suite_id == scenario.suite_id, TestScenario.key == scenario.key
            )
        ).all()
    )
    return run, latest[0] if latest else scenario


def _check_mode(
    req: RunRequest,
    scenarios: list[TestScenario],
    steps: Mapping[UUID, list[ScenarioStepSpec]],
    from_run: TestRun | None,
    previous_indexes: set[int],
) -> None:
    mode = req.mode
    if req.step_results and mode != RunMode.SINGLE_STEP:
        raise ValidationFailed(f"stepResults are used by SINGLE_STEP, not {mode.value}", field="stepResults")
    if mode in (RunMode.RUN_ALL_STEPS, RunMode.STOP_ON_FIRST_FAILURE):
        if req.start_step_index is not None:
            raise ValidationFailed(
                f"startStepIndex is used by SINGLE_STEP and FROM_STEP, not {mode.value}",
                field="startStepIndex",
            )
        if req.from_run_id is not None:
            raise ValidationFailed(
                f"fromRunId is used by SINGLE_STEP and FROM_STEP, not {mode.value}", field="fromRunId"
            )
        return
    if req.start_step_index is None:
        raise ValidationFailed(f"{mode.value} needs startStepIndex", field="startStepIndex")
    if mode == RunMode.FROM_STEP and from_run is None:
        raise ValidationFailed(
            "FROM_STEP needs fromRunId (the run whose results are reused)", field="fromRunId"
        )
    if len(scenarios) != 1:
        raise ValidationFailed(
            f"{mode.value} runs one scenario; the request selects {len(scenarios)}", field="scenarioIds"
        )
    scenario = scenarios[0]
    try:
        plan_steps(steps[scenario.id], mode, req.start_step_index)
    except ValidationFailed as exc:
        raise ValidationFailed(f"scenario {scenario.key}: {exc.message}", field="startStepIndex") from None
    if mode == RunMode.FROM_STEP:
        missing = sorted(
            s.order_index
            for s in steps[scenario.id]
            if s.order_index < req.start_step_index and s.order_index not in previous_indexes
        )
        if missing:
            raise ValidationFailed(
                f"run {req.from_run_id} has no result for step(s) {', '.join(map(str, missing))} "
                f"before startStepIndex {req.start_step_index}",
                field="fromRunId",
            )


def create_runs(
    *,
    session: Session,
    principal: Principal,
    request: RunRequest | Mapping[str, Any],
    environment: PinnedEnvironment | None = None,
    data: Mapping[str, Any] | None = None,
    data_name: str | None = None,
) -> CreateRunsResult:
    """Validates, pins, stores and (after COMMIT) enqueues one run per selected scenario.

    ``environment`` (Python callers only, e.g. ``orchestra run`` with an environment file) pins that
    environment as given instead of a stored one; the request must then name none. Likewise ``data``
    (e.g. ``orchestra run --data FILE``) pins that data, shown as ``data_name``, instead of a stored
    data set; the request must then name no data set.
    """
    require(principal, Role.TEST_RUNNER)
    req = parse_run_request(request)
    require_dispatcher()
    suite = _suite(session, principal, req)
    from_run, from_scenario = _from_run(session, principal, req, suite)
    scenarios = _scenarios(session, principal, req, suite)
    if from_scenario is not None:
        if not scenarios and req.suite_id is None and req.suite_key is None and req.tag is None:
            scenarios = [from_scenario]
        elif [(s.suite_id, s.key) for s in scenarios] != [(from_scenario.suite_id, from_scenario.key)]:
            raise ValidationFailed(
                f"run {req.from_run_id} ran scenario {from_scenario.key}; select that scenario only",
                field="fromRunId",
            )
    if not scenarios:
        if req.tag is not None:
            raise ValidationFailed(f"no active scenario is tagged {req.tag!r}", field="tag")
        if suite is not None:
            raise ValidationFailed(f"suite {suite.name!r} has no active scenario", field="suiteId")
        raise ValidationFailed(
            "choose what to run: suiteId, suiteKey, scenarioIds, scenarioKeys (with a suite), tag "
            "or fromRunId",
            field="suiteId",
        )
    if len(scenarios) > MAX_RUNS_PER_REQUEST:
        raise ValidationFailed(
            f"{len(scenarios)} scenarios selected; at most {MAX_RUNS_PER_REQUEST} per request",
            field="suiteId",
        )
    steps = _steps(session, scenarios)
    previous_indexes: set[int] = set()
    if from_run is not None:
        previous_indexes = set(
            session.exec(select(TestStepResult.order_index).where(TestStepResult.run_id == from_run.id)).all()
        )
    _check_mode(req, scenarios, steps, from_run, previous_indexes)
    if environment is not None:
        if req.environment_id is not None or req.environment_name is not None:
            raise ValidationFailed(
                "an environment is supplied; the request may not name a stored one", field="environmentId"
            )
        env, pinned_env = None, environment
    else:
        env = _environment(session, principal, req)
        pinned_env = _pin_environment(session, env)
    _check_environment(pinned_env)
    if data is not None:
        if req.data_set_id is not None or req.data_set_tag is not None:
            raise ValidationFailed("data is supplied; the request may not name a data set", field="dataSetId")
        data_sets: dict[UUID, TestDataSet | None] = {s.id: None for s in scenarios}
    else:
        data_sets = _data_sets(session, principal, req, scenarios)
    chosen_specs = _chosen_specs_by_suite(session, principal, {s.suite_id for s in scenarios})

    settings = lock_admission(session, principal.tenant_id)
    free = max(settings.max_parallel_runs - active_runs(session, principal.tenant_id), 0)
    batch_id = uuid4()
    now = utcnow()
    runs: list[TestRun] = []
    announcements: list[Announcement] = []
    for i, scenario in enumerate(scenarios):
        data_set = data_sets.get(scenario.id)
        snapshot = RunSnapshot(
            scenario_key=scenario.key,
            scenario_name=scenario.name,
            suite_id=scenario.suite_id,
            steps=steps[scenario.id],
            data_set_id=data_set.id if data_set else None,
            data_set_name=data_set.name if data_set else data_name if data is not None else None,
            data=dict(data_set.data) if data_set else dict(data or {}),
            environment=pinned_env,
            spec_ids=_spec_ids(session, principal, steps[scenario.id], chosen_specs.get(scenario.suite_id)),
            variables=req.variables,
            step_results=req.step_results,
            step_timeout_s=req.step_timeout_s,
            run_timeout_s=req.run_timeout_s,
        )
        status = RunStatus.QUEUED if i < free else RunStatus.PENDING
        run = TestRun(
            tenant_id=principal.tenant_id,
            scenario_id=scenario.id,
            scenario_version=scenario.version,
            suite_id=scenario.suite_id,
            batch_id=batch_id,
            data_set_id=data_set.id if data_set else None,
            environment_id=env.id if env else None,
            mode=req.mode,
            start_step_index=req.start_step_index,
            from_run_id=from_run.id if from_run else None,
            status=status,
            pinned=snapshot.to_json_dict(),
            created_by=principal.user_id,
            triggered_by=req.triggered_by,
            event_seq=1,
            dispatched_at=now if status == RunStatus.QUEUED else None,
        )
        session.add(run)
        runs.append(run)
        announcements.append(
            Announcement(
                RunQueued(
                    run_id=run.id,
                    tenant_id=principal.tenant_id,
                    seq=1,
                    status=status.value,
                    scenario_id=scenario.id,
                    batch_id=batch_id,
                    mode=req.mode.value,
                ),
                dispatch=status == RunStatus.QUEUED,
            )
        )
    audit.record(
        session=session,
        principal=principal,
        action="run.create",
        entity_type="test_run_batch",
        entity_id=batch_id,
        details={"runs": len(runs), "mode": req.mode.value, "suiteId": str(suite.id) if suite else None},
    )
    session.flush()
    announce_after_commit(session, announcements)
    queued = sum(1 for r in runs if r.status == RunStatus.QUEUED)
    return CreateRunsResult(
        batch_id=batch_id,
        runs=[summary_of(r) for r in runs],
        queued=queued,
        pending=len(runs) - queued,
    )


# ---- reading ---------------------------------------------------------------------------------------


def _counts_for(session: Session, run_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
    out: dict[UUID, dict[str, int]] = {}
    if not run_ids:
        return out
    for run_id, status, n in session.exec(
        select(TestStepResult.run_id, TestStepResult.status, func.count())
        .where(col(TestStepResult.run_id).in_(run_ids))
        .group_by(col(TestStepResult.run_id), col(TestStepResult.status))
    ).all():
        out.setdefault(run_id, {})[str(status)] = int(n)
    return out


def list_runs(
    *,
    session: Session,
    principal: Principal,
    status: Sequence[RunStatus | str] | None = None,
    suite_id: UUID | None = None,
    scenario_id: UUID | None = None,
    batch_id: UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RunPage:
    """The tenant's runs, newest first, filtered and paginated (``total`` counts every match)."""
    require(principal, *READ_ROLES)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise ValidationFailed("offset must be 0 or more", field="offset")
    statuses: list[RunStatus] = []
    for value in status or []:
        try:
            statuses.append(RunStatus(str(value).upper()))
        except ValueError:
            raise ValidationFailed(
                f"unknown status {value!r} (use {', '.join(s.value for s in RunStatus)})", field="status"
            ) from None
    where: list[Any] = [TestRun.tenant_id == principal.tenant_id]
    if statuses:
        where.append(col(TestRun.status).in_(statuses))
    if suite_id is not None:
        where.append(TestRun.suite_id == suite_id)
    if scenario_id is not None:
        where.append(TestRun.scenario_id == scenario_id)
    if batch_id is not None:
        where.append(TestRun.batch_id == batch_id)
    total = int(session.exec(select(func.count()).select_from(TestRun).where(*where)).one())
    rows = session.exec(
        select(TestRun)
        .where(*where)
        .order_by(col(TestRun.created_at).desc(), col(TestRun.id))
        .offset(offset)
        .limit(limit)
    ).all()
    counts = _counts_for(session, [r.id for r in rows])
    return RunPage(
        items=[summary_of(r, counts.get(r.id)) for r in rows], total=total, limit=limit, offset=offset
    )


def _load(session: Session, principal: Principal, run_id: UUID) -> TestRun:
    return _tenant_row(session, principal, TestRun, run_id, field="runId", what="test run")


def get_run(*, session: Session, principal: Principal, run_id: UUID, payloads: bool = True) -> TestRunDetail:
    """One run with a row per planned step: its recorded result, or PENDING when it has none yet.
    ``payloads=False`` leaves out request/response/side effects (a dashboard's step list)."""
    require(principal, *READ_ROLES)
    run = _load(session, principal, run_id)
    stmt = select(TestStepResult).where(TestStepResult.run_id == run.id)
    if not payloads:
        stmt = stmt.options(defer(TestStepResult.payload))  # type: ignore[arg-type]
    results = {r.order_index: r for r in session.exec(stmt).all()}
    snapshot = RunSnapshot.model_validate(run.pinned or {})
    planned = snapshot.steps
    if run.mode == RunMode.SINGLE_STEP:
        planned = [s for s in planned if s.order_index == run.start_step_index]
    views: list[StepResultView] = []
    for step in planned:
        row = results.pop(step.order_index, None)
        views.append(
            _step_view(
                step.order_index, step.alias, step.name, str(step.kind), str(step.channel_type), row, payloads
            )
        )
    for index, row in sorted(results.items()):  # results of steps no longer in the snapshot (defensive)
        views.append(_step_view(index, row.step_alias, "", "ACTION", "HTTP_REST", row, payloads))
    counts: dict[str, int] = {}
    for view in views:
        if view.status != "PENDING":
            counts[view.status] = counts.get(view.status, 0) + 1
    detail = summary_of(run, counts).model_dump()
    flaky = [
        FlakyStep(order_index=v.order_index, alias=v.alias, status=v.status, reason=v.flaky)
        for v in views
        if v.flaky
    ]
    return TestRunDetail(**detail, steps=views, flaky_steps=flaky)


def run_step_rows(
    *, session: Session, principal: Principal, run_id: UUID
) -> tuple[TestRunSummary, list[dict[str, Any]]]:
    """A run's summary and one light row per planned step (orderIndex, alias, name, kind, channel,
    status, durationMs, statusCode, violations = how many, reused): what a run dashboard lists, read
    without validating the pinned snapshot or loading any payload (a 10,000-step run stays cheap)."""
    require(principal, *READ_ROLES)
    run = _load(session, principal, run_id)
    table = TestStepResult.__table__  # type: ignore[attr-defined]
    results = {
        row.order_index: row
        for row in session.execute(
            sa.select(
                table.c.order_index,
                table.c.step_alias,
                table.c.status,
                table.c.duration_ms,
                table.c.actual_status_code,
                table.c.violations,
                table.c.reused_from_run_id,
            ).where(table.c.run_id == run.id)
        ).all()
    }
    rows: list[dict[str, Any]] = []
    for step in (run.pinned or {}).get("steps") or []:
        index = int(step.get("orderIndex", 0))
        if run.mode == RunMode.SINGLE_STEP and index != run.start_step_index:
            continue
        rows.append(_light_row(index, step, results.pop(index, None)))
    for index, result in sorted(results.items()):  # results of steps no longer in the snapshot (defensive)
        rows.append(_light_row(index, {"alias": result.step_alias}, result))
    counts: dict[str, int] = {}
    for row in rows:
        if row["status"] != "PENDING":
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    return summary_of(run, counts), rows


def _light_row(index: int, step: Mapping[str, Any], result: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "orderIndex": index,
        "alias": str(step.get("alias", "")),
        "name": str(step.get("name") or ""),
        "kind": str(step.get("kind") or "ACTION"),
        "channelType": str(step.get("channelType") or "HTTP_REST"),
        "status": "PENDING",
        "durationMs": 0,
        "statusCode": None,
        "violations": 0,
        "reused": False,
    }
    if result is not None:
        row.update(
            status=str(result.status.value if hasattr(result.status, "value") else result.status),
            durationMs=int(result.duration_ms or 0),
            statusCode=result.actual_status_code,
            violations=len(result.violations or []),
            reused=result.reused_from_run_id is not None,
        )
    return row


def get_step_result(
    *, session: Session, principal: Principal, run_id: UUID, order_index: int
) -> StepResultView:
    """One planned step of a run with its recorded result (request, response, side effects)."""
    require(principal, *READ_ROLES)
    run = _load(session, principal, run_id)
    planned = {s.order_index: s for s in RunSnapshot.model_validate(run.pinned or {}).steps}
    row = session.exec(
        select(TestStepResult).where(
            TestStepResult.run_id == run.id, TestStepResult.order_index == order_index
        )
    ).first()
    step = planned.get(order_index)
    if step is None and row is None:
        raise NotFound(f"the run has no step {order_index}", field="orderIndex")
    if step is None:
        assert row is not None
        return _step_view(order_index, row.step_alias, "", "ACTION", "HTTP_REST", row)
    return _step_view(order_index, step.alias, step.name, str(step.kind), str(step.channel_type), row)


def _step_view(
    index: int,
    alias: str,
    name: str,
    kind: str,
    channel: str,
    row: TestStepResult | None,
    payloads: bool = True,
) -> StepResultView:
    if row is None:
        return StepResultView(order_index=index, alias=alias, name=name, kind=kind, channel_type=channel)
    payload = (row.payload or {}) if payloads else {}
    return StepResultView(
        order_index=index,
        alias=alias,
        name=name,
        kind=kind,
        channel_type=channel,
        status=str(row.status),
        duration_ms=int(row.duration_ms),
        actual_status_code=row.actual_status_code,
        violations=[Violation.model_validate(v) for v in row.violations or []],
        response_body=payload.get("responseBody"),
        response_headers=payload.get("responseHeaders"),
        response_truncated=bool(payload.get("responseTruncated", False)),
        request=payload.get("request"),
        db_result=payload.get("dbResult"),
        kafka_message=payload.get("kafkaMessage"),
        queue_message=payload.get("queueMessage"),
        attempt=row.attempt,
        reused_from_run_id=row.reused_from_run_id,
        finished_at=row.created_at,
        flaky=payload.get("flaky"),
    )


# ---- cancelling ------------------------------------------------------------------------------------


def cancel_run(*, session: Session, principal: Principal, run_id: UUID) -> TestRunSummary:
    """PENDING/QUEUED: CANCELLED at once. IN_PROGRESS: the worker stops after the current step
    (remaining steps SKIPPED) and ends the run CANCELLED. Ended runs: Conflict."""
    require(principal, Role.TEST_RUNNER)
    run = _load(session, principal, run_id)
    now = utcnow()
    table = TestRun.__table__  # type: ignore[attr-defined]
    before = run.status
    cancelled = _rows_changed(
        session.execute(
            sa.update(table)
            .where(
                table.c.id == run.id,
                table.c.status.in_([RunStatus.PENDING.value, RunStatus.QUEUED.value]),
            )
            .values(
                status=RunStatus.CANCELLED.value,
                cancel_requested=True,
                finished_at=now,
                error="cancelled before it started",
                event_seq=table.c.event_seq + 1,
            )
        )
    )
    requested = 0
    if not cancelled:
        requested = _rows_changed(
            session.execute(
                sa.update(table)
                .where(table.c.id == run.id, table.c.status == RunStatus.IN_PROGRESS.value)
                .values(cancel_requested=True)
            )
        )
    session.expire(run)
    session.refresh(run)
    if not cancelled and not requested:
        raise Conflict(f"run {run.id} has already ended ({run.status.value})", field="runId")
    audit.record(
        session=session,
        principal=principal,
        action="run.cancel",
        entity_type="test_run",
        entity_id=run.id,
        details={"status": before.value},
    )
    if cancelled:
        event = RunCancelled(
            run_id=run.id,
            tenant_id=run.tenant_id,
            seq=run.event_seq,
            attempt=run.attempt,
            reason="cancelled before it started",
        )
        after_commit(session, lambda: publish([event]))
        announce_after_commit(session, promote_pending(session, principal.tenant_id))
    session.flush()
    return summary_of(run, _counts_for(session, [run.id]).get(run.id))
