"""Runs end to end inside this process: services + in-process Dramatiq worker on PostgreSQL and
SQLite, steps sent to a real loopback HTTP server, events followed live."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from executor import bootstrap
from executor.broker import is_in_process, start_in_process_worker
from orchestra_app.db.engine import get_engine
from orchestra_app.db.tables import (
    DbConnectionProfile,
    Environment,
    ScenarioSuite,
    TestRun,
    TestStepResult,
)
from orchestra_app.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from orchestra_app.domain.runs import PinnedEnvironment, RunMode, RunStatus
from orchestra_app.domain.tenancy import Role
from orchestra_app.engine.events import RunEvent, RunFinished, RunState, StepFinished
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from orchestra_app.services import specs as spec_service
from orchestra_app.services.run_events import (
    InProcessEventBus,
    follow_run,
    follow_tenant_batches,
    get_event_bus,
    set_event_bus,
)
from tests.conftest import FIXTURES
from tests.fixtures.http.server import TOKEN, LoopbackServer, serve
from tests.fixtures.runs import add_data_set, app_database, get_step, seed_suite, viewer, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture(scope="module")
def worker() -> None:
    assert is_in_process(), "these tests drive the stub broker; REDIS_URL must not be set for pytest"


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path, worker: None) -> Iterator[Engine]:
    if request.param == "postgresql":
        engine = request.getfixturevalue("migrated_pg_engine")
        url = engine.url.render_as_string(hide_password=False)
    else:
        engine = request.getfixturevalue("sqlite_engine")
        url = str(engine.url)
    with app_database(url, str(tmp_path)):
        bootstrap.wire()
        start_in_process_worker(threads=4)  # once per process; its monitor boots on this database
        yield get_engine()


def wait_ended(run_id: uuid.UUID, engine: Engine, timeout: float = 120) -> TestRun:
    def ended() -> TestRun | None:
        with Session(engine) as s:
            run = s.get(TestRun, run_id)
            return (
                run
                if run and run.status in (RunStatus.PASSED, RunStatus.FAILED, RunStatus.CANCELLED)
                else None
            )

    return wait_for(ended, timeout=timeout, what=f"run {run_id} to end")


def test_suite_runs_pass_and_fail_with_results_and_events(db: Engine, loopback: LoopbackServer) -> None:
    seeded = seed_suite(
        db,
        base_url=loopback.base_url,
        scenarios={
            "good": [
                get_step("create", "o-7"),
                {
                    "alias": "again",
                    "inputTemplate": {"method": "GET", "path": "/orders/{{step.create.response.body.id}}"},
                    "expectations": {"expectedStatusCode": 200},
                },
                get_step("third", "{{data.orderId}}"),
            ],
            "bad": [get_step("boom", "o-1", mode="server_error"), get_step("after", "o-2")],
        },
    )
    add_data_set(
        db,
        seeded.principal,
        name="shop data",
        data={"orderId": "o-data"},
        scope="SUITE",
        suite_id=seeded.suite_id,
    )
    result = svc.write(run_service.create_runs, seeded.principal, request={"suiteId": str(seeded.suite_id)})
    assert result.queued == 2 and result.pending == 0
    by_key = {r.scenario_key: r for r in result.runs}
    assert {r.batch_id for r in result.runs} == {result.batch_id}
    good = wait_ended(by_key["good"].id, db)
    bad = wait_ended(by_key["bad"].id, db)
    assert (good.status, bad.status) == (RunStatus.PASSED, RunStatus.FAILED)
    assert good.finished_at is not None and good.started_at is not None and good.attempt == 1

    detail = svc.run(run_service.get_run, seeded.principal, run_id=good.id)
    assert [s.status for s in detail.steps] == ["PASSED"] * 3
    assert detail.steps[1].request["url"].endswith("/orders/o-7")
    assert detail.steps[2].response_body["id"] == "o-data"  # {{data.*}} from the suite's data set
    assert detail.data_set_name == "shop data" and detail.counts == {"PASSED": 3}
    bad_detail = svc.run(run_service.get_run, seeded.principal, run_id=bad.id)
    assert bad_detail.steps[0].violations[0].code == "HTTP_SERVER_ERROR"
    assert bad_detail.steps[1].status == "PASSED"  # RUN_ALL_STEPS keeps going
    # the run page's step list (no payloads) and one step's detail
    light = svc.run(run_service.get_run, seeded.principal, run_id=good.id, payloads=False)
    assert [s.status for s in light.steps] == ["PASSED"] * 3 and light.steps[1].request is None
    one = svc.run(run_service.get_step_result, seeded.principal, run_id=good.id, order_index=1)
    assert one.request is not None and one.request["url"].endswith("/orders/o-7")
    assert (one.alias, one.status) == (detail.steps[1].alias, "PASSED")
    failed = svc.run(run_service.get_step_result, seeded.principal, run_id=bad.id, order_index=0)
    assert failed.violations[0].code == "HTTP_SERVER_ERROR" and failed.actual_status_code == 500
    summary, rows = svc.run(run_service.run_step_rows, seeded.principal, run_id=bad.id)
    assert summary.status == RunStatus.FAILED and summary.counts == bad_detail.counts
    assert [(r["orderIndex"], r["alias"], r["status"], r["violations"]) for r in rows] == [
        (0, "boom", bad_detail.steps[0].status, 1),
        (1, "after", "PASSED", 0),
    ]
    assert rows[0]["statusCode"] == 500 and rows[1]["durationMs"] >= 0
    with pytest.raises(NotFound) as missing:
        svc.run(run_service.get_step_result, seeded.principal, run_id=good.id, order_index=99)
    assert missing.value.field == "orderIndex"

    # a follower joining after the end gets the stored results and the end, each once
    events = list(follow_run(good.id, principal=seeded.principal))
    assert [e.order_index for e in events if isinstance(e, StepFinished)] == [0, 1, 2]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "PASSED"

    page = svc.run(run_service.list_runs, seeded.principal, status=["FAILED"])
    assert [r.id for r in page.items] == [bad.id] and page.total == 1
    page = svc.run(run_service.list_runs, seeded.principal, batch_id=result.batch_id, limit=1, offset=1)
    assert page.total == 2 and len(page.items) == 1
    with pytest.raises(Conflict):
        svc.write(run_service.cancel_run, seeded.principal, run_id=good.id)


def test_stop_on_first_failure_and_from_step(db: Engine, loopback: LoopbackServer) -> None:
    seeded = seed_suite(
        db,
        base_url=loopback.base_url,
        scenarios={
            "flow": [
                get_step("create", "o-11"),
                get_step("pay", "o-12", mode="{{data.payMode}}"),
                {
                    "alias": "check",
                    "inputTemplate": {"method": "GET", "path": "/orders/{{step.create.response.body.id}}"},
                },
                get_step("last", "o-14"),
            ]
        },
    )
    broken = add_data_set(
        db, seeded.principal, name="broken", data={"payMode": "server_error"}, tags=["broken"]
    )
    add_data_set(db, seeded.principal, name="fixed", data={"payMode": "ok"}, tags=["fixed"])
    first = svc.write(
        run_service.create_runs,
        seeded.principal,
        request={"suiteId": str(seeded.suite_id), "mode": "STOP_ON_FIRST_FAILURE", "dataSetId": str(broken)},
    ).runs[0]
    run = wait_ended(first.id, db)
    assert run.status == RunStatus.FAILED
    detail = svc.run(run_service.get_run, seeded.principal, run_id=run.id)
    assert [s.status for s in detail.steps] == ["PASSED", "FAILED", "SKIPPED", "SKIPPED"]

    hits_before = list(loopback.state.hits)
    again = svc.write(
        run_service.create_runs,
        seeded.principal,
        request={"fromRunId": str(run.id), "mode": "FROM_STEP", "startStepIndex": 1, "dataSetTag": "fixed"},
    ).runs[0]
    rerun = wait_ended(again.id, db)
    assert rerun.status == RunStatus.PASSED
    detail = svc.run(run_service.get_run, seeded.principal, run_id=rerun.id)
    assert [s.status for s in detail.steps] == ["PASSED"] * 4
    assert detail.steps[0].reused_from_run_id == run.id and detail.steps[1].reused_from_run_id is None
    # step 0 was not sent again; "check" used the id captured by the earlier run's step 0
    assert loopback.state.hits[len(hits_before) :] == ["o-12", "o-11", "o-14"]

    single = svc.write(
        run_service.create_runs,
        seeded.principal,
        request={
            "scenarioIds": [str(seeded.scenarios["flow"])],
            "mode": "SINGLE_STEP",
            "startStepIndex": 2,
            "fromRunId": str(rerun.id),
        },
    ).runs[0]
    one = wait_ended(single.id, db)
    assert one.status == RunStatus.PASSED
    detail = svc.run(run_service.get_run, seeded.principal, run_id=one.id)
    assert [(s.alias, s.status) for s in detail.steps] == [("check", "PASSED")]
    assert detail.steps[0].request["url"].endswith("/orders/o-11")

    # SINGLE_STEP with a hand-written context (UI debugging): it wins over the referenced run's
    supplied = svc.write(
        run_service.create_runs,
        seeded.principal,
        request={
            "scenarioIds": [str(seeded.scenarios["flow"])],
            "mode": "SINGLE_STEP",
            "startStepIndex": 2,
            "fromRunId": str(rerun.id),
            "stepResults": {"create": {"status": "PASSED", "responseBody": {"id": "o-by-hand"}}},
        },
    ).runs[0]
    assert wait_ended(supplied.id, db).status == RunStatus.PASSED
    detail = svc.run(run_service.get_run, seeded.principal, run_id=supplied.id)
    assert detail.steps[0].request["url"].endswith("/orders/o-by-hand")


def test_pending_beyond_max_parallel_runs_are_promoted(db: Engine, loopback: LoopbackServer) -> None:
    scenarios = {f"s{i}": [get_step("a", f"o-{i}", delay_ms=150)] for i in range(5)}
    seeded = seed_suite(db, base_url=loopback.base_url, scenarios=scenarios, max_parallel_runs=2)
    result = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"})
    assert (result.queued, result.pending) == (2, 3)
    assert sorted(r.status for r in result.runs) == ["PENDING"] * 3 + ["QUEUED"] * 2
    for r in result.runs:
        assert wait_ended(r.id, db).status == RunStatus.PASSED


def test_cancel_a_queued_run_and_a_running_one(db: Engine, loopback: LoopbackServer) -> None:
    seeded = seed_suite(
        db,
        base_url=loopback.base_url,
        scenarios={
            "slow": [get_step(f"s{i}", f"c-{i}", delay_ms=300) for i in range(8)],
            "waiting": [get_step("w", "w-1")],
        },
        max_parallel_runs=1,
    )
    result = svc.write(run_service.create_runs, seeded.principal, request={"suiteId": str(seeded.suite_id)})
    by_key = {r.scenario_key: r for r in result.runs}
    assert by_key["slow"].status == RunStatus.QUEUED and by_key["waiting"].status == RunStatus.PENDING
    cancelled = svc.write(run_service.cancel_run, seeded.principal, run_id=by_key["waiting"].id)
    assert cancelled.status == RunStatus.CANCELLED

    slow_id = by_key["slow"].id

    def started_two() -> bool:
        with Session(db) as s:
            return len(s.exec(select(TestStepResult).where(TestStepResult.run_id == slow_id)).all()) >= 2

    wait_for(started_two, what="two steps recorded")
    requested = svc.write(run_service.cancel_run, seeded.principal, run_id=slow_id)
    assert requested.status == RunStatus.IN_PROGRESS and requested.cancel_requested
    run = wait_ended(slow_id, db)
    assert run.status == RunStatus.CANCELLED
    detail = svc.run(run_service.get_run, seeded.principal, run_id=slow_id)
    statuses = [s.status for s in detail.steps]
    done = statuses.count("PASSED")
    assert 2 <= done < 8 and statuses == ["PASSED"] * done + ["SKIPPED"] * (8 - done)
    # no request was sent for a step after the cancel took effect
    assert [h for h in loopback.state.hits if h.startswith("c-")][-1] == f"c-{done - 1}"


def test_follower_joining_mid_run_sees_every_step_once_in_order(db: Engine, loopback: LoopbackServer) -> None:
    steps = [get_step(f"s{i}", f"f-{i}", delay_ms=60) for i in range(12)]
    seeded = seed_suite(db, base_url=loopback.base_url, scenarios={"long": steps})
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id

    def some_done() -> bool:
        with Session(db) as s:
            return len(s.exec(select(TestStepResult).where(TestStepResult.run_id == run_id)).all()) >= 4

    wait_for(some_done, what="4 steps stored before the follower joins")
    seen: list[object] = []
    follower = threading.Thread(target=lambda: seen.extend(follow_run(run_id, principal=seeded.principal)))
    follower.start()
    follower.join(timeout=120)
    assert not follower.is_alive()
    finished = [e.order_index for e in seen if isinstance(e, StepFinished)]
    assert finished == list(range(12))
    assert isinstance(seen[-1], RunFinished) and seen[-1].status == "PASSED"
    assert any(isinstance(e, RunState) for e in seen)  # where the database stood when it joined
    seqs = [e.seq for e in seen if isinstance(e, StepFinished)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert get_event_bus() is not None


def test_bad_requests_are_refused_naming_the_field_and_store_nothing(
    db: Engine, loopback: LoopbackServer
) -> None:
    seeded = seed_suite(
        db, base_url=loopback.base_url, scenarios={"a": [get_step("x")], "b": [get_step("y")]}
    )
    p = seeded.principal
    suite = str(seeded.suite_id)
    cases: list[tuple[dict[str, object], str]] = [
        ({}, "suiteId"),
        ({"suiteId": "nope"}, "suiteId"),
        ({"suiteId": suite, "mode": "FAST"}, "mode"),
        ({"suiteId": suite, "surprise": 1}, "surprise"),
        ({"suiteId": suite, "startStepIndex": 0}, "startStepIndex"),
        ({"suiteId": suite, "mode": "SINGLE_STEP", "startStepIndex": 0}, "scenarioIds"),
        ({"scenarioIds": [str(seeded.scenarios["a"])], "mode": "SINGLE_STEP"}, "startStepIndex"),
        (
            {"scenarioIds": [str(seeded.scenarios["a"])], "mode": "SINGLE_STEP", "startStepIndex": 3},
            "startStepIndex",
        ),
        (
            {"scenarioIds": [str(seeded.scenarios["a"])], "mode": "FROM_STEP", "startStepIndex": 0},
            "fromRunId",
        ),
        ({"suiteId": suite, "startStepIndex": -1}, "startStepIndex"),
        ({"suiteId": suite, "dataSetTag": "none-such"}, "dataSetTag"),
        ({"suiteId": suite, "dataSetId": str(uuid.uuid4())}, "dataSetId"),
        ({"suiteId": suite, "environmentId": str(uuid.uuid4())}, "environmentId"),
        ({"suiteId": suite, "environmentName": "prod"}, "environmentName"),
        ({"suiteId": suite, "tag": "nothing"}, "tag"),
        ({"suiteKey": "unknown"}, "suiteKey"),
        ({"suiteId": suite, "suiteKey": "shop"}, "suiteKey"),
        ({"scenarioKeys": ["a"]}, "scenarioKeys"),
        ({"suiteId": suite, "scenarioKeys": ["a", "zzz"]}, "scenarioKeys.1"),
        ({"scenarioIds": [str(uuid.uuid4())]}, "scenarioIds.0"),
        ({"scenarioIds": []}, "scenarioIds"),
        ({"suiteId": suite, "stepTimeoutS": 0}, "stepTimeoutS"),
        ({"suiteId": suite, "runTimeoutS": "soon"}, "runTimeoutS"),
        ({"suiteId": suite, "variables": {"data": 1}}, "variables"),
        ({"suiteId": suite, "fromRunId": str(uuid.uuid4())}, "fromRunId"),
        ({"suiteId": suite, "triggeredBy": ""}, "triggeredBy"),
        ({"suiteId": suite, "stepResults": {"x": {"status": "PASSED"}}}, "stepResults"),
        ({"suiteId": suite, "stepResults": {"x": {"status": "MAYBE"}}}, "stepResults.x.status"),
    ]
    for body, field in cases:
        with pytest.raises((ValidationFailed, NotFound)) as info:
            svc.write(run_service.create_runs, p, request=body)
        assert info.value.field == field, (body, info.value)
    with pytest.raises(ValidationFailed) as info:
        svc.write(run_service.create_runs, p, request=["not", "an", "object"])
    assert info.value.field == "body"
    with pytest.raises(PermissionDenied):
        svc.write(run_service.create_runs, viewer(p, Role.VIEWER), request={"suiteId": suite})
    with pytest.raises(PermissionDenied):
        svc.write(run_service.cancel_run, viewer(p, Role.VIEWER), run_id=uuid.uuid4())
    assert svc.run(run_service.list_runs, viewer(p, Role.VIEWER)).total == 0  # nothing was stored
    with pytest.raises(ValidationFailed) as info:
        svc.run(run_service.list_runs, p, status=["DONE"])
    assert info.value.field == "status"
    with pytest.raises(ValidationFailed) as info:
        svc.run(run_service.list_runs, p, limit=0)
    assert info.value.field == "limit"
    with pytest.raises(NotFound):
        svc.run(run_service.get_run, p, run_id=uuid.uuid4())


def test_scenario_mode_selection_by_tag(db: Engine, loopback: LoopbackServer) -> None:
    seeded = seed_suite(
        db,
        base_url=loopback.base_url,
        scenarios={"happy": [get_step("x")], "sad": [get_step("y")]},
        scenario_tags={"happy": ["HAPPY_PATH"], "sad": ["EXCEPTION"]},
    )
    result = svc.write(run_service.create_runs, seeded.principal, request={"tag": "HAPPY_PATH"})
    assert [r.scenario_key for r in result.runs] == ["happy"]
    assert wait_ended(result.runs[0].id, db).status == RunStatus.PASSED
    assert result.runs[0].mode == RunMode.RUN_ALL_STEPS


class LossyBus(InProcessEventBus):
    """The in-process bus, dropping every third event (a Redis that was away for those publishes)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def publish(self, event: RunEvent) -> None:
        self.seen += 1
        if self.seen % 3:
            super().publish(event)


def test_follower_fills_lost_events_from_the_database(db: Engine, loopback: LoopbackServer) -> None:
    set_event_bus(LossyBus())
    steps = [get_step(f"s{i}", f"l-{i}", delay_ms=30) for i in range(10)]
    seeded = seed_suite(db, base_url=loopback.base_url, scenarios={"lossy": steps})
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    seen = list(follow_run(run_id, principal=seeded.principal, block_ms=200, resync_s=0.5))
    finished = [e.order_index for e in seen if isinstance(e, StepFinished)]
    assert finished == list(range(10))
    assert isinstance(seen[-1], RunFinished) and seen[-1].status == "PASSED"


def test_tenant_follower_sees_each_run_change_once(db: Engine, loopback: LoopbackServer) -> None:
    scenarios = {f"t{i}": [get_step("a", f"tf-{i}")] for i in range(3)}
    seeded = seed_suite(db, base_url=loopback.base_url, scenarios=scenarios)
    stop = threading.Event()
    seen: list[RunEvent] = []
    batches = follow_tenant_batches(principal=seeded.principal, block_ms=200, stop=stop.is_set)
    first = next(batches)
    assert first == []  # nothing active yet

    def follow() -> None:
        for batch in batches:
            seen.extend(batch)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    runs = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs
    for r in runs:
        wait_ended(r.id, db)
    wait_for(lambda: sum(isinstance(e, RunFinished) for e in seen) == 3, what="three RunFinished")
    stop.set()
    thread.join(timeout=10)
    for r in runs:
        mine = [e for e in seen if e.run_id == r.id]
        seqs = [e.seq for e in mine]
        assert seqs == sorted(set(seqs)), seqs  # in order, none twice
        # the tenant's stream carries run-level events; steps are on each run's own stream
        assert [type(e).__name__ for e in mine] == ["RunQueued", "RunStarted", "RunFinished"]
    with pytest.raises(PermissionDenied):
        next(follow_tenant_batches(principal=viewer(seeded.principal)))


def test_runs_pin_steps_with_their_suite_defaults(db: Engine, loopback: LoopbackServer) -> None:
    seeded = seed_suite(
        db,
        base_url=loopback.base_url,
        scenarios={"a": [get_step("x"), {**get_step("y"), "meta": {"requestValidation": "block"}}]},
    )
    with Session(db) as session:
        suite = session.get(ScenarioSuite, seeded.suite_id)
        assert suite is not None
        suite.generation = {**suite.generation, "requestValidation": "warn"}
        session.add(suite)
        session.commit()
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    with Session(db) as session:
        run = session.get(TestRun, run_id)
        assert run is not None
        metas = [s["action"]["meta"] for s in run.pinned["steps"]]
    assert [m.get("requestValidation") for m in metas] == ["warn", "block"]  # the step's own choice wins
    assert wait_ended(run_id, db).status == RunStatus.PASSED


def test_bound_steps_are_checked_against_the_pinned_spec(db: Engine, loopback: LoopbackServer) -> None:
    seeded = seed_suite(
        db,
        base_url=loopback.base_url,
        scenarios={
            "contract": [
                {
                    "alias": "ok",
                    "endpointRef": {"protocolId": "http", "serviceName": "shop", "endpointName": "getOrder"},
                    "inputTemplate": {"pathParams": {"orderId": "o-1"}},
                },
                {
                    "alias": "broken",
                    "endpointRef": {"protocolId": "http", "serviceName": "shop", "endpointName": "getOrder"},
                    "inputTemplate": {"pathParams": {"orderId": "o-2"}, "query": {"mode": "bad_schema"}},
                },
            ]
        },
    )
    spec = (FIXTURES / "http" / "orders-openapi.yaml").read_bytes()
    svc.run(
        spec_service.import_spec, seeded.principal, data=spec, filename="orders.yaml", service_name="shop"
    )
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    assert wait_ended(run_id, db).status == RunStatus.FAILED
    detail = svc.run(run_service.get_run, seeded.principal, run_id=run_id)
    assert detail.steps[0].status == "PASSED"
    assert detail.steps[1].status == "FAILED"
    assert {v.type for v in detail.steps[1].violations} == {"CONTRACT_VIOLATION"}


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_db_assertion_sees_the_previous_step_already_stored(
    db: Engine, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DB ASSERTION step through the environment's pinned connection profile (credentials by
    secret reference) reads this very run's results: each step is stored when it finishes."""
    url = db.url
    monkeypatch.setenv("ORCHESTRA_SECRET_RUNS_DB_USER", str(url.username))
    monkeypatch.setenv("ORCHESTRA_SECRET_RUNS_DB_PASSWORD", str(url.password))
    seeded = seed_suite(
        db,
        base_url=loopback.base_url,
        scenarios={
            "side-effect": [
                get_step("first", "db-1"),
                {
                    "alias": "stored",
                    "kind": "ASSERTION",
                    "channelType": "DB",
                    "meta": {
                        "dataSource": "runs-db",
                        "sql": "SELECT count(*) AS n FROM test_step_result "
                        "WHERE run_id = CAST({{run.id}} AS uuid)",
                        "timeoutMs": 0,
                    },
                    "expectations": {"businessRules": [{"path": "$.rows[0].n", "equals": 1}]},
                },
            ]
        },
    )
    with Session(db) as session:
        profile = DbConnectionProfile(
            tenant_id=seeded.principal.tenant_id,
            alias="runs-db",
            jdbc_url=f"postgresql://{url.host}:{url.port}/{url.database}",
            username_ref="RUNS_DB_USER",
            password_ref="RUNS_DB_PASSWORD",
        )
        session.add(profile)
        env = session.get(Environment, seeded.environment_id)
        assert env is not None
        env.db_profiles = {"runs-db": str(profile.id)}
        session.add(env)
        session.commit()
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    run = wait_ended(run_id, db)
    detail = svc.run(run_service.get_run, seeded.principal, run_id=run_id)
    assert run.status == RunStatus.PASSED, detail.steps[1].violations
    assert detail.steps[1].db_result["rows"] == [{"n": 1}]
    assert run.pinned["environment"]["profiles"]["db"]["runs-db"]["password"] == {
        "secret": "RUNS_DB_PASSWORD"
    }
    assert str(url.password) not in str(run.pinned)  # the snapshot keeps references, never the value


def test_a_supplied_environment_is_pinned_with_its_secret_mapping(
    db: Engine, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `orchestra run` with an environment file does: no stored environment, secrets read from
    the environment variables the file names."""
    monkeypatch.setenv("E1_BEARER_FOR_TEST", TOKEN)
    seeded = seed_suite(
        db,
        base_url="http://127.0.0.1:9",  # the stored environment points nowhere useful
        scenarios={
            "auth": [
                {
                    "alias": "secure",
                    "inputTemplate": {
                        "method": "GET",
                        "path": "/secure/bearer",
                        "headers": {
                            "Authorization": "Bearer {{secret:API_TOKEN}}",
                            "X-Region": "{{env.region}}",
                        },
                    },
                    "expectations": {"expectedStatusCode": 200},
                }
            ]
        },
    )
    supplied = PinnedEnvironment(
        name="from-file",
        services={"shop": {"baseUrl": loopback.base_url}},
        variables={"region": "eu"},
        secret_env={"API_TOKEN": "E1_BEARER_FOR_TEST"},
    )
    result = svc.write(
        run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}, environment=supplied
    )
    run = result.runs[0]
    assert run.environment_id is None and run.environment_name == "from-file"
    assert wait_ended(run.id, db).status == RunStatus.PASSED
    detail = svc.run(run_service.get_run, seeded.principal, run_id=run.id)
    assert detail.steps[0].request["headers"]["authorization"] == "***"  # the secret never stored
    with pytest.raises(ValidationFailed) as info:
        svc.write(
            run_service.create_runs,
            seeded.principal,
            request={"suiteKey": "shop", "environmentName": "loopback"},
            environment=supplied,
        )
    assert info.value.field == "environmentId"


def test_an_environment_a_worker_could_not_build_is_refused_at_creation(
    db: Engine, loopback: LoopbackServer
) -> None:
    seeded = seed_suite(db, base_url=loopback.base_url, scenarios={"a": [get_step("x")]})
    broken = [
        (
            PinnedEnvironment(name="f", services={"shop": {"baseUrl": "http://x", "timeoutS": "soon"}}),
            "service 'shop'",
        ),
        (PinnedEnvironment(name="f", services={"shop": {"auth": {"type": "magic"}}}), "service 'shop'"),
        (PinnedEnvironment(name="f", profiles={"db": {"orders": {"username": "u"}}}), "db profile 'orders'"),
        (PinnedEnvironment(name="f", profiles={"ftp": {}}), "unknown connection profile kind 'ftp'"),
    ]
    for env, words in broken:
        with pytest.raises(ValidationFailed) as info:
            svc.write(
                run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}, environment=env
            )
        assert info.value.field == "environmentId" and words in info.value.message, info.value.message
    with Session(db) as session:
        stored = session.get(Environment, seeded.environment_id)
        assert stored is not None
        stored.services = {"shop": {"baseUrl": loopback.base_url, "maxRedirects": "many"}}
        session.add(stored)
        session.commit()
    with pytest.raises(ValidationFailed) as info:
        svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"})
    assert "maxRedirects" in info.value.message and info.value.field == "environmentId"
    assert svc.run(run_service.list_runs, seeded.principal).total == 0
