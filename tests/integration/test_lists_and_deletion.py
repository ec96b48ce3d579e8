"""Lists (search, filter, pagination), deletion with confirmation and the audit log by names
(issue 12 item 6), on PostgreSQL: refusals delete nothing, a cascade takes exactly what the impact
named, active runs block, and 50 concurrent deleters of one process end with exactly one delete."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import (
    AuditLog,
    Process,
    ProcessVersion,
    ScenarioStep,
    ScenarioSuite,
    TestRun,
    TestScenario,
)
from orchestra_app.domain.errors import Conflict, NotFound, ValidationFailed
from orchestra_app.domain.runs import RunMode, RunStatus
from orchestra_app.services import catalog, deletion
from tests.fixtures.runs import Seeded, get_step, seed_suite
from tests.integration.concurrency import hammer, wide_engine

pytestmark = pytest.mark.integration


def _count(engine: sa.Engine, model: type, *where: object) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def _seed(engine: sa.Engine, key: str = "shop") -> Seeded:
    return seed_suite(
        engine,
        base_url="http://127.0.0.1:9",
        process_key=key,
        scenarios={"a": [get_step("s1"), get_step("s2")], "b": [get_step("s1")]},
        environment_name=f"env-{key}",
    )


def _add_run(engine: sa.Engine, seeded: Seeded, status: RunStatus) -> uuid.UUID:
    with Session(engine) as session:
        run = TestRun(
            tenant_id=seeded.principal.tenant_id,
            suite_id=seeded.suite_id,
            scenario_id=seeded.scenarios["a"],
            status=status,
            mode=RunMode.RUN_ALL_STEPS,
            scenario_version=1,
        )
        session.add(run)
        session.commit()
        return run.id


def test_search_filter_and_pages(migrated_pg_engine: sa.Engine) -> None:
    engine = migrated_pg_engine
    seeded = _seed(engine, "orders")
    for key in ("payments", "inventory", "pay_100%"):
        _seed(engine, key)
    with Session(engine) as session:
        p = seeded.principal
        everything = catalog.list_processes(session=session, principal=p, limit=2)
        assert everything.total == 4 and len(everything.items) == 2
        rest = catalog.list_processes(session=session, principal=p, limit=2, offset=2)
        assert {r["key"] for r in everything.items} | {r["key"] for r in rest.items} == {
            "orders",
            "payments",
            "inventory",
            "pay_100%",
        }
        pay = catalog.list_processes(session=session, principal=p, search="PAY")
        assert sorted(r["key"] for r in pay.items) == ["pay_100%", "payments"] and pay.total == 2
        # % and _ are literal, not wildcards
        literal = catalog.list_processes(session=session, principal=p, search="100%")
        assert [r["key"] for r in literal.items] == ["pay_100%"]
        assert catalog.list_processes(session=session, principal=p, search="y_1").total == 1
        assert catalog.list_processes(session=session, principal=p, search="a%s").total == 0
        assert catalog.list_processes(session=session, principal=p, filter="BPMN").total == 4
        assert catalog.list_processes(session=session, principal=p, filter="SEQUENCE").total == 0
        with pytest.raises(ValidationFailed) as bad:
            catalog.list_processes(session=session, principal=p, filter="PDF")
        assert bad.value.field == "filter" and "BPMN" in str(bad.value)
        with pytest.raises(ValidationFailed):
            catalog.list_runs(session=session, principal=p, filter="RUNNING_FAST")
        suites = catalog.list_suites(session=session, principal=p, filter="inventory")
        assert suites.total == 1 and suites.items[0]["process"] == "inventory"
        options = catalog.filter_options(session=session, principal=p, section="suites")
        assert [v for _, v in options] == ["inventory", "orders", "pay_100%", "payments"]


def test_delete_refuses_without_cascade_and_cascades_exactly(migrated_pg_engine: sa.Engine) -> None:
    engine = migrated_pg_engine
    seeded = _seed(engine)
    other = _seed(engine, "other")
    _add_run(engine, seeded, RunStatus.PASSED)
    with Session(engine) as session:
        process_id = session.exec(select(Process.id).where(Process.key == "shop")).one()
        impact = deletion.impact_of(
            session=session, principal=seeded.principal, kind="process", row_id=process_id
        )
    assert impact.counts["versions"] == 1 and impact.counts["suites"] == 1
    assert impact.counts["scenarios"] == 2 and impact.counts["steps"] == 3 and impact.counts["runs"] == 1
    assert "2 scenario versions" in impact.confirmation() and "cannot be undone" in impact.confirmation()

    before = {
        m: _count(engine, m) for m in (Process, ProcessVersion, ScenarioSuite, TestScenario, ScenarioStep)
    }
    with Session(engine) as session, pytest.raises(Conflict) as refused:
        deletion.delete(session=session, principal=seeded.principal, kind="process", row_id=process_id)
    assert refused.value.field == "cascade" and "nothing was deleted" in str(refused.value)
    assert {m: _count(engine, m) for m in before} == before  # versions are never silently lost

    with Session(engine) as session:
        deletion.delete(
            session=session, principal=seeded.principal, kind="process", row_id=process_id, cascade=True
        )
        session.commit()
    assert _count(engine, Process) == 1 and _count(engine, ProcessVersion) == 1
    assert _count(engine, TestScenario) == 2 and _count(engine, ScenarioStep) == 3  # "other" keeps its own
    assert _count(engine, TestRun) == 0
    assert _count(engine, ScenarioSuite, col(ScenarioSuite.id) == other.suite_id) == 1

    # the audit log names what was deleted (the row is gone, its name is kept in the details)
    with Session(engine) as session:
        audit = catalog.list_audit(session=session, principal=seeded.principal, search="delete")
    assert audit.total == 1
    entry = audit.items[0]
    assert entry["entity"] == "process shop" and str(process_id) not in entry["entity"]
    assert "versions 1" in entry["details"] and entry["user"]

    with Session(engine) as session, pytest.raises(NotFound) as gone:
        deletion.delete(session=session, principal=seeded.principal, kind="process", row_id=process_id)
    assert gone.value.field == "id"
    with Session(engine) as session, pytest.raises(NotFound) as kind:
        deletion.delete(session=session, principal=seeded.principal, kind="table", row_id=process_id)
    assert kind.value.field == "kind"


def test_active_run_blocks_delete(migrated_pg_engine: sa.Engine) -> None:
    engine = migrated_pg_engine
    seeded = _seed(engine)
    _add_run(engine, seeded, RunStatus.IN_PROGRESS)
    with Session(engine) as session:
        impact = deletion.impact_of(
            session=session, principal=seeded.principal, kind="suite", row_id=seeded.suite_id
        )
        assert impact.active_runs == 1 and "Cancel them first" in impact.confirmation()
        with pytest.raises(Conflict) as blocked:
            deletion.delete(
                session=session,
                principal=seeded.principal,
                kind="suite",
                row_id=seeded.suite_id,
                cascade=True,
            )
    assert blocked.value.field == "id"
    assert _count(engine, ScenarioSuite) == 1 and _count(engine, TestRun) == 1


def test_audit_names_instead_of_ids(migrated_pg_engine: sa.Engine) -> None:
    engine = migrated_pg_engine
    seeded = _seed(engine)
    run_id = _add_run(engine, seeded, RunStatus.PASSED)
    with Session(engine) as session:
        for entity_type, entity_id in (
            ("scenario_suite", seeded.suite_id),
            ("test_run", run_id),
            ("environment", seeded.environment_id),
        ):
            session.add(
                AuditLog(
                    tenant_id=seeded.principal.tenant_id,
                    user_id=seeded.principal.user_id,
                    action="x.touch",
                    entity_type=entity_type,
                    entity_id=str(entity_id),
                    details={"suiteId": str(seeded.suite_id), "count": 2},
                )
            )
        session.commit()
        items = catalog.list_audit(session=session, principal=seeded.principal, filter="x.").items
    shown = {row["entity"] for row in items}
    assert shown == {"suite shop v1 [shop]", f"run scenario a ({str(run_id)[:8]})", "environment env-shop"}
    for row in items:
        assert str(seeded.suite_id) not in row["details"] and row["details"] == "count: 2"


def test_fifty_concurrent_deletes_of_one_process(pg_url: str, migrated_pg_engine: sa.Engine) -> None:
    seeded = _seed(migrated_pg_engine)
    with Session(migrated_pg_engine) as session:
        process_id = session.exec(select(Process.id).where(Process.key == "shop")).one()
    engine = wide_engine(str(migrated_pg_engine.url.render_as_string(hide_password=False)), 50)
    try:
        outcomes = hammer(
            engine,
            50,
            lambda session, _i: deletion.delete(
                session=session, principal=seeded.principal, kind="process", row_id=process_id, cascade=True
            ),
        )
    finally:
        engine.dispose()
    done = [o for o in outcomes if isinstance(o, deletion.Impact)]
    missing = [o for o in outcomes if isinstance(o, NotFound)]
    assert len(done) == 1 and len(missing) == 49, [
        o for o in outcomes if not isinstance(o, deletion.Impact | NotFound)
    ]
    assert _count(migrated_pg_engine, Process) == 0 and _count(migrated_pg_engine, TestScenario) == 0
    assert _count(migrated_pg_engine, AuditLog, col(AuditLog.action) == "process.delete") == 1
