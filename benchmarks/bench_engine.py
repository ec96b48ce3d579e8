"""Engine throughput and live-event latency, every figure from one run against one loopback server.

    eval "$(scripts/services up)"      # PostgreSQL + Redis (ORCHESTRA_TEST_PG_URL / _REDIS_URL)
    .venv/bin/python benchmarks/bench_engine.py [--runs 8] [--steps 250] [--repeat 2]

Figures (ratios matter: the machine is shared):
  bare      a bare httpx loop (one thread) against the server: requests/s
  1p x 1t   one `orchestra worker` process, one thread: steps/s with every result stored in
            PostgreSQL and every event published to Redis
  1p x 4t   one process, four threads (four runs at a time)
  2p x 4t   two processes
  latency   step end (the event's timestamp in the worker) -> a Redis Streams subscriber, p50/p95
  cancel    cancel request -> run CANCELLED, for runs whose steps take 200 ms
Targets (issue 10): 1p >= 50% of bare, 2p >= 1.7x 1p, event latency p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dramatiq  # noqa: E402
from dramatiq.brokers.redis import RedisBroker  # noqa: E402
from sqlmodel import Session, col, func, select  # noqa: E402

from orchestra_app.db.engine import make_engine  # noqa: E402
from orchestra_app.db.migrate import upgrade  # noqa: E402
from orchestra_app.db.tables import TestRun, TestStepResult  # noqa: E402
from orchestra_app.services import run_queue  # noqa: E402
from orchestra_app.services import runs as run_service  # noqa: E402
from orchestra_app.services import session as svc  # noqa: E402
from tests.fixtures.runs import app_database, get_step, seed_suite, wait_for  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, pg_url: str, redis_url: str) -> None:
        self.admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        self.db_name = f"bench_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.db_name}"'))
        self.db_url = f"{pg_url.rsplit('/', 1)[0]}/{self.db_name}"
        upgrade(self.db_url)
        self.engine = make_engine(self.db_url)
        self.redis_url = redis_url
        self.redis = redis.Redis.from_url(redis_url)
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-engine-"))
        self.server = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fixtures" / "http" / "server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.server.stdout is not None
        self.base_url = self.server.stdout.readline().strip()
        self.broker = RedisBroker(url=redis_url, namespace="orchestra")

    def close(self) -> None:
        assert self.server.stdin is not None
        self.server.stdin.close()
        self.server.wait(timeout=10)
        self.engine.dispose()
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self.admin.dispose()

    def dispatch(self, run_ids: Any) -> None:
        for run_id in run_ids:
            self.broker.enqueue(
                dramatiq.Message(
                    queue_name="orchestra-runs",
                    actor_name="execute_run",
                    args=(str(run_id),),
                    kwargs={},
                    options={},
                )
            )

    def start_workers(self, processes: int, threads: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DB_URL": self.db_url,
            "REDIS_URL": self.redis_url,
            "ORCHESTRA_DATA_DIR": str(self.workdir),
            "ORCHESTRA_CANCEL_POLL_S": "0.1",
        }
        log = (self.workdir / f"worker-{processes}x{threads}.log").open("ab")
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/orchestra"),
                "worker",
                "-p",
                str(processes),
                "-t",
                str(threads),
                "--metrics-port",
                "0",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # warm: one tiny run per thread proves every process is consuming before timing starts
        return proc

    @staticmethod
    def stop_workers(proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


TICK = os.sysconf("SC_CLK_TCK")


def _procs() -> list[tuple[int, int, str, float]]:
    """(pid, process group, command line, CPU seconds) of every process we can read."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out.append((int(entry.name), int(fields[2]), cmdline, (int(fields[11]) + int(fields[12])) / TICK))
    return out


def _machine() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, float(sum(values))


class CpuMeter:
    """CPU seconds spent by the worker's process group, the server, PostgreSQL backends of the
    benchmark database and the Redis server between start() and stop(); and machine busy share."""

    def __init__(self, stack: Stack, worker_pgid: int) -> None:
        self.stack = stack
        self.worker_pgid = worker_pgid

    def _sample(self) -> dict[str, float]:
        parts = {"worker": 0.0, "server": 0.0, "postgres": 0.0, "redis": 0.0}
        redis_port = self.stack.redis_url.rsplit(":", 1)[-1].split("/")[0]
        for pid, pgid, cmd, cpu in _procs():
            if pgid == self.worker_pgid:
                parts["worker"] += cpu
            elif pid == self.stack.server.pid:
                parts["server"] += cpu
            elif cmd.startswith("postgres:") and self.stack.db_name in cmd:
                parts["postgres"] += cpu
            elif cmd.startswith("redis-server") and f":{redis_port}" in cmd:
                parts["redis"] += cpu
        return parts

    def start(self) -> None:
        self.before = self._sample()
        self.machine_before = _machine()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        busy, total = _machine()
        out = {k: after[k] - self.before.get(k, 0.0) for k in after}
        out["busy"] = (busy - self.machine_before[0]) / max(total - self.machine_before[1], 1.0)
        return out


def bare_rate(base_url: str, n: int) -> float:
    with httpx.Client(trust_env=False) as client:
        for i in range(200):
            client.get(f"{base_url}/orders/warm-{i}").json()
        start = time.perf_counter()
        for i in range(n):
            response = client.get(f"{base_url}/orders/o-{i}")
            assert response.status_code == 200
            response.json()
        return n / (time.perf_counter() - start)


ENVIRONMENTS = {"bench": "loopback", "warm": "warm-env", "slow": "slow-env"}


def launch(stack: Stack, principal: Any, suite_key: str) -> list[uuid.UUID]:
    request = {"suiteKey": suite_key, "environmentName": ENVIRONMENTS[suite_key], "triggeredBy": "bench"}
    result = svc.write(run_service.create_runs, principal, request=request)
    return [r.id for r in result.runs]


def wait_runs(stack: Stack, ids: list[uuid.UUID], timeout: float = 900) -> None:
    def done() -> bool:
        with Session(stack.engine) as session:
            left = session.exec(
                select(func.count())
                .select_from(TestRun)
                .where(
                    col(TestRun.id).in_(ids), col(TestRun.status).in_(["QUEUED", "PENDING", "IN_PROGRESS"])
                )
            ).one()
            return int(left) == 0

    wait_for(done, timeout=timeout, interval=0.2, what="benchmark runs")


def step_rate(stack: Stack, ids: list[uuid.UUID]) -> tuple[float, int]:
    """Steps per second between the first claim and the last end (database clock)."""
    with Session(stack.engine) as session:
        first, last = session.exec(
            select(func.min(TestRun.started_at), func.max(TestRun.finished_at)).where(
                col(TestRun.id).in_(ids)
            )
        ).one()
        steps = int(
            session.exec(
                select(func.count()).select_from(TestStepResult).where(col(TestStepResult.run_id).in_(ids))
            ).one()
        )
        failed = session.exec(
            select(func.count())
            .select_from(TestRun)
            .where(col(TestRun.id).in_(ids), TestRun.status != "PASSED")
        ).one()
    assert int(failed) == 0, f"{failed} benchmark run(s) did not pass; see {stack.workdir}"
    return steps / (last - first).total_seconds(), steps


class LatencyProbe:
    """A Redis Streams subscriber on the runs' own streams: step end -> received."""

    def __init__(self, redis_url: str) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.cursors: dict[str, bytes] = {}
        self.samples: list[float] = []
        self.since = time.time()
        self.stop = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def follow(self, run_ids: list[uuid.UUID]) -> None:
        with self.lock:
            for run_id in run_ids:
                self.cursors.setdefault(f"orchestra:run:{run_id}:events", b"0")

    def loop(self) -> None:
        while not self.stop:
            with self.lock:
                cursors = dict(self.cursors)
            if not cursors:
                time.sleep(0.01)
                continue
            resp = self.client.xread(cursors, count=1000, block=200)
            now = time.time()
            for key, entries in resp or []:
                for entry_id, fields in entries:
                    with self.lock:
                        self.cursors[key.decode()] = entry_id
                    event = json.loads(fields[b"e"])
                    if event["type"] == "StepFinished" and event["at"] >= self.since:
                        self.samples.append((now - event["at"]) * 1000)

    def close(self) -> list[float]:
        self.stop = True
        self.thread.join(timeout=5)
        return self.samples


def measure_config(
    stack: Stack, principal: Any, processes: int, threads: int, repeat: int
) -> tuple[list[float], list[float], dict[str, float]]:
    proc = stack.start_workers(processes, threads)
    rates: list[float] = []
    latencies: list[float] = []
    cpu: dict[str, float] = {}
    steps_total = 0
    try:
        warm = launch(stack, principal, "warm")
        wait_runs(stack, warm)
        for _ in range(repeat):
            probe = LatencyProbe(stack.redis_url)
            meter = CpuMeter(stack, proc.pid)
            meter.start()
            ids = launch(stack, principal, "bench")
            probe.follow(ids)
            wait_runs(stack, ids)
            used = meter.stop()
            time.sleep(0.3)
            latencies.extend(probe.close())
            rate, steps = step_rate(stack, ids)
            rates.append(rate)
            steps_total += steps
            for key, value in used.items():
                cpu[key] = cpu.get(key, 0.0) + value
    finally:
        stack.stop_workers(proc)
    per_k = {k: v * 1000 / steps_total for k, v in cpu.items() if k != "busy"}
    per_k["busy"] = cpu.get("busy", 0.0) / max(repeat, 1)
    return rates, latencies, per_k


def cancel_latency(stack: Stack, principal: Any, tries: int) -> list[float]:
    proc = stack.start_workers(1, 2)
    samples: list[float] = []
    try:
        for _ in range(tries):
            run_id = launch(stack, principal, "slow")[0]

            def started(rid: uuid.UUID = run_id) -> bool:
                with Session(stack.engine) as session:
                    n = session.exec(
                        select(func.count()).select_from(TestStepResult).where(TestStepResult.run_id == rid)
                    ).one()
                    return int(n) >= 2

            wait_for(started, timeout=120, what="slow run to start")
            time.sleep(0.07)  # somewhere inside a step
            t0 = time.perf_counter()
            svc.write(run_service.cancel_run, principal, run_id=run_id)

            def cancelled(rid: uuid.UUID = run_id) -> bool:
                with Session(stack.engine) as session:
                    run = session.get(TestRun, rid)
                    return run is not None and run.status == "CANCELLED"

            wait_for(cancelled, timeout=60, interval=0.005, what="cancel")
            samples.append((time.perf_counter() - t0) * 1000)
    finally:
        stack.stop_workers(proc)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=8, help="runs per measurement (default 8)")
    parser.add_argument("--steps", type=int, default=250, help="steps per run (default 250)")
    parser.add_argument("--repeat", type=int, default=2, help="measurements per configuration")
    parser.add_argument("--cancel-tries", type=int, default=5)
    args = parser.parse_args()
    pg_url = os.environ.get("ORCHESTRA_TEST_PG_URL") or os.environ.get("DB_URL", "")
    redis_url = os.environ.get("ORCHESTRA_TEST_REDIS_URL") or os.environ.get("REDIS_URL", "")
    if not pg_url.startswith("postgresql") or not redis_url:
        sys.exit('needs PostgreSQL and Redis: eval "$(scripts/services up)" first')
    stack = Stack(pg_url, redis_url)
    try:
        with app_database(stack.db_url, str(stack.workdir)):
            run_queue.set_dispatcher(stack.dispatch)
            steps = [
                get_step(f"s{i}", f"o-{i}", expectations={"expectedStatusCode": 200})
                for i in range(args.steps)
            ]
            scenarios = {f"r{i:02d}": steps for i in range(args.runs)}
            seeded = seed_suite(
                stack.engine,
                base_url=stack.base_url,
                scenarios=scenarios,
                process_key="bench",
                max_parallel_runs=64,
            )
            seed_suite(
                stack.engine,
                base_url=stack.base_url,
                process_key="warm",
                environment_name="warm-env",
                scenarios={f"w{i}": [get_step("w", "w")] for i in range(8)},
                max_parallel_runs=64,
            )
            seed_suite(
                stack.engine,
                base_url=stack.base_url,
                process_key="slow",
                environment_name="slow-env",
                scenarios={"slow": [get_step(f"s{i}", f"slow-{i}", delay_ms=200) for i in range(40)]},
                max_parallel_runs=64,
            )
            principal = seeded.principal
            total = args.runs * args.steps
            print(
                f"workload: {args.runs} runs x {args.steps} steps = {total} steps "
                "(GET, small JSON, status check)"
            )
            print(f"server: {stack.base_url} (out of process); PostgreSQL + Redis from scripts/services\n")
            bare = [bare_rate(stack.base_url, 2000) for _ in range(args.repeat)]
            results: dict[str, tuple[list[float], list[float], dict[str, float]]] = {}
            for processes, threads in ((1, 1), (1, 4), (2, 4)):
                results[f"{processes}p x {threads}t"] = measure_config(
                    stack, principal, processes, threads, args.repeat
                )
            bare.extend(bare_rate(stack.base_url, 2000) for _ in range(args.repeat))  # drift check
            cancels = cancel_latency(stack, principal, args.cancel_tries)
    finally:
        stack.close()

    bare_med = statistics.median(bare)
    print(f"{'figure':<26}{'median':>12}{'samples':>40}")
    print(f"{'bare httpx loop':<26}{bare_med:>9.0f} /s   {', '.join(f'{r:.0f}' for r in bare):>36}")
    medians: dict[str, float] = {}
    for name, (rates, _, _) in results.items():
        medians[name] = statistics.median(rates)
        print(f"{'engine ' + name:<26}{medians[name]:>9.0f} /s   {', '.join(f'{r:.0f}' for r in rates):>36}")
    one_1, one_4, two_4 = medians["1p x 1t"], medians["1p x 4t"], medians["2p x 4t"]
    print()
    print(f"one worker (1 thread) / bare:    {one_1 / bare_med:6.0%}   target >= 50%")
    print(f"one worker (4 threads) / bare:   {one_4 / bare_med:6.0%}   target >= 50%")
    print(f"two workers / one (4 threads):   {two_4 / one_4:6.2f}x  target >= 1.7x")
    lat = [v for _, (_, samples, _) in results.items() for v in samples]
    print(
        f"step end -> Redis subscriber:    p50 {percentile(lat, 0.5):.1f} ms"
        f"  p95 {percentile(lat, 0.95):.1f} ms"
        f"  max {max(lat):.1f} ms  ({len(lat)} events)  target p95 < 100 ms"
    )
    print("\nCPU seconds per 1,000 steps (where the time goes) and machine busy share:")
    print(f"{'':<12}{'worker':>9}{'server':>9}{'postgres':>10}{'redis':>8}{'busy':>7}")
    for name, (_, _, cpu) in results.items():
        print(
            f"{name:<12}{cpu['worker']:>9.2f}{cpu['server']:>9.2f}{cpu['postgres']:>10.2f}"
            f"{cpu['redis']:>8.2f}{cpu['busy']:>7.0%}"
        )
    print(
        f"cancel -> run CANCELLED (200 ms steps): p50 {statistics.median(cancels):.0f} ms"
        f"  max {max(cancels):.0f} ms  ({len(cancels)} tries)  target < 1000 ms"
    )


if __name__ == "__main__":
    main()
