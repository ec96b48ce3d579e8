"""Deleting processes, specs, suites and reports: tenant-scoped, role-checked, never silently lossy.

Every delete first measures what depends on the row (``impact_of``) and then:

* refuses (409 ``conflict``) while a run that depends on it is PENDING, QUEUED or IN_PROGRESS
  (cancel it first: a worker would lose what it runs);
* refuses (409) when anything else depends on it and the caller did not ask for ``cascade``; the
  message names every count, so nothing goes unnoticed (a process always has versions, so deleting a
  process always needs ``cascade``: its versions are never dropped as a side effect);
* with ``cascade``, removes the row and everything that depends on it in one transaction.

What depends on what::

    process ─┬─ process_version
             └─ scenario_suite ─┬─ suite_spec (the suite's chosen specs)
                                ├─ test_data_set (SUITE / SCENARIO scope)
                                └─ test_scenario ─┬─ scenario_step
                                                  └─ test_run ─┬─ test_step_result
                                                               └─ test_run_report
    protocol_spec ── suite_spec (suites that chose it; active runs that pinned it block)
    test_run_report (the run stays; its report is rebuilt on demand)

Uploaded source files stay in the content-addressed artifact store (another version may share them).
The row is locked first (FOR UPDATE on PostgreSQL, the write lock on SQLite), so concurrent deletes of
one row end with one deletion and ``NotFound`` for the others; an audit entry names what went.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import (
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioStep,
    ScenarioSuite,
    SuiteSpec,
    TestDataSet,
    TestRun,
    TestRunReport,
    TestScenario,
    TestStepResult,
)
from orchestra_app.domain.errors import Conflict, NotFound
from orchestra_app.domain.runs import RunSnapshot, RunStatus
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import audit
from orchestra_app.services.concurrency import locked
from orchestra_app.services.guards import require

ACTIVE = (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.IN_PROGRESS)
KINDS = ("process", "spec", "suite", "report")

# count key -> (singular, plural), in the order a message lists them
_NOUNS: dict[str, tuple[str, str]] = {
    "versions": ("version", "versions"),
    "suites": ("suite", "suites"),
    "scenarios": ("scenario version", "scenario versions"),
    "steps": ("step", "steps"),
    "data_sets": ("data set", "data sets"),
    "runs": ("run", "runs"),
    "step_results": ("step result", "step results"),
    "reports": ("report", "reports"),
    "suite_links": ("suite that chose it", "suites that chose it"),
}


@dataclass
class Impact:
    """What deleting one row would take with it."""

    kind: str
    id: UUID
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    active_runs: int = 0

    @property
    def needs_cascade(self) -> bool:
        return any(self.counts.values())

    def dependents_text(self) -> str:
        parts = []
        for key, (one, many) in _NOUNS.items():
            n = self.counts.get(key, 0)
            if n:
                parts.append(f"{n:,} {one if n == 1 else many}")
        if not parts:
            return ""
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    def confirmation(self) -> str:
        """The sentence a confirmation dialog shows."""
        what = f"{self.kind} {self.name}"
        if self.active_runs:
            return (
                f"{what} cannot be deleted: {self.active_runs} run(s) that depend on it are still "
                "pending, queued or in progress. Cancel them first."
            )
        dependents = self.dependents_text()
        if not dependents:
            return f"Delete {what}? This cannot be undone."
        return f"Delete {what} together with its {dependents}? This cannot be undone."

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": str(self.id),
            "name": self.name,
            "counts": dict(self.counts),
            "activeRuns": self.active_runs,
            "needsCascade": self.needs_cascade,
            "confirmation": self.confirmation(),
        }


# ------------------------------------------------------------------------------------------- look-ups


def _one(session: Session, principal: Principal, model: Any, row_id: UUID, what: str, *, lock: bool) -> Any:
    stmt = select(model).where(model.tenant_id == principal.tenant_id, model.id == row_id)
    row = session.exec(locked(session, stmt) if lock else stmt).first()
    if row is None:
        raise NotFound(f"{what} {row_id} not found", field="id")
    return row


def _count(session: Session, stmt: Any) -> int:
    return int(session.exec(select(func.count()).select_from(stmt.subquery())).one())


def _suite_scope(session: Session, principal: Principal, suite_ids: Any) -> dict[str, Any]:
    """Sub-selects of every row that hangs off the given suites (``suite_ids`` is a select of ids)."""
    tenant = principal.tenant_id
    scenarios = select(TestScenario.id).where(
        TestScenario.tenant_id == tenant, col(TestScenario.suite_id).in_(suite_ids)
    )
    runs = select(TestRun.id).where(
        TestRun.tenant_id == tenant,
        sa.or_(col(TestRun.suite_id).in_(suite_ids), col(TestRun.scenario_id).in_(scenarios)),
    )
    data_sets = select(TestDataSet.id).where(
        TestDataSet.tenant_id == tenant,
        sa.or_(col(TestDataSet.suite_id).in_(suite_ids), col(TestDataSet.scenario_id).in_(scenarios)),
    )
    return {"suites": suite_ids, "scenarios": scenarios, "runs": runs, "data_sets": data_sets}


def _suite_counts(session: Session, scope: dict[str, Any]) -> tuple[dict[str, int], int]:
    counts = {
        "scenarios": _count(session, scope["scenarios"]),
        "steps": _count(
            session, select(ScenarioStep.id).where(col(ScenarioStep.scenario_id).in_(scope["scenarios"]))
        ),
        "data_sets": _count(session, scope["data_sets"]),
        "runs": _count(session, scope["runs"]),
        "step_results": _count(
            session, select(TestStepResult.id).where(col(TestStepResult.run_id).in_(scope["runs"]))
        ),
        "reports": _count(
            session, select(TestRunReport.id).where(col(TestRunReport.run_id).in_(scope["runs"]))
        ),
    }
    active = _count(
        session,
        select(TestRun.id).where(col(TestRun.id).in_(scope["runs"]), col(TestRun.status).in_(ACTIVE)),
    )
    return counts, active


def _process_impact(session: Session, principal: Principal, process: Process) -> Impact:
    suite_ids = select(ScenarioSuite.id).where(
        ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.process_id == process.id
    )
    counts, active = _suite_counts(session, _suite_scope(session, principal, suite_ids))
    counts = {
        "versions": _count(session, select(ProcessVersion.id).where(ProcessVersion.process_id == process.id)),
        "suites": _count(session, suite_ids),
        **counts,
    }
    label = (
        process.key if not process.name or process.name == process.key else f"{process.key} ({process.name})"
    )
    return Impact("process", process.id, label, counts, active)


def _suite_impact(session: Session, principal: Principal, suite: ScenarioSuite) -> Impact:
    suite_ids = select(ScenarioSuite.id).where(ScenarioSuite.id == suite.id)
    counts, active = _suite_counts(session, _suite_scope(session, principal, suite_ids))
    return Impact("suite", suite.id, suite.name, counts, active)


def _spec_impact(session: Session, principal: Principal, spec: ProtocolSpec) -> Impact:
    links = _count(session, select(SuiteSpec.suite_id).where(SuiteSpec.spec_id == spec.id))
    active = 0
    for pinned in session.exec(
        select(TestRun.pinned).where(
            TestRun.tenant_id == principal.tenant_id, col(TestRun.status).in_(ACTIVE)
        )
    ).all():
        spec_ids = RunSnapshot.model_validate(pinned or {}).spec_ids
        active += spec.id in spec_ids.values()
    return Impact("spec", spec.id, f"{spec.service_name} {spec.version}", {"suite_links": links}, active)


def _report_impact(session: Session, principal: Principal, report: TestRunReport) -> Impact:
    return Impact("report", report.id, f"of run {report.run_id}", {}, 0)


def impact_of(*, session: Session, principal: Principal, kind: str, row_id: UUID) -> Impact:
    """What deleting the row would remove (read-only; the confirmation dialog shows it)."""
    require(principal, Role.VIEWER, Role.TEST_RUNNER, Role.TEST_DESIGNER)
    if kind == "process":
        return _process_impact(
            session, principal, _one(session, principal, Process, row_id, "process", lock=False)
        )
    if kind == "spec":
        return _spec_impact(
            session, principal, _one(session, principal, ProtocolSpec, row_id, "spec", lock=False)
        )
    if kind == "suite":
        suite = _one(session, principal, ScenarioSuite, row_id, "suite", lock=False)
        return _suite_impact(session, principal, suite)
    if kind == "report":
        report = _one(session, principal, TestRunReport, row_id, "report", lock=False)
        return _report_impact(session, principal, report)
    raise NotFound(f"unknown kind {kind!r} (one of: {', '.join(KINDS)})", field="kind")


# ------------------------------------------------------------------------------------------- deleting


def _check(impact: Impact, cascade: bool) -> None:
    if impact.active_runs:
        raise Conflict(impact.confirmation(), field="id")
    if impact.needs_cascade and not cascade:
        raise Conflict(
            f"{impact.kind} {impact.name} has {impact.dependents_text()}; nothing was deleted. "
            "Delete them too with cascade=true",
            field="cascade",
        )


def _delete_suite_scope(session: Session, scope: dict[str, Any]) -> None:
    """Bulk deletes, children first (a run of 10,000 steps is one statement per table)."""
    runs, data_sets, scenarios = scope["runs"], scope["data_sets"], scope["scenarios"]
    session.execute(sa.delete(TestRunReport).where(col(TestRunReport.run_id).in_(runs)))
    session.execute(sa.delete(TestStepResult).where(col(TestStepResult.run_id).in_(runs)))
    # runs elsewhere that started FROM_STEP of a deleted run, or used a deleted data set, keep their
    # pinned copy; only the reference goes
    session.exec(
        sa.update(TestRun)
        .where(col(TestRun.from_run_id).in_(runs), col(TestRun.id).not_in(runs))
        .values(from_run_id=None)
    )
    session.exec(
        sa.update(TestRun)
        .where(col(TestRun.data_set_id).in_(data_sets), col(TestRun.id).not_in(runs))
        .values(data_set_id=None)
    )
    run_ids = list(session.exec(runs).all())
    if run_ids:
        # FROM_STEP runs inside the scope point at each other: drop those references before the rows
        session.exec(sa.update(TestRun).where(col(TestRun.id).in_(run_ids)).values(from_run_id=None))
        session.execute(sa.delete(TestRun).where(col(TestRun.id).in_(run_ids)))
    session.execute(
        sa.delete(TestDataSet).where(col(TestDataSet.id).in_(list(session.exec(data_sets).all())))
    )
    scenario_ids = list(session.exec(scenarios).all())
    session.execute(sa.delete(ScenarioStep).where(col(ScenarioStep.scenario_id).in_(scenario_ids)))
    session.execute(sa.delete(TestScenario).where(col(TestScenario.id).in_(scenario_ids)))
    suite_ids = list(session.exec(scope["suites"]).all())
    session.execute(sa.delete(SuiteSpec).where(col(SuiteSpec.suite_id).in_(suite_ids)))
    session.execute(sa.delete(ScenarioSuite).where(col(ScenarioSuite.id).in_(suite_ids)))


def _audit(session: Session, principal: Principal, impact: Impact, entity_type: str) -> None:
    audit.record(
        session=session,
        principal=principal,
        action=f"{impact.kind}.delete",
        entity_type=entity_type,
        entity_id=impact.id,
        details={"name": impact.name, "deleted": {k: v for k, v in impact.counts.items() if v}},
    )


def delete_process(
    *, session: Session, principal: Principal, process_id: UUID, cascade: bool = False
) -> Impact:
    """Deletes a process with (``cascade``) its versions, suites, scenarios, data sets and runs."""
    require(principal, Role.TEST_DESIGNER)
    process = _one(session, principal, Process, process_id, "process", lock=True)
    impact = _process_impact(session, principal, process)
    _check(impact, cascade)
    suite_ids = select(ScenarioSuite.id).where(
        ScenarioSuite.tenant_id == principal.tenant_id, ScenarioSuite.process_id == process.id
    )
    _delete_suite_scope(session, _suite_scope(session, principal, suite_ids))
    session.execute(sa.delete(ProcessVersion).where(col(ProcessVersion.process_id) == process.id))
    session.execute(sa.delete(Process).where(col(Process.id) == process.id))
    _audit(session, principal, impact, "process")
    session.flush()
    return impact


def delete_suite(*, session: Session, principal: Principal, suite_id: UUID, cascade: bool = False) -> Impact:
    """Deletes a suite with (``cascade``) its scenarios, data sets and runs; the process version stays."""
    require(principal, Role.TEST_DESIGNER)
    suite = _one(session, principal, ScenarioSuite, suite_id, "suite", lock=True)
    impact = _suite_impact(session, principal, suite)
    _check(impact, cascade)
    suite_ids = select(ScenarioSuite.id).where(ScenarioSuite.id == suite.id)
    _delete_suite_scope(session, _suite_scope(session, principal, suite_ids))
    _audit(session, principal, impact, "scenario_suite")
    session.flush()
    return impact


def delete_spec(*, session: Session, principal: Principal, spec_id: UUID, cascade: bool = False) -> Impact:
    """Deletes a spec; suites that chose it lose that choice (``cascade``); ended runs keep their results."""
    require(principal, Role.TEST_DESIGNER)
    spec = _one(session, principal, ProtocolSpec, spec_id, "spec", lock=True)
    impact = _spec_impact(session, principal, spec)
    _check(impact, cascade)
    session.execute(sa.delete(SuiteSpec).where(col(SuiteSpec.spec_id) == spec.id))
    session.execute(sa.delete(ProtocolSpec).where(col(ProtocolSpec.id) == spec.id))
    _audit(session, principal, impact, "protocol_spec")
    session.flush()
    return impact


def delete_report(
    *, session: Session, principal: Principal, report_id: UUID, cascade: bool = False
) -> Impact:
    """Deletes a stored report; the run and its step results stay (the report is rebuilt on demand)."""
    require(principal, Role.TEST_RUNNER)
    report = _one(session, principal, TestRunReport, report_id, "report", lock=True)
    impact = _report_impact(session, principal, report)
    session.execute(sa.delete(TestRunReport).where(col(TestRunReport.id) == report.id))
    _audit(session, principal, impact, "test_run_report")
    session.flush()
    return impact


DELETERS: dict[str, tuple[Callable[..., Impact], str]] = {
    "process": (delete_process, "process_id"),
    "spec": (delete_spec, "spec_id"),
    "suite": (delete_suite, "suite_id"),
    "report": (delete_report, "report_id"),
}


def delete(
    *, session: Session, principal: Principal, kind: str, row_id: UUID, cascade: bool = False
) -> Impact:
    """One entry point for the UI's list component and the REST routes."""
    if kind not in DELETERS:
        raise NotFound(f"unknown kind {kind!r} (one of: {', '.join(KINDS)})", field="kind")
    fn, id_name = DELETERS[kind]
    return fn(session=session, principal=principal, cascade=cascade, **{id_name: row_id})
