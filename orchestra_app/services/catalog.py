"""Read-side use cases: the rows each section of the UI lists, always scoped by the caller's tenant."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from orchestra_app.db.tables import (
    ArtifactStatus,
    AuditLog,
    Environment,
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioSuite,
    TestDataSet,
    TestRun,
    TestRunReport,
    TestScenario,
    User,
    UserTenantRole,
)
from orchestra_app.domain.tenancy import Principal

Row = dict[str, str]
M = TypeVar("M", bound=SQLModel)

DEFAULT_LIMIT = 200


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def _scoped(model: type[M], principal: Principal, limit: int) -> SelectOfScalar[M]:
    return select(model).where(model.tenant_id == principal.tenant_id).limit(limit)  # type: ignore[attr-defined]


def list_processes(*, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT) -> list[Row]:
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
    stmt = (
        select(Process, latest.c.latest, latest.c.versions)
        .join(latest, latest.c.process_id == Process.id, isouter=True)
        .where(Process.tenant_id == principal.tenant_id)
        .order_by(Process.created_at.desc())  # type: ignore[attr-defined]
        .limit(limit)
    )
    return [
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


def list_specs(*, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT) -> list[Row]:
    rows = session.exec(
        _scoped(ProtocolSpec, principal, limit).order_by(ProtocolSpec.created_at.desc())  # type: ignore[attr-defined]
    ).all()
    return [
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


def list_suites(*, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT) -> list[Row]:
    counts = (
        select(TestScenario.suite_id, func.count().label("n"))
        .where(TestScenario.tenant_id == principal.tenant_id)
        # a suite imported from YAML keeps older scenario versions as DEPRECATED: count current ones
        .where(TestScenario.status != ArtifactStatus.DEPRECATED)
        .group_by(col(TestScenario.suite_id))
        .subquery()
    )
    stmt = (
        select(ScenarioSuite, Process.key, counts.c.n)
        .join(Process, col(Process.id) == col(ScenarioSuite.process_id))
        .join(counts, counts.c.suite_id == ScenarioSuite.id, isouter=True)
        .where(ScenarioSuite.tenant_id == principal.tenant_id)
        .order_by(ScenarioSuite.created_at.desc())  # type: ignore[attr-defined]
        .limit(limit)
    )
    return [
        {
            "id": str(s.id),
            "name": s.name,
            "process": key,
            "process_version": str(s.process_version),
            "scenarios": _fmt(n or 0),
            "tags": ", ".join(s.tags),
            "created_at": _fmt(s.created_at),
        }
        for s, key, n in session.exec(stmt).all()
    ]


def list_data_sets(*, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT) -> list[Row]:
    rows = session.exec(
        _scoped(TestDataSet, principal, limit).order_by(TestDataSet.created_at.desc())  # type: ignore[attr-defined]
    ).all()
    return [
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


def list_environments(*, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT) -> list[Row]:
    rows = session.exec(_scoped(Environment, principal, limit).order_by(Environment.name)).all()
    return [
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


def list_runs(*, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT) -> list[Row]:
    stmt = (
        select(TestRun, TestScenario.name)
        .join(TestScenario, col(TestScenario.id) == col(TestRun.scenario_id))
        .where(TestRun.tenant_id == principal.tenant_id)
        .order_by(TestRun.created_at.desc())  # type: ignore[attr-defined]
        .limit(limit)
    )
    return [
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


def list_reports(*, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT) -> list[Row]:
    rows = session.exec(
        _scoped(TestRunReport, principal, limit).order_by(TestRunReport.created_at.desc())  # type: ignore[attr-defined]
    ).all()
    return [
        {
            "id": str(r.id),
            "run": str(r.run_id),
            "status": _fmt(r.summary.get("status")),
            "created_at": _fmt(r.created_at),
        }
        for r in rows
    ]


def list_members(*, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT) -> list[Row]:
    stmt = (
        select(User, UserTenantRole.role)
        .join(UserTenantRole, col(UserTenantRole.user_id) == col(User.id))
        .where(UserTenantRole.tenant_id == principal.tenant_id)
        .order_by(User.display_name)
        .limit(limit)
    )
    return [
        {"id": str(u.id), "name": u.display_name, "email": u.email, "role": _fmt(role)}
        for u, role in session.exec(stmt).all()
    ]


def list_audit(*, session: Session, principal: Principal, limit: int = 50) -> list[Row]:
    rows = session.exec(
        _scoped(AuditLog, principal, limit).order_by(AuditLog.created_at.desc())  # type: ignore[attr-defined]
    ).all()
    return [
        {
            "id": str(a.id),
            "action": a.action,
            "entity": f"{a.entity_type} {a.entity_id or ''}".strip(),
            "created_at": _fmt(a.created_at),
        }
        for a in rows
    ]
