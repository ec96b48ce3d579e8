"""Many concurrent callers on PostgreSQL: POST /testruns, claims, cancels and finishing runs never
break maxParallelRuns, never store a run twice and never answer 5xx."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlmodel import Session, col, select

from executor import bootstrap
from executor.broker import start_in_process_worker
from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from orchestra_app.db.tables import TestRun
from orchestra_app.domain.errors import Conflict
from orchestra_app.domain.runs import RunStatus
from orchestra_app.services import run_queue, run_store
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import app_database, get_step, seed_suite, wait_for

pytestmark = pytest.mark.integration
CALLERS = 60


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture
def pg(migrated_pg_engine, tmp_path: Path) -> Iterator[None]:  # type: ignore[no-untyped-def]
    with app_database(migrated_pg_engine.url.render_as_string(hide_password=False), str(tmp_path)):
        yield
    bootstrap.wire()


@pytest.fixture
def recorded_dispatch(pg: None) -> Iterator[list[uuid.UUID]]:
    """Messages are recorded instead of executed, so admission is observed without workers."""
    sent: list[uuid.UUID] = []
    lock = threading.Lock()

    def record(ids: object) -> None:
        with lock:
            sent.extend(ids)  # type: ignore[arg-type]

    run_queue.set_dispatcher(record)
    yield sent
    bootstrap.wire()


@pytest.fixture
def api_url(pg: None) -> Iterator[str]:
    config = uvicorn.Config(create_api(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20, what="API server")
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_concurrent_post_testruns_respect_max_parallel_runs(
    api_url: str, recorded_dispatch: list[uuid.UUID], loopback: LoopbackServer
) -> None:
    seeded = seed_suite(
        get_engine(),
        base_url=loopback.base_url,
        scenarios={"a": [get_step("x")], "b": [get_step("y")]},
        max_parallel_runs=5,
    )
    barrier = threading.Barrier(CALLERS)

    def call(i: int) -> httpx.Response:
        with httpx.Client(base_url=api_url, timeout=120, trust_env=False) as client:
            barrier.wait()
            return client.post(
                "/api/v1/testruns", json={"suiteId": str(seeded.suite_id), "triggeredBy": f"c{i}"}
            )

    with ThreadPoolExecutor(CALLERS) as pool:
        responses = list(pool.map(call, range(CALLERS)))
    assert [r.status_code for r in responses] == [201] * CALLERS, [
        r.text for r in responses if r.status_code != 201
    ]
    returned = [run for r in responses for run in r.json()["runs"]]
    assert len(returned) == 2 * CALLERS and len({r["id"] for r in returned}) == 2 * CALLERS
    with Session(get_engine()) as session:
        stored = session.exec(select(TestRun)).all()
    assert len(stored) == 2 * CALLERS
    statuses = Counter(str(r.status) for r in stored)
    assert statuses == {"QUEUED": 5, "PENDING": 2 * CALLERS - 5}
    queued = {r.id for r in stored if r.status == RunStatus.QUEUED}
    assert sorted(map(str, recorded_dispatch)) == sorted(map(str, queued))  # each QUEUED run sent once
    # what each caller was told matches what was stored
    told = {r["id"]: r["status"] for r in returned}
    assert all(told[str(r.id)] == str(r.status) for r in stored)
    assert len({r["batchId"] for r in returned}) == CALLERS


def test_concurrent_claims_take_a_run_once(
    recorded_dispatch: list[uuid.UUID], loopback: LoopbackServer
) -> None:
    seeded = seed_suite(get_engine(), base_url=loopback.base_url, scenarios={"a": [get_step("x")]})
    run = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0]
    barrier = threading.Barrier(CALLERS)

    def claim(i: int) -> run_store.ClaimedRun | None:
        barrier.wait()
        return run_store.claim_run(run.id, f"worker-{i}")

    with ThreadPoolExecutor(CALLERS) as pool:
        claims = [c for c in pool.map(claim, range(CALLERS)) if c is not None]
    assert len(claims) == 1 and claims[0].attempt == 1
    with Session(get_engine()) as session:
        row = session.get(TestRun, run.id)
        assert (
            row is not None and row.status == RunStatus.IN_PROGRESS and row.worker_id == claims[0].worker_id
        )


def test_concurrent_cancels_cancel_once(recorded_dispatch: list[uuid.UUID], loopback: LoopbackServer) -> None:
    seeded = seed_suite(get_engine(), base_url=loopback.base_url, scenarios={"a": [get_step("x")]})
    run = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0]
    barrier = threading.Barrier(CALLERS)

    def cancel(_: int) -> str:
        barrier.wait()
        try:
            return str(svc.write(run_service.cancel_run, seeded.principal, run_id=run.id).status)
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(CALLERS) as pool:
        outcomes = Counter(pool.map(cancel, range(CALLERS)))
    assert outcomes == {"CANCELLED": 1, "conflict": CALLERS - 1}


def test_runs_finishing_together_never_exceed_the_limit(pg: None, loopback: LoopbackServer) -> None:
    bootstrap.wire()
    start_in_process_worker(threads=4)
    scenarios = {f"s{i:02d}": [get_step("a", f"p-{i}", delay_ms=40)] for i in range(24)}
    seeded = seed_suite(get_engine(), base_url=loopback.base_url, scenarios=scenarios, max_parallel_runs=3)
    result = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"})
    ids = [r.id for r in result.runs]

    def all_ended() -> bool:
        with Session(get_engine()) as session:
            rows = session.exec(select(TestRun).where(col(TestRun.id).in_(ids))).all()
            return all(r.status == RunStatus.PASSED for r in rows)

    wait_for(all_ended, timeout=180, interval=0.2, what="24 runs to pass")
    with Session(get_engine()) as session:
        rows = session.exec(select(TestRun).where(col(TestRun.id).in_(ids))).all()
    # the database clock stamps claims and ends: at no instant were more than 3 runs in progress
    points = sorted(
        [(r.started_at, 1) for r in rows] + [(r.finished_at, -1) for r in rows],
        key=lambda p: (p[0], p[1]),
    )
    running = peak = 0
    for _, delta in points:
        running += delta
        peak = max(peak, running)
    assert peak <= 3
