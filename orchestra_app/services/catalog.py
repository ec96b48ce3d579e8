"""Read-side use cases: the rows each section of the UI lists, always scoped by the caller's tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

from orchestra_app.db.tables import (
    ArtifactStatus,
    AuditLog,
    DataSetScope,
    Environment,
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioStep,
    ScenarioSuite,
    TestDataSet,
    TestRun,
    TestRunReport,
    TestScenario,
    User,
    UserTenantRole,
)
from orchestra_app.domain.errors import NotFound, ValidationFailed
from orchestra_app.domain.graph import SourceType
from orchestra_app.domain.runs import RunStatus
from orchestra_app.domain.tenancy import Principal, Role

Row = dict[str, str]
M = TypeVar("M", bound=SQLModel)

DEFAULT_LIMIT = 200


@dataclass
class Listing:
    """One page of a section: its rows plus how many rows the section has in all."""

    items: list[Row] = field(default_factory=list)
    total: int = 0
    offset: int = 0

    @property
    def truncated(self) -> bool:
        return self.offset + len(self.items) < self.total


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def _pattern(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, with ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(search: str | None, *columns: Any) -> Any:
    """Case-insensitive substring match on any of ``columns`` (None when there is nothing to search)."""
    if not search or not search.strip():
        return None
    pattern = _pattern(search[:200])
    return sa.or_(*[func.lower(column).like(pattern, escape="\\") for column in columns])


def _filtered(stmt: Any, *conditions: Any) -> Any:
    for condition in conditions:
        if condition is not None:
            stmt = stmt.where(condition)
    return stmt


E = TypeVar("E", bound=StrEnum)


def _choice(value: str, enum: type[E]) -> E:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(e.value for e in enum)
        raise ValidationFailed(f"filter {value[:60]!r} is not one of: {known}", field="filter") from None


def _total(session: Session, stmt: Any) -> int:
    """Rows ``stmt`` (without limit/offset) selects."""
    return int(session.exec(select(func.count()).select_from(stmt.order_by(None).subquery())).one())


def filter_options(*, session: Session, principal: Principal, section: str) -> list[tuple[str, str]]:
    """(label, value) pairs of the filter a section's list offers; the values its list_* accepts."""
    tenant = principal.tenant_id
    if section == "processes":
        return [("BPMN", "BPMN"), ("Sequence diagram", "SEQUENCE")]
    if section == "specs":
        rows = session.exec(
            select(ProtocolSpec.protocol_id).where(ProtocolSpec.tenant_id == tenant).distinct()
        ).all()
        return [(p, p) for p in sorted(rows)]
    if section == "suites":
        keys = session.exec(
            select(Process.key)
            .join(ScenarioSuite, col(ScenarioSuite.process_id) == col(Process.id))
            .where(Process.tenant_id == tenant)
            .distinct()
        ).all()
        return [(k, k) for k in sorted(keys)[:500]]
    if section == "reports":
        return [
            (s.value.lower().capitalize(), s.value)
            for s in (RunStatus.PASSED, RunStatus.FAILED, RunStatus.CANCELLED)
        ]
    if section == "members":
        return [(r.value.replace("_", " ").title(), r.value) for r in Role]
    if section == "data_sets":
        return [(d.value.title(), d.value) for d in DataSetScope]
    if section == "runs":
        return [(r.value.replace("_", " ").title(), r.value) for r in RunStatus]
    if section == "audit":
        actions = session.exec(select(AuditLog.action).where(AuditLog.tenant_id == tenant).distinct()).all()
        prefixes = sorted({a.split(".", 1)[0] for a in actions})
        return [(p, p) for p in prefixes]
    return []


def list_processes(
    *,
    session: Session,
    principal: Principal,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    latest = (
        select(
            ProcessVersion.process_id,
            func.max(ProcessVersion.version).label("latest"),
            func.count().label("versions"),
        )
        .where(ProcessVersion.tenant_id == principal.tenant_id)
        .group_by(col(ProcessVersion.process_id))
        .subquery()
    )
    source = None
    if filter:
        source = sa.exists().where(
            col(ProcessVersion.process_id) == col(Process.id),
            col(ProcessVersion.tenant_id) == principal.tenant_id,
            col(ProcessVersion.source_type) == _choice(filter, SourceType),
        )
    stmt = _filtered(
        select(Process, latest.c.latest, latest.c.versions)
        .join(latest, latest.c.process_id == Process.id, isouter=True)
        .where(Process.tenant_id == principal.tenant_id),
        _matches(search, Process.key, Process.name),
        source,
    )
    total = _total(session, stmt)
    stmt = stmt.order_by(col(Process.created_at).desc(), col(Process.id)).limit(limit).offset(offset)
    items = [
        {
            "id": str(p.id),
            "key": p.key,
            "name": p.name or p.key,
            "latest_version": _fmt(lv),
            "versions": _fmt(n or 0),
            "created_at": _fmt(p.created_at),
        }
        for p, lv, n in session.exec(stmt).all()
    ]
    return Listing(items, total, offset)


def list_specs(
    *,
    session: Session,
    principal: Principal,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    stmt = _filtered(
        select(ProtocolSpec).where(ProtocolSpec.tenant_id == principal.tenant_id),
        _matches(search, ProtocolSpec.service_name, ProtocolSpec.version, ProtocolSpec.raw_spec_uri),
        (ProtocolSpec.protocol_id == filter) if filter else None,
    )
    total = _total(session, stmt)
    rows = session.exec(
        stmt.order_by(col(ProtocolSpec.created_at).desc(), col(ProtocolSpec.id)).limit(limit).offset(offset)
    ).all()
    items = [
        {
            "id": str(s.id),
            "protocol": s.protocol_id,
            "service": s.service_name,
            "version": s.version,
            "operations": str(len(s.parsed_summary.get("operations", []))),
            "status": _fmt(s.status),
            "created_at": _fmt(s.created_at),
        }
        for s in rows
    ]
    return Listing(items, total, offset)


def list_suites(
    *,
    session: Session,
    principal: Principal,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    counts = (
        select(TestScenario.suite_id, func.count().label("n"))
        .where(TestScenario.tenant_id == principal.tenant_id)
        # a suite imported from YAML keeps older scenario versions as DEPRECATED: count current ones
        .where(TestScenario.status != ArtifactStatus.DEPRECATED)
        .group_by(col(TestScenario.suite_id))
        .subquery()
    )
    stmt = _filtered(
        select(ScenarioSuite, Process.key, counts.c.n)
        .join(Process, col(Process.id) == col(ScenarioSuite.process_id))
        .join(counts, counts.c.suite_id == ScenarioSuite.id, isouter=True)
        .where(ScenarioSuite.tenant_id == principal.tenant_id),
        _matches(search, ScenarioSuite.name, Process.key),
        (Process.key == filter) if filter else None,
    )
    total = _total(session, stmt)
    stmt = (
        stmt.order_by(col(ScenarioSuite.created_at).desc(), col(ScenarioSuite.id)).limit(limit).offset(offset)
    )
    items = [
        {
            "id": str(s.id),
            "name": s.name,
            "process": key,
            "process_version": str(s.process_version),
            "label": suite_label(s.name, key),
            "scenarios": _fmt(n or 0),
            "tags": ", ".join(s.tags),
            "created_at": _fmt(s.created_at),
        }
        for s, key, n in session.exec(stmt).all()
    ]
    return Listing(items, total, offset)


def suite_label(name: str, process_key: str) -> str:
    """A suite's name with its process key, so suites of processes with the same name stay apart."""
    return f"{name} [{process_key}]"


def list_data_sets(
    *,
    session: Session,
    principal: Principal,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    stmt = _filtered(
        select(TestDataSet).where(TestDataSet.tenant_id == principal.tenant_id),
        _matches(search, TestDataSet.name, sa.cast(TestDataSet.tags, sa.String)),
        (TestDataSet.scope == _choice(filter, DataSetScope)) if filter else None,
    )
    total = _total(session, stmt)
    rows = session.exec(
        stmt.order_by(col(TestDataSet.created_at).desc(), col(TestDataSet.id)).limit(limit).offset(offset)
    ).all()
    items = [
        {
            "id": str(d.id),
            "name": d.name,
            "scope": _fmt(d.scope),
            "origin": _fmt(d.origin),
            "tags": ", ".join(d.tags),
            "created_at": _fmt(d.created_at),
        }
        for d in rows
    ]
    return Listing(items, total, offset)


def list_environments(
    *,
    session: Session,
    principal: Principal,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    stmt = _filtered(
        select(Environment).where(Environment.tenant_id == principal.tenant_id),
        _matches(search, Environment.name),
    )
    total = _total(session, stmt)
    rows = session.exec(
        stmt.order_by(col(Environment.name), col(Environment.id)).limit(limit).offset(offset)
    ).all()
    items = [
        {
            "id": str(e.id),
            "name": e.name,
            "services": ", ".join(sorted(e.services)),
            "db": ", ".join(sorted(e.db_profiles)),
            "kafka": ", ".join(sorted(e.kafka_profiles)),
            "queues": ", ".join(sorted(e.queue_profiles)),
        }
        for e in rows
    ]
    return Listing(items, total, offset)


def list_runs(
    *,
    session: Session,
    principal: Principal,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    stmt = _filtered(
        select(TestRun, TestScenario.name)
        .join(TestScenario, col(TestScenario.id) == col(TestRun.scenario_id))
        .where(TestRun.tenant_id == principal.tenant_id),
        _matches(search, TestScenario.name, TestScenario.key),
        (TestRun.status == _choice(filter, RunStatus)) if filter else None,
    )
    total = _total(session, stmt)
    stmt = stmt.order_by(col(TestRun.created_at).desc(), col(TestRun.id)).limit(limit).offset(offset)
    items = [
        {
            "id": str(r.id),
            "scenario": name,
            "mode": _fmt(r.mode),
            "status": _fmt(r.status),
            "started_at": _fmt(r.started_at),
            "finished_at": _fmt(r.finished_at),
        }
        for r, name in session.exec(stmt).all()
    ]
    return Listing(items, total, offset)


def list_reports(
    *,
    session: Session,
    principal: Principal,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    """Stored reports, newest first: search by scenario, suite or run id; filter by the run's status."""
    stmt = _filtered(
        select(TestRunReport, TestRun, TestScenario.key, TestScenario.name)
        .join(TestRun, col(TestRun.id) == col(TestRunReport.run_id))
        .join(TestScenario, col(TestScenario.id) == col(TestRun.scenario_id))
        .where(TestRunReport.tenant_id == principal.tenant_id),
        _matches(search, TestScenario.name, TestScenario.key, sa.cast(TestRun.id, sa.String)),
        (TestRun.status == _choice(filter, RunStatus)) if filter else None,
    )
    total = _total(session, stmt)
    rows = session.exec(
        stmt.order_by(col(TestRunReport.created_at).desc(), col(TestRunReport.id)).limit(limit).offset(offset)
    ).all()
    items = []
    for report, run, key, name in rows:
        summary = report.summary or {}
        counts = summary.get("counts") or {}
        items.append(
            {
                "id": str(report.id),
                "run": str(run.id),
                "run_short": str(run.id)[:8],
                "scenario": name or key,
                "suite": str(summary.get("suiteName") or ""),
                "status": _fmt(run.status),
                "steps": f"{counts.get('passed', 0)}/{counts.get('total', 0)} passed",
                "violations": str(summary.get("violationCount", 0)),
                "duration": _duration(summary.get("durationMs")),
                "created_at": _fmt(report.created_at),
            }
        )
    return Listing(items, total, offset)


def _duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return ""
    if ms < 1000:
        return f"{int(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 / 1000)} s"


def list_members(
    *,
    session: Session,
    principal: Principal,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    stmt = _filtered(
        select(User, UserTenantRole.role)
        .join(UserTenantRole, col(UserTenantRole.user_id) == col(User.id))
        .where(UserTenantRole.tenant_id == principal.tenant_id),
        _matches(search, User.display_name, User.email),
        (UserTenantRole.role == _choice(filter, Role)) if filter else None,
    )
    total = _total(session, stmt)
    stmt = (
        stmt.order_by(col(User.display_name), col(User.id), col(UserTenantRole.role))
        .limit(limit)
        .offset(offset)
    )
    items = [
        {"id": str(u.id), "name": u.display_name, "email": u.email, "role": _fmt(role)}
        for u, role in session.exec(stmt).all()
    ]
    return Listing(items, total, offset)


def list_audit(
    *,
    session: Session,
    principal: Principal,
    limit: int = 50,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> Listing:
    """The audit log, newest first, with who did it and the names of what it touched (not bare ids).

    ``filter`` is an action family (``process``, ``spec``, ``suite``, ``run``...); ``search`` matches
    the action, the entity type or id, and the details' text (names are kept there).
    """
    stmt = _filtered(
        select(AuditLog).where(AuditLog.tenant_id == principal.tenant_id),
        _matches(
            search,
            AuditLog.action,
            AuditLog.entity_type,
            AuditLog.entity_id,
            sa.cast(AuditLog.details, sa.String),
        ),
        col(AuditLog.action).like(_pattern(filter)[1:], escape="\\") if filter else None,
    )
    total = _total(session, stmt)
    rows = session.exec(
        stmt.order_by(col(AuditLog.created_at).desc(), col(AuditLog.id)).limit(limit).offset(offset)
    ).all()
    names = audit_names(session=session, principal=principal, rows=rows)
    users = _user_names(session, {a.user_id for a in rows if a.user_id})
    items = [
        {
            "id": str(a.id),
            "action": a.action,
            "entity": names.get(a.id, a.entity_type),
            "entity_type": a.entity_type,
            "entity_id": a.entity_id or "",
            "user": users.get(a.user_id, "") if a.user_id else "",
            "details": _details_text(a.details),
            "created_at": _fmt(a.created_at),
        }
        for a in rows
    ]
    return Listing(items, total, offset)


_ENTITY_LABELS = {
    "process": "process",
    "process_version": "process",
    "protocol_spec": "spec",
    "scenario_suite": "suite",
    "test_scenario": "scenario",
    "test_run": "run",
    "test_run_batch": "run batch",
    "test_data_set": "data set",
    "environment": "environment",
    "test_run_report": "report",
}


def _uuid_or_none(text: str | None) -> UUID | None:
    try:
        return UUID(str(text))
    except ValueError:
        return None


def _ids(rows: Sequence[AuditLog], *types: str) -> list[UUID]:
    out = [_uuid_or_none(a.entity_id) for a in rows if a.entity_type in types]
    return [i for i in out if i is not None]


def audit_names(*, session: Session, principal: Principal, rows: Sequence[AuditLog]) -> dict[UUID, str]:
    """A readable name per audit row: the entity as it is now, else the name its details kept."""
    tenant = principal.tenant_id
    found: dict[str, str] = {}
    if ids := _ids(rows, "process_version"):
        for v_id, key, number in session.exec(
            select(ProcessVersion.id, Process.key, ProcessVersion.version)
            .join(Process, col(Process.id) == col(ProcessVersion.process_id))
            .where(ProcessVersion.tenant_id == tenant, col(ProcessVersion.id).in_(ids))
        ).all():
            found[str(v_id)] = f"{key} v{number}"
    if ids := _ids(rows, "process"):
        for p_id, key in session.exec(
            select(Process.id, Process.key).where(Process.tenant_id == tenant, col(Process.id).in_(ids))
        ).all():
            found[str(p_id)] = key
    if ids := _ids(rows, "protocol_spec"):
        for s_id, service, version in session.exec(
            select(ProtocolSpec.id, ProtocolSpec.service_name, ProtocolSpec.version).where(
                ProtocolSpec.tenant_id == tenant, col(ProtocolSpec.id).in_(ids)
            )
        ).all():
            found[str(s_id)] = f"{service} {version}"
    if ids := _ids(rows, "scenario_suite"):
        for s_id, name, key in session.exec(
            select(ScenarioSuite.id, ScenarioSuite.name, Process.key)
            .join(Process, col(Process.id) == col(ScenarioSuite.process_id))
            .where(ScenarioSuite.tenant_id == tenant, col(ScenarioSuite.id).in_(ids))
        ).all():
            found[str(s_id)] = suite_label(name, key)
    if ids := _ids(rows, "test_scenario"):
        for s_id, name in session.exec(
            select(TestScenario.id, TestScenario.name).where(
                TestScenario.tenant_id == tenant, col(TestScenario.id).in_(ids)
            )
        ).all():
            found[str(s_id)] = name
    if ids := _ids(rows, "test_run"):
        for r_id, name in session.exec(
            select(TestRun.id, TestScenario.name)
            .join(TestScenario, col(TestScenario.id) == col(TestRun.scenario_id))
            .where(TestRun.tenant_id == tenant, col(TestRun.id).in_(ids))
        ).all():
            found[str(r_id)] = f"{name} ({str(r_id)[:8]})"
    if ids := _ids(rows, "test_data_set"):
        for d_id, name in session.exec(
            select(TestDataSet.id, TestDataSet.name).where(
                TestDataSet.tenant_id == tenant, col(TestDataSet.id).in_(ids)
            )
        ).all():
            found[str(d_id)] = name
    if ids := _ids(rows, "environment"):
        for e_id, name in session.exec(
            select(Environment.id, Environment.name).where(
                Environment.tenant_id == tenant, col(Environment.id).in_(ids)
            )
        ).all():
            found[str(e_id)] = name
    out: dict[UUID, str] = {}
    for a in rows:
        label = _ENTITY_LABELS.get(a.entity_type, a.entity_type.replace("_", " "))
        name = found.get(a.entity_id or "") or _name_from_details(a)
        out[a.id] = f"{label} {name}" if name else f"{label} {(a.entity_id or '')[:8]}".strip()
    return out


def _name_from_details(a: AuditLog) -> str:
    d = a.details or {}
    if a.entity_type == "process_version" and d.get("key"):
        return f"{d['key']} v{d.get('version', '?')}"
    if a.entity_type == "protocol_spec" and d.get("service"):
        return f"{d['service']} {d.get('version', '')}".strip()
    if a.entity_type == "test_run_batch" and "runs" in d:
        return f"of {d['runs']} run(s)"
    for key in ("name", "key", "service"):
        if isinstance(d.get(key), str) and d[key]:
            return str(d[key])
    return ""


def _user_names(session: Session, ids: set[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    return {
        u_id: name or email
        for u_id, name, email in session.exec(
            select(User.id, User.display_name, User.email).where(col(User.id).in_(list(ids)))
        ).all()
    }


def _details_text(details: dict[str, Any] | None) -> str:
    """The details of an entry as short ``key: value`` text (ids left out: the entity column names it)."""
    parts = []
    for key, value in (details or {}).items():
        if isinstance(value, str) and _uuid_or_none(value) is not None:
            continue  # an id: the entity column names what it is
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value[:10]) + (" ..." if len(value) > 10 else "")
        parts.append(f"{key}: {value}")
    return "; ".join(parts)[:300]


# ------------------------------------------------------------------------------------------ detail views


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def process_detail(*, session: Session, principal: Principal, process_id: UUID) -> dict[str, Any]:
    """A process with every version (newest first) and the suites generated for each."""
    process = session.exec(
        select(Process).where(Process.tenant_id == principal.tenant_id, Process.id == process_id)
    ).first()
    if process is None:
        raise NotFound(f"process {process_id} not found", field="id")
    versions = session.exec(
        select(ProcessVersion)
        .where(ProcessVersion.tenant_id == principal.tenant_id, ProcessVersion.process_id == process_id)
        .order_by(col(ProcessVersion.version).desc())
    ).all()
    suites: dict[int, list[str]] = {}
    for suite_id, number in session.exec(
        select(ScenarioSuite.id, ScenarioSuite.process_version)
        .where(ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.process_id == process_id)
        .order_by(col(ScenarioSuite.created_at))
    ).all():
        suites.setdefault(number, []).append(str(suite_id))
    return {
        "id": str(process.id),
        "key": process.key,
        "name": process.name or process.key,
        "created_at": _iso(process.created_at),
        "versions": [
            {
                "id": str(v.id),
                "version": v.version,
                "source_type": v.source_type.value,
                "file": v.source_uri.rsplit("/", 1)[-1],
                "source_uri": v.source_uri,
                "status": v.status.value,
                "nodes": len(v.control_flow_graph.get("nodes", [])),
                "warnings": len(v.control_flow_graph.get("warnings", [])),
                "created_at": _iso(v.created_at),
                "suite_ids": suites.get(v.version, []),
            }
            for v in versions
        ],
    }


def spec_detail(*, session: Session, principal: Principal, spec_id: UUID) -> dict[str, Any]:
    """A spec with its parsed summary's headline fields, every operation and every import warning."""
    spec = session.exec(
        select(ProtocolSpec).where(ProtocolSpec.tenant_id == principal.tenant_id, ProtocolSpec.id == spec_id)
    ).first()
    if spec is None:
        raise NotFound(f"spec {spec_id} not found", field="id")
    summary = spec.parsed_summary
    return {
        "id": str(spec.id),
        "protocol": spec.protocol_id,
        "service": spec.service_name,
        "version": spec.version,
        "status": spec.status.value,
        "source_uri": spec.raw_spec_uri,
        "created_at": _iso(spec.created_at),
        "format": summary.get("format"),
        "spec_version": summary.get("specVersion"),
        "title": summary.get("title"),
        "servers": [s.get("url") for s in summary.get("servers", []) if isinstance(s, dict)],
        "operations": [
            {
                "id": op.get("id"),
                "method": op.get("method"),
                "path": op.get("path"),
                "summary": op.get("summary"),
                "tags": op.get("tags", []),
            }
            for op in summary.get("operations", [])
        ],
        "warnings": summary.get("warnings", []),
    }


def suite_detail(*, session: Session, principal: Principal, suite_id: UUID) -> dict[str, Any]:
    """A suite with its process, generation facts, and every scenario with its ordered steps."""
    row = session.exec(
        select(ScenarioSuite, Process)
        .join(Process, col(Process.id) == col(ScenarioSuite.process_id))
        .where(ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.id == suite_id)
    ).first()
    if row is None:
        raise NotFound(f"suite {suite_id} not found", field="id")
    suite, process = row
    scenarios = session.exec(
        select(TestScenario)
        .where(TestScenario.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id)
        .order_by(col(TestScenario.key), col(TestScenario.version))
    ).all()
    steps: dict[UUID, list[dict[str, Any]]] = {s.id: [] for s in scenarios}
    if scenarios:
        for step in session.exec(
            select(ScenarioStep)
            .join(TestScenario, col(TestScenario.id) == col(ScenarioStep.scenario_id))
            .where(ScenarioStep.tenant_id == principal.tenant_id, TestScenario.suite_id == suite_id)
            .order_by(col(ScenarioStep.scenario_id), col(ScenarioStep.order_index))
        ).all():
            steps[step.scenario_id].append(
                {
                    "id": str(step.id),
                    "order": step.order_index,
                    "alias": step.alias,
                    "name": step.name,
                    "kind": step.kind.value,
                    "channel_type": step.channel_type.value,
                    "source_node_id": step.source_node_id,
                    "endpoint_ref": step.endpoint_ref,
                    "action": step.action,
                    "expectations": step.expectations,
                }
            )
    return {
        "id": str(suite.id),
        "name": suite.name,
        "label": suite_label(suite.name, process.key),
        "process": {"id": str(process.id), "key": process.key, "name": process.name or process.key},
        "process_version": suite.process_version,
        "tags": suite.tags,
        "generation": suite.generation,
        "created_at": _iso(suite.created_at),
        "scenarios": [
            {
                "id": str(s.id),
                "key": s.key,
                "name": s.name,
                "version": s.version,
                "status": s.status.value,
                "active": s.active,
                "tags": s.tags,
                "path": s.path,
                "steps": steps[s.id],
            }
            for s in scenarios
        ],
    }


# public names of the helpers other list services share (services/reports.py)
matches = _matches
total_of = _total
duration_text = _duration
fmt = _fmt
