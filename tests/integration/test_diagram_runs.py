"""Real runs on the diagram: an imported BPMN scenario, edited into requests to a loopback server, run
by the engine (in-process worker, PostgreSQL); its nodes coloured by step status and the suite's
coverage computed from what actually ran."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from executor import bootstrap
from executor.broker import is_in_process, start_in_process_worker
from orchestra_app.db.engine import get_engine, session_scope
from orchestra_app.db.tables import Environment, RunStatus, TestRun, TestScenario
from orchestra_app.services import diagrams, processes
from orchestra_app.services import runs as run_service
from orchestra_app.services import scenarios as scenario_service
from orchestra_app.services import session as svc
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import app_database, wait_for

pytestmark = pytest.mark.integration
SHOP_BPMN = Path(__file__).resolve().parents[2] / "examples" / "shop" / "order-process.bpmn"


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture
def db(migrated_pg_engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    assert is_in_process(), "REDIS_URL must not be set for pytest: the stub broker runs the runs here"
    with app_database(migrated_pg_engine.url.render_as_string(hide_password=False), str(tmp_path)):
        bootstrap.wire()
        start_in_process_worker(threads=2)
        yield get_engine()


def _request(order: str, mode: str = "ok") -> dict[str, Any]:
    query = {"mode": mode} if mode != "ok" else {}
    return {"method": "GET", "path": f"/orders/{order}", "query": query}


def test_a_real_run_colours_its_nodes_and_feeds_coverage(db: Engine, loopback: LoopbackServer) -> None:
    principal = svc.current_principal()
    imported = svc.write(
        processes.import_process, principal, data=SHOP_BPMN.read_bytes(), filename="shop.bpmn"
    )
    with Session(db) as session:
        s001_id = session.exec(
            select(TestScenario.id).where(
                TestScenario.suite_id == imported.suite_id, TestScenario.key == "S001"
            )
        ).one()
        session.add(
            Environment(
                tenant_id=principal.tenant_id,
                name="loopback",
                services={"shop": {"baseUrl": loopback.base_url}},
            )
        )
        session.commit()
    with session_scope() as session:
        detail = scenario_service.get_scenario(session=session, principal=principal, scenario_id=s001_id)
    # every step becomes a plain HTTP call; the third (Authorise payment) gets a server error
    steps = copy.deepcopy(detail.steps)
    for i, step in enumerate(steps):
        step.update(kind="ACTION", channelType="HTTP_REST")
        step["action"] = {
            "inputTemplate": _request("o-1", "server_error" if i == 2 else "ok"),
            "meta": {"service": "shop"},
        }
        step["expectations"] = {"expectedStatusCode": 200}
    saved = svc.write(
        scenario_service.save_scenario_version,
        principal,
        scenario_id=s001_id,
        base_version=1,
        document={"name": detail.name, "tags": detail.tags, "steps": steps},
    )
    created = svc.write(
        run_service.create_runs,
        principal,
        request={
            "scenarioIds": [str(saved.id)],
            "mode": "STOP_ON_FIRST_FAILURE",
            "environmentName": "loopback",
        },
    )
    run_id = created.runs[0].id

    def ended() -> TestRun | None:
        with Session(db) as session:
            run = session.get(TestRun, run_id)
            return run if run and run.status in (RunStatus.PASSED, RunStatus.FAILED) else None

    run = wait_for(ended, timeout=120, what="the run to end")
    assert run.status == RunStatus.FAILED and run.scenario_version == 2
    with session_scope() as session:
        by_node = diagrams.run_node_statuses(session=session, principal=principal, run_id=run_id)
        runs = diagrams.scenario_runs(
            session=session, principal=principal, scenario_key="S001", suite_id=imported.suite_id
        )
        coverage = diagrams.suite_coverage(session=session, principal=principal, suite_id=imported.suite_id)
    assert by_node["Task_CreateOrder"] == "PASSED"
    assert by_node["Task_AuthorisePayment"] == "FAILED"
    assert by_node["Task_GetOrder"] == "SKIPPED"
    assert [(r["id"], r["version"], r["status"]) for r in runs] == [(str(run_id), "2", "FAILED")]
    covered = set(coverage.flows_covered)
    assert {"Flow_ToCreateOrder", "Flow_InStock", "Flow_ToAuthorise"} <= covered
    assert "Flow_ToPaymentResult" not in covered and "Flow_OutOfStock" not in covered
    assert coverage.runs == 1 and coverage.node_status["Task_AuthorisePayment"] == "FAILED"
