"""Reliability against real processes and services: `orchestra worker` processes on PostgreSQL and a
private Redis (started here, so it can be stopped and restarted), a loopback HTTP system under test.

Cancel stops after the current step; a worker killed with SIGKILL mid-run is replaced and the run
finishes with every step recorded once; Redis going away and coming back loses no stored result;
per-step and per-run timeouts; two worker processes share the queue and serve /metrics.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestra_app.db.tables import TestRun, TestStepResult
from orchestra_app.domain.runs import RunStatus
from orchestra_app.engine.events import RunEvent, RunFinished, StepFinished
from orchestra_app.services import run_queue
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from orchestra_app.services.run_events import RedisEventBus, follow_run
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import app_database, get_step, seed_suite, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FAST_RECOVERY = {
    "ORCHESTRA_HEARTBEAT_INTERVAL_S": "0.3",
    "ORCHESTRA_HEARTBEAT_TIMEOUT_S": "2",
    "ORCHESTRA_REAPER_INTERVAL_S": "0.5",
    "ORCHESTRA_REQUEUE_AFTER_S": "5",
    "ORCHESTRA_CANCEL_POLL_S": "0.1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test alone (no persistence: a restart loses every key, as in prod
    without AOF), stopped and started by pid."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server missing: scripts/services installs it")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(up, timeout=30, what="private redis-server")
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


class Workers:
    """`orchestra worker` command lines, each in its own process group (killed by group id)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[Any] = []

    def start(
        self, *, processes: int = 1, threads: int = 2, metrics_port: int = 0
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.procs)}.log").open("wb")
        self.files.append(log)
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/orchestra"),
                "worker",
                "-p",
                str(processes),
                "-t",
                str(threads),
                "--metrics-port",
                str(metrics_port),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
        for log in self.files:
            log.close()

    def log_text(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("worker-*.log"))
        )


def redis_dispatcher(url: str) -> Any:
    """What execute_run.send does, on a Redis broker of this test (the test process's own broker
    is the embedded stub)."""
    broker = RedisBroker(url=url, namespace="orchestra")

    def send(run_ids: Any) -> None:
        for run_id in run_ids:
            broker.enqueue(
                dramatiq.Message(
                    queue_name="orchestra-runs",
                    actor_name="execute_run",
                    args=(str(run_id),),
                    kwargs={},
                    options={},
                )
            )

    return send


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture
def stack(migrated_pg_engine: Engine, tmp_path: Path) -> Iterator[dict[str, Any]]:
    (tmp_path / "redis").mkdir()
    private = PrivateRedis(tmp_path / "redis")
    private.start()
    db_url = migrated_pg_engine.url.render_as_string(hide_password=False)
    env = {
        **os.environ,
        "DB_URL": db_url,
        "REDIS_URL": private.url,
        "ORCHESTRA_DATA_DIR": str(tmp_path),
        **FAST_RECOVERY,
    }
    workers = Workers(env, tmp_path)
    try:
        with app_database(db_url, str(tmp_path)):
            run_queue.set_dispatcher(redis_dispatcher(private.url))
            yield {"redis": private, "workers": workers, "engine": migrated_pg_engine, "logs": tmp_path}
    finally:
        workers.stop_all()
        private.stop()
        from executor import bootstrap

        bootstrap.wire()


def results(engine: Engine, run_id: uuid.UUID) -> list[TestStepResult]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(TestStepResult)
                .where(TestStepResult.run_id == run_id)
                .order_by(col(TestStepResult.order_index))
            ).all()
        )


def run_row(engine: Engine, run_id: uuid.UUID) -> TestRun:
    with Session(engine) as session:
        row = session.get(TestRun, run_id)
        assert row is not None
        return row


def wait_ended(engine: Engine, run_id: uuid.UUID, timeout: float = 180) -> TestRun:
    return wait_for(
        lambda: (
            (r := run_row(engine, run_id)).status in (RunStatus.PASSED, RunStatus.FAILED, RunStatus.CANCELLED)
            and r
        ),
        timeout=timeout,
        interval=0.1,
        what=f"run {run_id} to end",
    )


def start_follower(
    run_id: uuid.UUID, principal: Any, engine: Engine, url: str
) -> tuple[threading.Thread, list[RunEvent]]:
    seen: list[RunEvent] = []
    bus = RedisEventBus(url)

    def follow() -> None:
        seen.extend(
            follow_run(run_id, principal=principal, bus=bus, engine=engine, block_ms=300, resync_s=1.0)
        )

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    return thread, seen


def test_cancel_stops_after_the_current_step(stack: dict[str, Any], loopback: LoopbackServer) -> None:
    engine = stack["engine"]
    seeded = seed_suite(
        engine,
        base_url=loopback.base_url,
        scenarios={"c": [get_step(f"s{i}", f"cx-{i}", delay_ms=1000) for i in range(10)]},
    )
    stack["workers"].start()
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    wait_for(lambda: len(results(engine, run_id)) >= 2, timeout=120, what="two steps recorded")
    svc.write(run_service.cancel_run, seeded.principal, run_id=run_id)
    stored_at_cancel = len(results(engine, run_id))
    run = wait_ended(engine, run_id)
    assert run.status == RunStatus.CANCELLED
    rows = results(engine, run_id)
    assert len(rows) == 10 and [r.order_index for r in rows] == list(range(10))
    passed = [r.order_index for r in rows if r.status == "PASSED"]
    # at most the step in flight when the cancel arrived finished; none started after it
    assert len(passed) in (stored_at_cancel, stored_at_cancel + 1)
    assert all(r.status == "SKIPPED" for r in rows[len(passed) :])
    sent = [h for h in loopback.state.hits if h.startswith("cx-")]
    assert sent == [f"cx-{i}" for i in passed]


def test_worker_killed_with_sigkill_is_replaced_and_the_run_finishes(
    stack: dict[str, Any], loopback: LoopbackServer
) -> None:
    engine, workers = stack["engine"], stack["workers"]
    steps = [get_step(f"s{i}", f"kill-{i}", delay_ms=250) for i in range(12)]
    seeded = seed_suite(engine, base_url=loopback.base_url, scenarios={"k": steps})
    first = workers.start()
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    follower, seen = start_follower(run_id, seeded.principal, engine, stack["redis"].url)
    wait_for(lambda: len(results(engine, run_id)) >= 3, timeout=120, what="three steps recorded")
    workers.kill(first, signal.SIGKILL)
    killed_at = len(results(engine, run_id))
    assert run_row(engine, run_id).status == RunStatus.IN_PROGRESS  # nobody finished it for the dead worker
    workers.start()
    run = wait_ended(engine, run_id)
    assert run.status == RunStatus.PASSED and run.attempt == 2
    rows = results(engine, run_id)
    assert [r.order_index for r in rows] == list(range(12))  # every step once
    assert {r.attempt for r in rows[:killed_at]} == {1} and {r.attempt for r in rows[killed_at + 1 :]} == {2}
    sent = [h for h in loopback.state.hits if h.startswith("kill-")]
    assert sorted(set(sent)) == sorted(f"kill-{i}" for i in range(12))
    assert len(sent) <= 13  # only the step in flight at the kill may have been sent twice
    follower.join(timeout=60)
    finished = [e.order_index for e in seen if isinstance(e, StepFinished)]
    assert finished == list(range(12)) and isinstance(seen[-1], RunFinished)


def test_graceful_worker_shutdown_hands_the_run_back_at_a_step_boundary(
    stack: dict[str, Any], loopback: LoopbackServer
) -> None:
    engine, workers = stack["engine"], stack["workers"]
    steps = [get_step(f"s{i}", f"drain-{i}", delay_ms=500) for i in range(8)]
    seeded = seed_suite(engine, base_url=loopback.base_url, scenarios={"d": steps})
    first = workers.start()
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    wait_for(lambda: len(results(engine, run_id)) >= 2, timeout=120, what="two steps recorded")
    # docker stop, a deploy: SIGTERM to the main process only (it forwards it once to its workers;
    # a second SIGTERM, as a process-group signal would deliver, makes Dramatiq kill them)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=120)
    row = run_row(engine, run_id)
    assert row.status == RunStatus.QUEUED and row.worker_id is None  # handed back, not CANCELLED
    done_before = len(results(engine, run_id))
    workers.start()
    run = wait_ended(engine, run_id)
    assert run.status == RunStatus.PASSED and run.attempt == 2
    rows = results(engine, run_id)
    assert [r.order_index for r in rows] == list(range(8))
    assert {r.attempt for r in rows[:done_before]} == {1} and {r.attempt for r in rows[done_before:]} == {2}
    sent = [h for h in loopback.state.hits if h.startswith("drain-")]
    assert sent == [f"drain-{i}" for i in range(8)]  # released between steps: nothing sent twice


def test_redis_restart_mid_run_loses_no_result(stack: dict[str, Any], loopback: LoopbackServer) -> None:
    engine, private = stack["engine"], stack["redis"]
    steps = [get_step(f"s{i}", f"redis-{i}", delay_ms=200) for i in range(15)]
    seeded = seed_suite(engine, base_url=loopback.base_url, scenarios={"r": steps})
    stack["workers"].start()
    run_id = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    follower, seen = start_follower(run_id, seeded.principal, engine, private.url)
    wait_for(lambda: len(results(engine, run_id)) >= 3, timeout=120, what="three steps recorded")
    private.stop()
    down_at = len(results(engine, run_id))
    wait_for(
        lambda: len(results(engine, run_id)) >= down_at + 3,
        timeout=60,
        what="steps stored while Redis is down",
    )
    private.start()
    run = wait_ended(engine, run_id)
    assert run.status == RunStatus.PASSED
    assert [r.order_index for r in results(engine, run_id)] == list(range(15))
    follower.join(timeout=60)
    finished = [e.order_index for e in seen if isinstance(e, StepFinished)]
    assert finished == list(range(15))  # the outage's events came from the database, once each
    assert isinstance(seen[-1], RunFinished)
    # the worker survived the outage and takes new work from the restarted Redis
    again = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"}).runs[0].id
    assert wait_ended(engine, again).status == RunStatus.PASSED


def test_step_and_run_timeouts(stack: dict[str, Any], loopback: LoopbackServer) -> None:
    engine = stack["engine"]
    seeded = seed_suite(
        engine,
        base_url=loopback.base_url,
        scenarios={
            "step": [get_step("slow", "t-1", delay_ms=5000), get_step("fast", "t-2")],
            # The run's deadline (3 s) falls inside r1 (30 s), never between two steps: a deadline met at a
            # step boundary is a run timeout with no step to blame, which a loaded machine could produce
            # with short steps.
            "run": [get_step("r0", "tr-0"), get_step("r1", "tr-1", delay_ms=30_000)]
            + [get_step(f"r{i}", f"tr-{i}") for i in range(2, 6)],
        },
    )
    stack["workers"].start(threads=2)
    step_run = (
        svc.write(
            run_service.create_runs,
            seeded.principal,
            request={"suiteKey": "shop", "scenarioKeys": ["step"], "stepTimeoutS": 1},
        )
        .runs[0]
        .id
    )
    run_run = (
        svc.write(
            run_service.create_runs,
            seeded.principal,
            request={"suiteKey": "shop", "scenarioKeys": ["run"], "runTimeoutS": 3},
        )
        .runs[0]
        .id
    )
    assert wait_ended(engine, step_run).status == RunStatus.FAILED
    rows = results(engine, step_run)
    assert rows[0].violations[0]["type"] == "TIMEOUT" and rows[0].violations[0]["code"] == "STEP_TIMEOUT"
    assert rows[1].status == "PASSED"
    run = wait_ended(engine, run_run)
    assert run.status == RunStatus.FAILED and "run timeout" in (run.error or "")
    rows = results(engine, run_run)
    codes = [v["code"] for r in rows for v in r.violations]
    assert codes == ["RUN_TIMEOUT"] and len(rows) == 6
    assert [r.status for r in rows] == ["PASSED", "FAILED", "SKIPPED", "SKIPPED", "SKIPPED", "SKIPPED"]


def test_two_worker_processes_share_runs_and_serve_metrics(
    stack: dict[str, Any], loopback: LoopbackServer
) -> None:
    engine = stack["engine"]
    scenarios = {
        f"p{i}": [get_step("a", f"two-{i}", delay_ms=300), get_step("b", f"two-{i}b")] for i in range(6)
    }
    seeded = seed_suite(engine, base_url=loopback.base_url, scenarios=scenarios, max_parallel_runs=6)
    port = free_port()
    stack["workers"].start(processes=2, threads=1, metrics_port=port)
    created = svc.write(run_service.create_runs, seeded.principal, request={"suiteKey": "shop"})
    ended = [wait_ended(engine, r.id) for r in created.runs]
    assert {r.status for r in ended} == {RunStatus.PASSED}
    assert len({r.worker_id for r in ended}) == 2  # one thread each: both processes took runs

    def scrape() -> str | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return None
        return text if 'orchestra_testrun_total{status="PASSED"' in text else None

    text = wait_for(scrape, timeout=60, interval=0.5, what="worker /metrics")
    tenant = str(seeded.principal.tenant_id)
    assert f'orchestra_testrun_total{{status="PASSED",tenant="{tenant}"}} 6.0' in text
    assert "orchestra_step_duration_ms_count" in text and "dramatiq_messages_total" in text
