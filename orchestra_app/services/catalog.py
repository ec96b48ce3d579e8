"""Read-side use cases: the rows each section of the UI lists, always scoped by the caller's tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from sqlmodel import Session, SQLModel, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from orchestra_app.db.tables import (
    ArtifactStatus,
    AuditLog,
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
from orchestra_app.domain.errors import NotFound
from orchestra_app.domain.tenancy import Principal

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


def _scoped(model: type[M], principal: Principal, limit: int, offset: int = 0) -> SelectOfScalar[M]:
    return (
        select(model)
        .where(model.tenant_id == principal.tenant_id)  # type: ignore[attr-defined]
        .limit(limit)
        .offset(offset)
    )


def _count(session: Session, model: type[SQLModel], principal: Principal) -> int:
    stmt = select(func.count()).select_from(model).where(model.tenant_id == principal.tenant_id)  # type: ignore[attr-defined]
    return int(session.exec(stmt).one())


def list_processes(
    *, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT, offset: int = 0
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
    stmt = (
        select(Process, latest.c.latest, latest.c.versions)
        .join(latest, latest.c.process_id == Process.id, isouter=True)
        .where(Process.tenant_id == principal.tenant_id)
        .order_by(col(Process.created_at).desc(), col(Process.id))
        .limit(limit)
        .offset(offset)
    )
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
    return Listing(items, _count(session, Process, principal), offset)


def list_specs(
    *, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Listing:
    rows = session.exec(
        _scoped(ProtocolSpec, principal, limit, offset).order_by(
            col(ProtocolSpec.created_at).desc(), col(ProtocolSpec.id)
        )
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
    return Listing(items, _count(session, ProtocolSpec, principal), offset)


def list_suites(
    *, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Listing:
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
        .order_by(col(ScenarioSuite.created_at).desc(), col(ScenarioSuite.id))
        .limit(limit)
        .offset(offset)
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
    return Listing(items, _count(session, ScenarioSuite, principal), offset)


def suite_label(name: str, process_key: str) -> str:
    """A suite's name with its process key, so suites of processes with the same name stay apart."""
    return f"{name} [{process_key}]"


def list_data_sets(
    *, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Listing:
    rows = session.exec(
        _scoped(TestDataSet, principal, limit, offset).order_by(
            col(TestDataSet.created_at).desc(), col(TestDataSet.id)
        )
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
    return Listing(items, _count(session, TestDataSet, principal), offset)


def list_environments(
    *, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Listing:
    rows = session.exec(
        _scoped(Environment, principal, limit, offset).order_by(col(Environment.name), col(Environment.id))
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
    return Listing(items, _count(session, Environment, principal), offset)


def list_runs(
    *, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Listing:
    stmt = (
        select(TestRun, TestScenario.name)
        .join(TestScenario, col(TestScenario.id) == col(TestRun.scenario_id))
        .where(TestRun.tenant_id == principal.tenant_id)
        .order_by(col(TestRun.created_at).desc(), col(TestRun.id))
        .limit(limit)
        .offset(offset)
    )
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
    return Listing(items, _count(session, TestRun, principal), offset)


def list_reports(
    *, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Listing:
    rows = session.exec(
        _scoped(TestRunReport, principal, limit, offset).order_by(
            col(TestRunReport.created_at).desc(), col(TestRunReport.id)
        )
    ).all()
    items = [
        {
            "id": str(r.id),
            "run": str(r.run_id),
            "status": _fmt(r.summary.get("status")),
            "created_at": _fmt(r.created_at),
        }
        for r in rows
    ]
    return Listing(items, _count(session, TestRunReport, principal), offset)


def list_members(
    *, session: Session, principal: Principal, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> Listing:
    stmt = (
        select(User, UserTenantRole.role)
        .join(UserTenantRole, col(UserTenantRole.user_id) == col(User.id))
        .where(UserTenantRole.tenant_id == principal.tenant_id)
        .order_by(col(User.display_name), col(User.id), col(UserTenantRole.role))
        .limit(limit)
        .offset(offset)
    )
    items = [
        {"id": str(u.id), "name": u.display_name, "email": u.email, "role": _fmt(role)}
        for u, role in session.exec(stmt).all()
    ]
    total = session.exec(
        select(func.count())
        .select_from(UserTenantRole)
        .where(UserTenantRole.tenant_id == principal.tenant_id)
    ).one()
    return Listing(items, int(total), offset)


def list_audit(*, session: Session, principal: Principal, limit: int = 50, offset: int = 0) -> Listing:
    rows = session.exec(
        _scoped(AuditLog, principal, limit, offset).order_by(
            col(AuditLog.created_at).desc(), col(AuditLog.id)
        )
    ).all()
    items = [
        {
            "id": str(a.id),
            "action": a.action,
            "entity": f"{a.entity_type} {a.entity_id or ''}".strip(),
            "created_at": _fmt(a.created_at),
        }
        for a in rows
    ]
    return Listing(items, _count(session, AuditLog, principal), offset)


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
