"""Run reports and suite trends (issue 12 item 5): loads a run's detail and pinned snapshot, the suite's
name, and hands them to ``reporting.report`` (pure); exports render that one document.

Every read is scoped by tenant through ``runs.get_run`` / explicit ``tenant_id`` filters.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestra_app.db.tables import Process, ScenarioSuite, TestRun, TestScenario
from orchestra_app.domain.errors import NotFound, ValidationFailed
from orchestra_app.domain.runs import TERMINAL_STATUSES, RunSnapshot, RunStatus
from orchestra_app.reporting.html import render_html
from orchestra_app.reporting.report import build_report, report_junit, trend
from orchestra_app.services import catalog
from orchestra_app.services import runs as run_service
from orchestra_app.services.guards import require
from orchestra_app.services.runs import READ_ROLES

FORMATS = ("html", "json", "xml")
MAX_TREND = 200


def _suite_name(session: Session, principal: Any, suite_id: UUID | None) -> str:
    if suite_id is None:
        return ""
    row = session.exec(
        select(ScenarioSuite.name, Process.key)
        .join(Process, col(Process.id) == col(ScenarioSuite.process_id))
        .where(ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.id == suite_id)
    ).first()
    return catalog.suite_label(row[0], row[1]) if row else ""


def run_report(*, session: Session, principal: Any, run_id: UUID) -> dict[str, Any]:
    """The report document (schema orchestra-report/1) of one run, finished or not."""
    detail = run_service.get_run(session=session, principal=principal, run_id=run_id)
    pinned = session.exec(
        select(TestRun.pinned).where(TestRun.tenant_id == principal.tenant_id, TestRun.id == run_id)
    ).one()
    snapshot = RunSnapshot.model_validate(pinned or {})
    return build_report(
        detail.model_dump(mode="json", by_alias=True),
        snapshot,
        suite_name=_suite_name(session, principal, detail.suite_id),
    )


def export(*, session: Session, principal: Any, run_id: UUID, fmt: str) -> tuple[bytes, str]:
    """(content, media type) of a report export: ``html`` (self-contained), ``json`` or ``xml`` (JUnit)."""
    if fmt not in FORMATS:
        raise ValidationFailed(f"unknown report format {fmt!r} (use {', '.join(FORMATS)})", field="format")
    report = run_report(session=session, principal=principal, run_id=run_id)
    if fmt == "html":
        return render_html(report).encode(), "text/html; charset=utf-8"
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2).encode(), "application/json"
    return report_junit(report), "application/xml"


def suite_trend(*, session: Session, principal: Any, suite_id: UUID, limit: int = 30) -> dict[str, Any]:
    """Pass rate and duration of a suite's last ``limit`` runs (a run = a batch of scenario runs)."""
    require(principal, *READ_ROLES)
    if not 1 <= limit <= MAX_TREND:
        raise ValidationFailed(f"limit must be between 1 and {MAX_TREND}", field="limit")
    name = _suite_name(session, principal, suite_id)
    if not name:
        raise NotFound(f"suite {suite_id} not found", field="suiteId")
    group = sa.func.coalesce(col(TestRun.batch_id), col(TestRun.id))
    last = (
        select(group.label("g"), sa.func.min(TestRun.created_at).label("first"))
        .where(TestRun.tenant_id == principal.tenant_id, TestRun.suite_id == suite_id)
        .group_by(group)
        .order_by(sa.desc("first"))
        .limit(limit)
        .subquery()
    )
    rows = session.execute(
        sa.select(
            col(TestRun.id),
            col(TestRun.batch_id),
            col(TestRun.status),
            col(TestRun.created_at),
            col(TestRun.started_at),
            col(TestRun.finished_at),
        ).where(
            col(TestRun.tenant_id) == principal.tenant_id,
            col(TestRun.suite_id) == suite_id,
            col(TestRun.status).in_(TERMINAL_STATUSES),
            group.in_(select(last.c.g)),
        )
    ).all()
    points = [
        {
            "id": str(r[0]),
            "batchId": str(r[1]) if r[1] else None,
            "status": str(r[2]),
            "createdAt": r[3].isoformat(),
            "startedAt": r[4].isoformat() if r[4] else None,
            "finishedAt": r[5].isoformat() if r[5] else None,
        }
        for r in rows
    ]
    return {"suiteId": str(suite_id), "suiteName": name, "points": trend(points)}


def list_run_reports(
    *,
    session: Session,
    principal: Any,
    limit: int = catalog.DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> catalog.Listing:
    """Ended runs, newest first, as rows of the Reports list: search scenario/suite/run id, filter status."""
    require(principal, *READ_ROLES)
    statuses = list(TERMINAL_STATUSES)
    if filter:
        try:
            chosen = RunStatus(filter)
        except ValueError:
            raise ValidationFailed(
                f"filter {filter[:60]!r} is not one of: {', '.join(s.value for s in TERMINAL_STATUSES)}",
                field="filter",
            ) from None
        statuses = [chosen]
    stmt = (
        sa.select(
            TestRun, col(TestScenario.name), col(TestScenario.key), col(ScenarioSuite.name), col(Process.key)
        )
        .join(TestScenario, col(TestScenario.id) == col(TestRun.scenario_id))
        .join(ScenarioSuite, col(ScenarioSuite.id) == col(TestScenario.suite_id))
        .join(Process, col(Process.id) == col(ScenarioSuite.process_id))
        .where(TestRun.tenant_id == principal.tenant_id, col(TestRun.status).in_(statuses))
    )
    if search and search.strip():
        stmt = stmt.where(
            catalog.matches(search, TestScenario.name, TestScenario.key, ScenarioSuite.name, Process.key)
        )
    total = catalog.total_of(session, stmt)
    page = session.execute(
        stmt.order_by(col(TestRun.created_at).desc(), col(TestRun.id)).limit(limit).offset(offset)
    ).all()
    items = []
    for run, scenario, key, suite, process in page:
        duration = (
            (run.finished_at - run.started_at).total_seconds() * 1000
            if run.finished_at and run.started_at
            else None
        )
        items.append(
            {
                "id": str(run.id),
                "run_short": str(run.id)[:8],
                "scenario": scenario or key,
                "suite": catalog.suite_label(suite, process),
                "suite_id": str(run.suite_id or ""),
                "status": str(run.status),
                "duration": catalog.duration_text(duration),
                "created_at": catalog.fmt(run.created_at),
            }
        )
    return catalog.Listing(items, total, offset)
