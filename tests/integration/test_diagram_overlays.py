"""Run overlays on PostgreSQL: step statuses per node for one run, a suite's coverage over its last
runs, a version's drawing read from the tenant's artifact store (and nothing of another tenant's)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestra_app.db.engine import session_scope
from orchestra_app.db.tables import (
    ProcessVersion,
    RunMode,
    RunStatus,
    ScenarioStep,
    TestRun,
    TestScenario,
    TestStepResult,
)
from orchestra_app.db.types import utcnow
from orchestra_app.domain.errors import NotFound
from orchestra_app.domain.steps import StepStatus
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import diagrams, processes
from orchestra_app.services import session as svc
from orchestra_app.services.tenancy import ensure_dev_principal
from orchestra_app.settings import get_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOP_BPMN = ROOT / "examples" / "shop" / "order-process.bpmn"
SEQUENCE = ROOT / "tests" / "fixtures" / "sequence" / "order.json"


@pytest.fixture
def shop(migrated_pg_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    with session_scope(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
    result = svc.write_on(
        migrated_pg_engine,
        processes.import_process,
        principal,
        data=SHOP_BPMN.read_bytes(),
        filename="order-process.bpmn",
    )
    yield migrated_pg_engine, principal, result
    get_settings.cache_clear()


def _scenario(engine: sa.Engine, suite_id: uuid.UUID, key: str) -> tuple[TestScenario, list[ScenarioStep]]:
    with Session(engine) as session:
        scenario = session.exec(
            select(TestScenario).where(TestScenario.suite_id == suite_id, TestScenario.key == key)
        ).one()
        steps = list(
            session.exec(
                select(ScenarioStep)
                .where(ScenarioStep.scenario_id == scenario.id)
                .order_by(col(ScenarioStep.order_index))
            ).all()
        )
        return scenario, steps


def _run(
    engine: sa.Engine,
    principal: Principal,
    scenario: TestScenario,
    steps: list[ScenarioStep],
    statuses: list[StepStatus],
    mode: RunMode = RunMode.RUN_ALL_STEPS,
) -> uuid.UUID:
    """A finished run as the engine records it: the run row and one result per step that ran."""
    with Session(engine) as session:
        run = TestRun(
            tenant_id=principal.tenant_id,
            scenario_id=scenario.id,
            scenario_version=scenario.version,
            mode=mode,
            status=RunStatus.FAILED if StepStatus.FAILED in statuses else RunStatus.PASSED,
            started_at=utcnow(),
            finished_at=utcnow(),
        )
        session.add(run)
        session.flush()
        for step, status in zip(steps, statuses, strict=False):
            session.add(
                TestStepResult(
                    tenant_id=principal.tenant_id,
                    run_id=run.id,
                    step_id=step.id,
                    step_alias=step.alias,
                    order_index=step.order_index,
                    status=status,
                )
            )
        session.commit()
        return run.id


def test_run_statuses_per_node(shop: Any) -> None:
    engine, principal, result = shop
    scenario, steps = _scenario(engine, result.suite_id, "S001")
    nodes = [s.source_node_id for s in steps]
    assert nodes[:2] == ["Task_CreateOrder", "Task_CreateOrder"]  # the call and its orders-table check
    statuses = [StepStatus.PASSED, StepStatus.FAILED, StepStatus.PASSED] + [StepStatus.SKIPPED] * (
        len(steps) - 3
    )
    run_id = _run(engine, principal, scenario, steps, statuses)
    with session_scope(engine) as session:
        by_node = diagrams.run_node_statuses(session=session, principal=principal, run_id=run_id)
    assert by_node["Task_CreateOrder"] == "FAILED"  # its table check failed
    assert by_node["Task_AuthorisePayment"] == "PASSED"
    assert by_node["Task_GetOrder"] == "SKIPPED"
    partial = _run(
        engine, principal, scenario, steps, [StepStatus.PASSED]
    )  # still running: one result so far
    with session_scope(engine) as session:
        early = diagrams.run_node_statuses(session=session, principal=principal, run_id=partial)
    assert early["Task_CreateOrder"] == "PENDING" and early["Task_GetOrder"] == "PENDING"
    stranger = Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), roles=frozenset({Role.ORG_ADMIN}))
    with pytest.raises(NotFound), session_scope(engine) as session:
        diagrams.run_node_statuses(session=session, principal=stranger, run_id=run_id)


def test_suite_coverage_over_the_last_runs(shop: Any) -> None:
    engine, principal, result = shop
    with session_scope(engine) as session:
        empty = diagrams.suite_coverage(session=session, principal=principal, suite_id=result.suite_id)
    assert (empty.runs, empty.flows_covered, empty.flows_total) == (0, [], 20)
    happy, happy_steps = _scenario(engine, result.suite_id, "S001")
    rejected, rejected_steps = _scenario(engine, result.suite_id, "S002")
    _run(engine, principal, happy, happy_steps, [StepStatus.PASSED] * len(happy_steps))
    _run(engine, principal, rejected, rejected_steps, [StepStatus.FAILED] * len(rejected_steps))
    # a single-step debug run does not count as exercising the process
    _run(engine, principal, rejected, rejected_steps, [StepStatus.PASSED], mode=RunMode.SINGLE_STEP)
    with session_scope(engine) as session:
        coverage = diagrams.suite_coverage(session=session, principal=principal, suite_id=result.suite_id)
    assert coverage.runs == 2
    covered = set(coverage.flows_covered)
    assert {"Flow_InStock", "Flow_OutOfStock", "Flow_ToAuthorise"} <= covered
    assert "Flow_ProviderUnavailable" not in covered and "Flow_ToCancelOrder" not in covered
    assert coverage.node_status["Task_CreateOrder"] == "FAILED"  # the newest run that reached it failed
    assert coverage.node_status["Task_GetOrder"] == "PASSED"


def test_drawings_come_from_the_tenants_artifact_store_only(shop: Any, tmp_path: Path) -> None:
    engine, principal, result = shop
    with session_scope(engine) as session:
        drawing = diagrams.version_diagram(session=session, principal=principal, version_id=result.version_id)
    assert drawing.kind == "bpmn" and drawing.has_layout and "Task_CreateOrder" in drawing.source
    assert drawing.labels["Flow_OutOfStock"] == "out of stock"
    sequence = svc.write_on(
        engine, processes.import_process, principal, data=SEQUENCE.read_bytes(), filename="order.json"
    )
    with session_scope(engine) as session:
        seq = diagrams.version_diagram(session=session, principal=principal, version_id=sequence.version_id)
    assert seq.kind == "sequence" and seq.source == "" and seq.generated.startswith("sequenceDiagram")
    assert seq.messages[:2] == ["msg_1", "msg_2"]
    # a version whose source URI points at another tenant's store (or anywhere else) draws nothing
    with Session(engine) as session:
        row = session.get(ProcessVersion, result.version_id)
        assert row is not None
        other = row.source_uri.replace(str(principal.tenant_id), str(uuid.uuid4()))
        row.source_uri = other
        session.add(row)
        session.commit()
    with session_scope(engine) as session:
        fallback = diagrams.version_diagram(
            session=session, principal=principal, version_id=result.version_id
        )
    assert "not stored" in fallback.problem and not fallback.has_layout
    # drawn from the imported graph, not from any file: the author's layout is gone, the nodes are there
    assert "Definitions_orchestra_graph" in fallback.source and 'id="Task_CreateOrder"' in fallback.source
    assert "BPMNPlane_orchestra_layout" in fallback.source
    stranger = Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), roles=frozenset({Role.ORG_ADMIN}))
    with pytest.raises(NotFound), session_scope(engine) as session:
        diagrams.version_diagram(session=session, principal=stranger, version_id=sequence.version_id)
