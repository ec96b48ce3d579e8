"""A run validates contracts against the specs chosen for its suite (suite_spec), not the newest
spec of each service (services/runs.py `_spec_ids`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from executor import bootstrap
from executor.broker import is_in_process, start_in_process_worker
from orchestra_app.db.engine import get_engine
from orchestra_app.db.tables import TestRun
from orchestra_app.domain.runs import RunSnapshot, RunStatus
from orchestra_app.services import binding
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from orchestra_app.services import specs as spec_service
from tests.conftest import FIXTURES
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import app_database, seed_suite, wait_for

pytestmark = pytest.mark.integration
GET_ORDER = {"protocolId": "http", "serviceName": "shop", "endpointName": "getOrder"}


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    assert is_in_process(), "these tests drive the stub broker; REDIS_URL must not be set for pytest"
    if request.param == "postgresql":
        engine = request.getfixturevalue("migrated_pg_engine")
        url = engine.url.render_as_string(hide_password=False)
    else:
        engine = request.getfixturevalue("sqlite_engine")
        url = str(engine.url)
    with app_database(url, str(tmp_path)):
        bootstrap.wire()
        start_in_process_worker(threads=2)
        yield get_engine()


def _ended(engine: Engine, run_id: uuid.UUID) -> TestRun:
    def check() -> TestRun | None:
        with Session(engine) as s:
            run = s.get(TestRun, run_id)
            return run if run and run.status in (RunStatus.PASSED, RunStatus.FAILED) else None

    return wait_for(check, timeout=120, what=f"run {run_id} to end")


def test_runs_use_the_suites_chosen_spec_not_the_newest(db: Engine, loopback: LoopbackServer) -> None:
    seeded = seed_suite(
        db,
        base_url=loopback.base_url,
        scenarios={
            "contract": [
                {"alias": "ok", "endpointRef": GET_ORDER, "inputTemplate": {"pathParams": {"orderId": "o-1"}}}
            ]
        },
    )
    good = (FIXTURES / "http" / "orders-openapi.yaml").read_text()
    # a later version of the same service's spec whose Order needs a field the server never sends
    stricter = good.replace(
        "required: [id, status, total, items]", "required: [id, status, total, items, auditTrail]"
    )
    assert stricter != good
    chosen = svc.write(
        spec_service.import_spec,
        seeded.principal,
        data=good.encode(),
        filename="orders.yaml",
        service_name="shop",
    ).spec_id
    newest = svc.write(
        spec_service.import_spec,
        seeded.principal,
        data=stricter.encode(),
        filename="orders-v2.yaml",
        service_name="shop",
    ).spec_id
    assert chosen != newest

    # no choice for the suite: the newest spec of the service is the contract (the run fails on it)
    first = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    assert _ended(db, first).status == RunStatus.FAILED
    detail = svc.run(run_service.get_run, seeded.principal, run_id=first)
    assert {v.code for v in detail.steps[0].violations} == {"RESPONSE_SCHEMA_MISMATCH"}

    # the suite chooses the first version: runs pin and validate against it, and pass
    svc.write(binding.set_suite_specs, seeded.principal, suite_id=seeded.suite_id, spec_ids=[chosen])
    second = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    run = _ended(db, second)
    detail = svc.run(run_service.get_run, seeded.principal, run_id=second)
    assert run.status == RunStatus.PASSED, detail.steps[0].violations
    assert RunSnapshot.model_validate(run.pinned).spec_ids == {"shop": chosen}

    # choosing the stricter one makes the same step fail again: the choice, not the age, decides
    svc.write(binding.set_suite_specs, seeded.principal, suite_id=seeded.suite_id, spec_ids=[newest])
    third = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    run = _ended(db, third)
    assert run.status == RunStatus.FAILED
    assert RunSnapshot.model_validate(run.pinned).spec_ids == {"shop": newest}
