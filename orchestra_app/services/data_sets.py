"""Test data use cases: data sets (create, edit, clone, delete, list) and the scaffold of a suite's data.

A TestDataSet (seed 4.6) is a JSON object read by ``{{data.*}}`` placeholders, scoped GLOBAL (any
scenario), SUITE (the scenarios of one suite) or SCENARIO (one scenario, all its versions), with tags
(``dataSetTag`` of a run request picks by tag, the most specific scope winning). Names are unique within
their owner (the tenant, the suite or the scenario), case-insensitively. Every view carries a
``revision`` (a hash of the stored content): an edit or delete that names the revision it started from
is refused with Conflict when someone changed the data set meanwhile, so no edit is silently lost.
Writes of one tenant's data sets are serialised (a PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE).
Deleting a data set detaches the runs that used it; each run keeps the copy of the data it pinned.

Stored scaffolds are SUITE-scoped TestDataSets (origin MANUAL: the designer's starting point). Storing
again under the same name keeps every value already there and only adds the variables that are new,
so a designer's edits survive a re-scaffold after the suite changed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import yaml
from pydantic import Field
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import (
    ArtifactStatus,
    DataSetOrigin,
    DataSetScope,
    ScenarioStep,
    ScenarioSuite,
    TestDataSet,
    TestRun,
    TestScenario,
)
from orchestra_app.domain.errors import Conflict, NotFound, ValidationFailed
from orchestra_app.domain.model import DomainModel
from orchestra_app.domain.params import parse_uuid, shown
from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ChannelType, ScenarioStepSpec
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.plugins.data_scaffold import Resolver, Scaffold, scaffold
from orchestra_app.plugins.matching import find_explicit
from orchestra_app.services import audit
from orchestra_app.services.binding import _step_spec, bound_candidates, get_suite
from orchestra_app.services.concurrency import advisory_lock, dialect_name, locked
from orchestra_app.services.guards import require

DEFAULT_NAME = "scaffold"


@dataclass
class ScaffoldResult:
    data: dict[str, Any]
    variables: list[dict[str, Any]]
    notes: list[str]
    data_set_id: UUID | None = None
    created: bool = False
    added: list[str] = field(default_factory=list)  # variables added to an existing data set


def merge_missing(existing: Any, fresh: Any, path: str = "") -> tuple[Any, list[str]]:
    """``existing`` with what only ``fresh`` has added (existing values always win)."""
    if isinstance(existing, dict) and isinstance(fresh, dict):
        out = dict(existing)
        added: list[str] = []
        for key, value in fresh.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in out:
                out[key] = value
                added.append(where)
            else:
                out[key], more = merge_missing(out[key], value, where)
                added.extend(more)
        return out, added
    if isinstance(existing, list) and isinstance(fresh, list) and len(fresh) > len(existing):
        return [*existing, *fresh[len(existing) :]], [
            f"{path}[{i}]" for i in range(len(existing), len(fresh))
        ]
    return existing, []


def _suite_steps(
    session: Session, principal: Principal, suite_id: UUID
) -> list[tuple[str, list[ScenarioStepSpec]]]:
    latest: dict[str, TestScenario] = {}
    for row in session.exec(
        select(TestScenario)
        .where(TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id)
        .order_by(col(TestScenario.key), col(TestScenario.version))
    ).all():
        latest[row.key] = row
    current = {k: s for k, s in latest.items() if s.status is not ArtifactStatus.DEPRECATED}
    by_id: dict[UUID, list[ScenarioStepSpec]] = {s.id: [] for s in current.values()}
    if by_id:
        for step_row in session.exec(
            select(ScenarioStep)
            .where(
                ScenarioStep.tenant_id == principal.tenant_id, col(ScenarioStep.scenario_id).in_(list(by_id))
            )
            .order_by(col(ScenarioStep.order_index))
        ).all():
            by_id[step_row.scenario_id].append(_step_spec(step_row))
    return [(key, by_id[s.id]) for key, s in sorted(current.items())]


def _resolver(session: Session, principal: Principal, suite_id: UUID) -> Resolver:
    """Operations by step: the suite's chosen specs, else the newest spec of each service its steps name."""
    specs = {
        c.service_name: c.summary
        for c in bound_candidates(session=session, principal=principal, suite_id=suite_id)
    }

    def resolve(step: ScenarioStepSpec) -> tuple[Operation, SpecSummary] | None:
        if step.endpoint_ref is None or step.channel_type is not ChannelType.HTTP_REST:
            return None
        summary = specs.get(step.endpoint_ref.service_name)
        if summary is None:
            return None
        op = find_explicit(step.endpoint_ref.endpoint_name, summary.operations)
        return (op, summary) if op is not None else None

    return resolve


def _result(built: Scaffold) -> ScaffoldResult:
    return ScaffoldResult(built.data, [asdict(v) for v in built.variables], built.notes)


def scaffold_suite_data(
    *, session: Session, principal: Principal, suite_id: UUID, store: bool = False, name: str = DEFAULT_NAME
) -> ScaffoldResult:
    """The data set the suite needs; with ``store`` also saved (or completed) as a SUITE data set."""
    if store:
        require(principal, Role.TEST_DESIGNER)
        name = (name or "").strip()
        if not name or len(name) > 300:
            raise ValidationFailed("a data set name has 1 to 300 characters", field="name")
    if store:
        _lock_tenant_data_sets(session, principal)
    suite = get_suite(session=session, principal=principal, suite_id=suite_id, lock=store)
    steps = _suite_steps(session, principal, suite.id)
    result = _result(scaffold(steps, _resolver(session, principal, suite.id)))
    if not store:
        return result
    existing = session.exec(
        select(TestDataSet)
        .where(
            TestDataSet.tenant_id == principal.tenant_id,
            TestDataSet.suite_id == suite.id,
            TestDataSet.scope == DataSetScope.SUITE,
            func.lower(TestDataSet.name) == name.lower(),
        )
        .order_by(col(TestDataSet.created_at).desc())
    ).first()
    if existing is None:
        existing = TestDataSet(
            tenant_id=principal.tenant_id,
            scope=DataSetScope.SUITE,
            suite_id=suite.id,
            name=name,
            tags=["scaffold"],
            origin=DataSetOrigin.MANUAL,
            data=result.data,
            created_by=principal.user_id,
        )
        session.add(existing)
        result.created = True
        result.added = [v["path"] for v in result.variables]
    else:
        merged, added = merge_missing(existing.data, result.data)
        if added:
            existing.data = merged
            session.add(existing)
        result.added = added
        result.data = merged
    session.flush()
    result.data_set_id = existing.id
    audit.record(
        session=session,
        principal=principal,
        action="dataset.scaffold",
        entity_type="test_data_set",
        entity_id=existing.id,
        details={"suite": str(suite.id), "name": name, "created": result.created, "added": len(result.added)},
    )
    return result


# ---- data sets: create, read, edit, clone, delete -----------------------------------------------------

MAX_NAME = 300
MAX_TAGS = 50
MAX_TAG = 100  # a run request's dataSetTag is at most this long
MAX_DATA_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_PAGE = 500
READ_ROLES = (Role.VIEWER, Role.TEST_RUNNER, Role.TEST_DESIGNER)


class DataSetView(DomainModel):
    """One data set as lists show it (``data`` only in DataSetDetail)."""

    id: UUID
    name: str
    scope: DataSetScope
    suite_id: UUID | None = None
    suite_name: str | None = None
    scenario_id: UUID | None = None
    scenario_key: str | None = None
    scenario_name: str | None = None
    tags: list[str] = Field(default_factory=list)
    origin: DataSetOrigin = DataSetOrigin.MANUAL
    created_at: datetime
    created_by: UUID | None = None
    variables: int = 0  # leaf values (what {{data.*}} can read)
    revision: str


class DataSetDetail(DataSetView):
    data: dict[str, Any] = Field(default_factory=dict)
    runs: int = 0  # runs that used it (each keeps its own pinned copy of the data)


class DataSetPage(DomainModel):
    items: list[DataSetView]
    total: int
    limit: int
    offset: int


class DeletedDataSet(DomainModel):
    id: UUID
    name: str
    detached_runs: int  # runs that used it; they keep the data they pinned


def revision_of(row: TestDataSet) -> str:
    """A short hash of everything an edit can change (name, scope, owner, tags, data)."""
    content = {
        "name": row.name,
        "scope": str(row.scope),
        "suite": str(row.suite_id or ""),
        "scenario": str(row.scenario_id or ""),
        "tags": list(row.tags or []),
        "data": row.data or {},
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(_leaves(v) for v in value) if value else 1
    return 1


def parse_data_text(text: str, *, field_name: str = "data", syntax: str = "json") -> dict[str, Any]:
    """The JSON (or YAML, ``syntax="yaml"``) object typed into an editor; a syntax error names its
    line and column."""
    if len(text.encode()) > MAX_DATA_BYTES * 2:
        raise ValidationFailed(f"the data is above {MAX_DATA_BYTES} bytes", field=field_name)
    if not text.strip():
        return {}
    if syntax == "yaml":
        return _parse_yaml(text, field_name)
    if syntax != "json":
        raise ValidationFailed(f"unknown syntax {syntax!r} (use json or yaml)", field="syntax")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            field=field_name,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except ValueError as exc:
        raise ValidationFailed(f"not valid JSON: {exc}", field=field_name) from None
    return check_data(value, field_name=field_name)


def _parse_yaml(text: str, field_name: str) -> dict[str, Any]:
    # safe_load: plain data only (no Python objects); aliases are expanded, so a "billion laughs"
    # document is cut by the size check in check_data
    try:
        value = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        where = f" (line {line}, column {column})" if line is not None else ""
        raise ValidationFailed(
            f"not valid YAML: {exc.problem or exc}{where}", field=field_name, line=line, column=column
        ) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"not valid YAML: {exc}", field=field_name) from None
    if value is None:
        return {}
    return check_data(_plain(value, field_name), field_name=field_name)


def _plain(value: Any, field_name: str) -> Any:
    """YAML dates and non-text keys as JSON would carry them."""
    if isinstance(value, dict):
        return {str(k): _plain(v, field_name) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, field_name) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        raise ValidationFailed("binary values are not JSON data", field=field_name)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def check_data(value: Any, *, field_name: str = "data") -> dict[str, Any]:
    """A data set's data: a JSON object (its members are the ``{{data.*}}`` roots), finite numbers,
    at most MAX_DEPTH levels and MAX_DATA_BYTES bytes."""
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else type(value).__name__
        raise ValidationFailed(
            f'the data must be a JSON object ({{"name": value, ...}}), got {kind}', field=field_name
        )
    _check_value(value, field_name, "", 0)
    try:
        size = len(json.dumps(value, allow_nan=False, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"the data is not plain JSON: {exc}", field=field_name) from None
    if size > MAX_DATA_BYTES:
        raise ValidationFailed(f"the data is {size} bytes, above {MAX_DATA_BYTES}", field=field_name)
    return value


def _check_value(value: Any, field_name: str, pointer: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValidationFailed(
            f"the data nests deeper than {MAX_DEPTH} levels", field=field_name, pointer=pointer
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationFailed("member names must be text", field=field_name, pointer=pointer)
            if depth == 0 and not key.strip():
                raise ValidationFailed(
                    "a top-level member needs a name ({{data.<name>}} reads it)",
                    field=field_name,
                    pointer="/",
                )
            escaped = key.replace("~", "~0").replace("/", "~1")
            _check_value(item, field_name, f"{pointer}/{escaped}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, field_name, f"{pointer}/{i}", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailed(
            "numbers must be finite (no NaN or Infinity)", field=field_name, pointer=pointer
        )
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise ValidationFailed(
            f"{type(value).__name__} is not a JSON value", field=field_name, pointer=pointer or "/"
        )


def check_name(value: Any, *, field_name: str = "name") -> str:
    if value is None:
        raise ValidationFailed(f"a data set needs a name (1 to {MAX_NAME} characters)", field=field_name)
    if not isinstance(value, str):
        raise ValidationFailed("a data set name is text", field=field_name)
    name = value.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"a data set name has 1 to {MAX_NAME} characters", field=field_name)
    if any(not ch.isprintable() for ch in name):
        raise ValidationFailed("a data set name may not contain control characters", field=field_name)
    return name


def check_tags(value: Any, *, field_name: str = "tags") -> list[str]:
    """Tags: a list of short texts (or one comma-separated text), trimmed, duplicates dropped."""
    if isinstance(value, str):
        value = [t for t in value.split(",") if t.strip()]
    if not isinstance(value, list):
        raise ValidationFailed("tags are a list of texts", field=field_name)
    tags: list[str] = []
    for i, raw in enumerate(value):
        where = f"{field_name}.{i}"
        if not isinstance(raw, str):
            raise ValidationFailed("a tag is text", field=where)
        tag = raw.strip()
        if not tag or len(tag) > MAX_TAG:
            raise ValidationFailed(f"a tag has 1 to {MAX_TAG} characters", field=where)
        if any(not ch.isprintable() for ch in tag) or "," in tag:
            raise ValidationFailed("a tag may not contain commas or control characters", field=where)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(f"at most {MAX_TAGS} tags", field=field_name)
    return tags


def check_scope(value: Any, *, field_name: str = "scope") -> DataSetScope:
    if isinstance(value, DataSetScope):
        return value
    if isinstance(value, str):
        for scope in DataSetScope:
            if value.strip().upper() == scope.value:
                return scope
    allowed = ", ".join(s.value for s in DataSetScope)
    raise ValidationFailed(f"scope is one of {allowed}, got {shown(value)}", field=field_name)


def _uuid_value(value: Any, field_name: str) -> UUID | None:
    if value is None or value == "":
        return None
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        return parse_uuid(value, name=field_name)
    raise ValidationFailed(f"{field_name} must be a UUID, got {shown(value)}", field=field_name)


FIELDS = {"name", "scope", "suiteId", "scenarioId", "tags", "data"}


def _check_fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    if not isinstance(body, Mapping):
        raise ValidationFailed("send a JSON object", field="body")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationFailed(
            f"unknown field {shown(unknown[0])} (fields: {', '.join(sorted(allowed))})",
            field=str(unknown[0])[:60],
        )


def _owner(
    session: Session,
    principal: Principal,
    scope: DataSetScope,
    suite_id: UUID | None,
    scenario_id: UUID | None,
) -> tuple[UUID | None, UUID | None]:
    """(suite_id, scenario_id) as stored for ``scope``; both checked to be the caller's tenant's."""
    tenant = principal.tenant_id
    if scope is DataSetScope.GLOBAL:
        if suite_id is not None or scenario_id is not None:
            field_name = "suiteId" if suite_id is not None else "scenarioId"
            raise ValidationFailed("a GLOBAL data set belongs to no suite or scenario", field=field_name)
        return None, None
    if scope is DataSetScope.SUITE:
        if scenario_id is not None:
            raise ValidationFailed("a SUITE data set belongs to a suite, not a scenario", field="scenarioId")
        if suite_id is None:
            raise ValidationFailed("a SUITE data set needs suiteId", field="suiteId")
        found = session.exec(
            select(ScenarioSuite.id).where(ScenarioSuite.id == suite_id, ScenarioSuite.tenant_id == tenant)
        ).first()
        if found is None:
            raise NotFound(f"suite {suite_id} not found", field="suiteId")
        return suite_id, None
    if scenario_id is None:
        raise ValidationFailed("a SCENARIO data set needs scenarioId", field="scenarioId")
    scenario_suite = session.exec(
        select(TestScenario.suite_id).where(TestScenario.id == scenario_id, TestScenario.tenant_id == tenant)
    ).first()
    if scenario_suite is None:
        raise NotFound(f"scenario {scenario_id} not found", field="scenarioId")
    if suite_id is not None and suite_id != scenario_suite:
        raise ValidationFailed(f"scenario {scenario_id} is not in suite {suite_id}", field="suiteId")
    return scenario_suite, scenario_id


def _lock_tenant_data_sets(session: Session, principal: Principal) -> None:
    """Serialise this tenant's data-set writes (unique names, clone numbering, delete vs edit)."""
    advisory_lock(session, "test_data_set", principal.tenant_id)


def _name_taken(
    session: Session,
    principal: Principal,
    name: str,
    scope: DataSetScope,
    suite_id: UUID | None,
    scenario_id: UUID | None,
    *,
    other_than: UUID | None = None,
) -> bool:
    stmt = select(TestDataSet.id).where(
        TestDataSet.tenant_id == principal.tenant_id,
        TestDataSet.scope == scope,
        func.lower(TestDataSet.name) == name.lower(),
    )
    stmt = stmt.where(
        TestDataSet.suite_id == suite_id if suite_id is not None else col(TestDataSet.suite_id).is_(None)
    )
    if scope is DataSetScope.SCENARIO:
        stmt = stmt.where(TestDataSet.scenario_id == scenario_id)
    if other_than is not None:
        stmt = stmt.where(TestDataSet.id != other_than)
    return session.exec(stmt.limit(1)).first() is not None


def _owner_text(scope: DataSetScope) -> str:
    return {"GLOBAL": "the tenant", "SUITE": "this suite", "SCENARIO": "this scenario"}[scope.value]


def _views(session: Session, rows: Sequence[TestDataSet]) -> list[DataSetView]:
    suites = {s.suite_id for s in rows if s.suite_id}
    scenarios = {s.scenario_id for s in rows if s.scenario_id}
    suite_names: dict[UUID, str] = {}
    scenario_names: dict[UUID, tuple[str, str]] = {}
    if suites:
        suite_names = dict(
            session.exec(
                select(ScenarioSuite.id, ScenarioSuite.name).where(col(ScenarioSuite.id).in_(suites))
            ).all()
        )
    if scenarios:
        scenario_names = {
            sid: (key, name)
            for sid, key, name in session.exec(
                select(TestScenario.id, TestScenario.key, TestScenario.name).where(
                    col(TestScenario.id).in_(scenarios)
                )
            ).all()
        }
    return [
        DataSetView(
            id=row.id,
            name=row.name,
            scope=DataSetScope(str(row.scope)),
            suite_id=row.suite_id,
            suite_name=suite_names.get(row.suite_id) if row.suite_id else None,
            scenario_id=row.scenario_id,
            scenario_key=scenario_names[row.scenario_id][0] if row.scenario_id in scenario_names else None,
            scenario_name=scenario_names[row.scenario_id][1] if row.scenario_id in scenario_names else None,
            tags=list(row.tags or []),
            origin=DataSetOrigin(str(row.origin)),
            created_at=row.created_at,
            created_by=row.created_by,
            variables=_leaves(row.data or {}) if row.data else 0,
            revision=revision_of(row),
        )
        for row in rows
    ]


def _detail(session: Session, row: TestDataSet) -> DataSetDetail:
    runs = session.exec(select(func.count()).select_from(TestRun).where(TestRun.data_set_id == row.id)).one()
    return DataSetDetail(**_views(session, [row])[0].model_dump(), data=dict(row.data or {}), runs=int(runs))


def _row(session: Session, principal: Principal, data_set_id: UUID, *, lock: bool = False) -> TestDataSet:
    stmt = select(TestDataSet).where(
        TestDataSet.id == data_set_id, TestDataSet.tenant_id == principal.tenant_id
    )
    row = session.exec(locked(session, stmt) if lock else stmt).first()
    if row is None:
        raise NotFound(f"data set {data_set_id} not found", field="id")
    return row


def _tag_filter(session: Session, tag: str) -> Any:
    if dialect_name(session) == "postgresql":
        return sa.cast(TestDataSet.tags, JSONB).contains([tag])  # type: ignore[arg-type]
    each = sa.func.json_each(TestDataSet.tags).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == tag))


def list_data_sets(
    *,
    session: Session,
    principal: Principal,
    query: str | None = None,
    scope: str | DataSetScope | None = None,
    tag: str | None = None,
    suite_id: UUID | None = None,
    scenario_id: UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> DataSetPage:
    """The tenant's data sets, newest first: ``query`` searches names and tags (case-insensitive),
    ``scope``/``tag``/``suite_id``/``scenario_id`` filter; ``total`` counts every match."""
    require(principal, *READ_ROLES)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise ValidationFailed("offset must be 0 or more", field="offset")
    where: list[Any] = [TestDataSet.tenant_id == principal.tenant_id]
    if query:
        if len(query) > 200:
            raise ValidationFailed("the search text is longer than 200 characters", field="q")
        pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        tags_text = sa.cast(TestDataSet.tags, sa.Text)  # type: ignore[arg-type]
        where.append(
            sa.or_(
                func.lower(TestDataSet.name).like(pattern, escape="\\"),
                func.lower(tags_text).like(pattern, escape="\\"),
            )
        )
    if scope:
        where.append(TestDataSet.scope == check_scope(scope))
    if tag:
        where.append(_tag_filter(session, check_tags([tag], field_name="tag")[0]))
    if suite_id is not None:
        where.append(TestDataSet.suite_id == suite_id)
    if scenario_id is not None:
        where.append(TestDataSet.scenario_id == scenario_id)
    total = int(session.exec(select(func.count()).select_from(TestDataSet).where(*where)).one())
    rows = session.exec(
        select(TestDataSet)
        .where(*where)
        .order_by(col(TestDataSet.created_at).desc(), col(TestDataSet.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return DataSetPage(items=_views(session, rows), total=total, limit=limit, offset=offset)


def data_set_tags(*, session: Session, principal: Principal) -> list[str]:
    """Every tag used by the tenant's data sets (what a run's dataSetTag can pick), sorted."""
    require(principal, *READ_ROLES)
    tags: set[str] = set()
    for row_tags in session.exec(
        select(TestDataSet.tags).where(TestDataSet.tenant_id == principal.tenant_id)
    ).all():
        tags.update(row_tags or [])
    return sorted(tags, key=str.lower)


def get_data_set(*, session: Session, principal: Principal, data_set_id: UUID) -> DataSetDetail:
    require(principal, *READ_ROLES)
    return _detail(session, _row(session, principal, data_set_id))


def create_data_set(
    *,
    session: Session,
    principal: Principal,
    body: Mapping[str, Any],
    origin: DataSetOrigin = DataSetOrigin.MANUAL,
) -> DataSetDetail:
    """A new data set from ``{name, scope?, suiteId?, scenarioId?, tags?, data?}`` (camelCase)."""
    require(principal, Role.TEST_DESIGNER)
    _check_fields(body, FIELDS)
    _lock_tenant_data_sets(session, principal)
    row = _insert(session, principal, body, origin)
    audit.record(
        session=session,
        principal=principal,
        action="dataset.create",
        entity_type="test_data_set",
        entity_id=row.id,
        details={"name": row.name, "scope": str(row.scope)},
    )
    return _detail(session, row)


def _insert(
    session: Session, principal: Principal, body: Mapping[str, Any], origin: DataSetOrigin
) -> TestDataSet:
    """Checks and stores one data set (the caller holds the tenant's data-set lock)."""
    name = check_name(body.get("name"))
    scope = check_scope(body.get("scope") or DataSetScope.GLOBAL)
    tags = check_tags(body.get("tags") or [])
    data = check_data(body.get("data") if body.get("data") is not None else {})
    suite_id = _uuid_value(body.get("suiteId"), "suiteId")
    scenario_id = _uuid_value(body.get("scenarioId"), "scenarioId")
    suite_id, scenario_id = _owner(session, principal, scope, suite_id, scenario_id)
    if _name_taken(session, principal, name, scope, suite_id, scenario_id):
        raise Conflict(f"a data set named {name!r} already exists in {_owner_text(scope)}", field="name")
    row = TestDataSet(
        tenant_id=principal.tenant_id,
        scope=scope,
        suite_id=suite_id,
        scenario_id=scenario_id,
        name=name,
        tags=tags,
        origin=origin,
        data=data,
        created_by=principal.user_id,
    )
    session.add(row)
    session.flush()
    return row


def _check_revision(row: TestDataSet, revision: Any) -> None:
    if revision is None:
        return
    if not isinstance(revision, str) or len(revision) > 64:
        raise ValidationFailed("revision is the text a read of the data set gave", field="revision")
    if revision != revision_of(row):
        raise Conflict(
            f"data set {row.name!r} was changed by someone else since you opened it; reload it and "
            "apply your change again",
            field="revision",
        )


def update_data_set(
    *, session: Session, principal: Principal, data_set_id: UUID, body: Mapping[str, Any]
) -> DataSetDetail:
    """Changes the given fields (``name``, ``scope``, ``suiteId``, ``scenarioId``, ``tags``, ``data``);
    ``revision`` (from a read) makes it refuse when the data set changed since that read."""
    require(principal, Role.TEST_DESIGNER)
    _check_fields(body, FIELDS | {"revision"})
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = check_name(body["name"])
    if "tags" in body:
        changes["tags"] = check_tags(body["tags"] or [])
    if "data" in body:
        changes["data"] = check_data(body["data"])
    scope_given = "scope" in body
    scope = check_scope(body["scope"]) if scope_given else None
    suite_id = _uuid_value(body.get("suiteId"), "suiteId")
    scenario_id = _uuid_value(body.get("scenarioId"), "scenarioId")
    _lock_tenant_data_sets(session, principal)
    row = _row(session, principal, data_set_id, lock=True)
    _check_revision(row, body.get("revision"))
    new_scope = scope or DataSetScope(str(row.scope))
    if scope_given or "suiteId" in body or "scenarioId" in body:
        if not scope_given:  # the owner changes within the current scope
            suite_id = (
                suite_id if "suiteId" in body else (row.suite_id if new_scope is DataSetScope.SUITE else None)
            )
            scenario_id = scenario_id if "scenarioId" in body else row.scenario_id
        suite_id, scenario_id = _owner(session, principal, new_scope, suite_id, scenario_id)
    else:
        suite_id, scenario_id = row.suite_id, row.scenario_id
    name = changes.get("name", row.name)
    if _name_taken(session, principal, name, new_scope, suite_id, scenario_id, other_than=row.id):
        raise Conflict(f"a data set named {name!r} already exists in {_owner_text(new_scope)}", field="name")
    before = revision_of(row)
    row.name = name
    row.scope = new_scope
    row.suite_id, row.scenario_id = suite_id, scenario_id
    if "tags" in changes:
        row.tags = changes["tags"]
    if "data" in changes:
        row.data = changes["data"]
    if revision_of(row) != before:
        session.add(row)
        session.flush()
        audit.record(
            session=session,
            principal=principal,
            action="dataset.update",
            entity_type="test_data_set",
            entity_id=row.id,
            details={"fields": sorted(set(body) - {"revision"}), "name": row.name},
        )
    return _detail(session, row)


def _copy_name(session: Session, principal: Principal, row: TestDataSet) -> str:
    base = row.name
    for n in range(1, 10_000):
        suffix = " (copy)" if n == 1 else f" (copy {n})"
        candidate = base[: MAX_NAME - len(suffix)] + suffix
        scope = DataSetScope(str(row.scope))
        if not _name_taken(session, principal, candidate, scope, row.suite_id, row.scenario_id):
            return candidate
    raise Conflict(f"too many copies of {row.name!r}; name the copy", field="name")  # pragma: no cover


def clone_data_set(
    *, session: Session, principal: Principal, data_set_id: UUID, body: Mapping[str, Any] | None = None
) -> DataSetDetail:
    """A copy (same scope, owner, tags and data, origin MANUAL) named ``body.name`` or "<name> (copy N)";
    ``scope``/``suiteId``/``scenarioId``/``tags`` in ``body`` place the copy elsewhere."""
    require(principal, Role.TEST_DESIGNER)
    body = body or {}
    _check_fields(body, {"name", "scope", "suiteId", "scenarioId", "tags"})
    _lock_tenant_data_sets(session, principal)
    source = _row(session, principal, data_set_id)
    fields: dict[str, Any] = {
        "scope": str(source.scope),
        "suiteId": source.suite_id,
        "scenarioId": source.scenario_id,
        "tags": list(source.tags or []),
    }
    if "scope" in body:  # a new place: the owner comes from the body only
        fields.update(scope=body["scope"], suiteId=body.get("suiteId"), scenarioId=body.get("scenarioId"))
    else:
        fields.update({k: body[k] for k in ("suiteId", "scenarioId") if k in body})
    if "tags" in body:
        fields["tags"] = body["tags"]
    name = body.get("name")
    if name is None:
        name = _copy_name(session, principal, source)
    copy = _insert(
        session, principal, {**fields, "name": name, "data": dict(source.data or {})}, DataSetOrigin.MANUAL
    )
    audit.record(
        session=session,
        principal=principal,
        action="dataset.clone",
        entity_type="test_data_set",
        entity_id=copy.id,
        details={"from": str(source.id), "name": copy.name},
    )
    return _detail(session, copy)


def delete_data_set(
    *, session: Session, principal: Principal, data_set_id: UUID, revision: str | None = None
) -> DeletedDataSet:
    """Deletes the data set; runs that used it keep the data they pinned (their ``dataSetId`` is
    cleared, the pinned name and data stay). ``revision`` refuses when it changed since that read."""
    require(principal, Role.TEST_DESIGNER)
    _lock_tenant_data_sets(session, principal)
    row = _row(session, principal, data_set_id, lock=True)
    _check_revision(row, revision)
    runs = TestRun.__table__  # type: ignore[attr-defined]
    result: Any = session.execute(
        sa.update(runs)
        .where(runs.c.data_set_id == row.id, runs.c.tenant_id == principal.tenant_id)
        .values(data_set_id=None)
    )
    detached = int(result.rowcount)
    name = row.name
    session.delete(row)
    session.flush()
    audit.record(
        session=session,
        principal=principal,
        action="dataset.delete",
        entity_type="test_data_set",
        entity_id=data_set_id,
        details={"name": name, "detachedRuns": int(detached)},
    )
    return DeletedDataSet(id=data_set_id, name=name, detached_runs=int(detached))
