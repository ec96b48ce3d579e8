"""Live dashboard latency: a step's end in the worker -> the run page in a real browser showing it.

    eval "$(scripts/services up pg redis)"   # exports ORCHESTRA_TEST_PG_URL / ORCHESTRA_TEST_REDIS_URL
    .venv/bin/python benchmarks/bench_live_ui.py [--runs 3] [--steps 20] [--step-ms 250] [--big 10000]

What it does: builds and starts the app (`reflex run --env prod`, PostgreSQL + Redis, as
`scripts/run` does with servers configured) and one `orchestra worker`, seeds a suite whose steps call
a loopback HTTP server, starts each run through the REST API and opens its run page in Debian's
Chromium (Playwright) before the first step ends (the first step waits 3 s). A MutationObserver in
the page stamps (Date.now()) the moment each step's status badge first shows a final status; the
step's end is the StepFinished event's timestamp taken in the worker (read back from the run's Redis
stream). Same machine, same clock. Printed: samples, p50, p95, max (target: p95 < 500 ms).

``--big N``: one more run of N quick steps, to see the page stay responsive: time to open the page
of a finished N-step run (first rows shown) and to switch to the next page of 100 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestra_app.db.engine import make_engine  # noqa: E402
from orchestra_app.db.migrate import upgrade  # noqa: E402
from orchestra_app.services.run_events import run_stream  # noqa: E402
from tests.fixtures.http.server import serve  # noqa: E402
from tests.fixtures.runs import get_step, seed_suite  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FINAL = ("PASSED", "FAILED", "ERROR", "SKIPPED", "FLAKY")

# stamps the first time each step row's badge shows a final status
OBSERVER = """
() => {
  window.__seen = {};
  const final = new Set(FINAL_JSON);
  const scan = () => {
    const now = Date.now();
    for (const row of document.querySelectorAll('#steps-table .step-row')) {
      const i = row.getAttribute('data-step');
      if (i in window.__seen) continue;
      const badge = row.querySelector('.step-status');
      if (badge && final.has(badge.textContent.trim())) window.__seen[i] = now;
    }
  };
  new MutationObserver(scan).observe(document.body, {subtree: true, childList: true, characterData: true});
  scan();
  return Date.now();
}
""".replace("FINAL_JSON", json.dumps(FINAL))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_app(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited; see {log}")
        try:
            healthy = httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200
            if healthy and httpx.get(f"{base}/", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the app did not answer within 600 s; see {log}")


def step_ends(r: redis.Redis, run_id: str) -> dict[str, float]:
    """orderIndex -> the StepFinished event's timestamp (ms) from the run's stream."""
    out: dict[str, float] = {}
    for _id, fields in r.xrange(run_stream(uuid.UUID(run_id))):
        event = json.loads(fields[b"e"])
        if event.get("type") == "StepFinished":
            out[str(event["orderIndex"])] = float(event["at"]) * 1000
    return out


def launch(base: str, scenario_id: Any, environment_id: Any) -> str:
    body = {"scenarioIds": [str(scenario_id)], "environmentId": str(environment_id), "triggeredBy": "bench"}
    response = httpx.post(f"{base}/api/v1/testruns", json=body, timeout=60)
    response.raise_for_status()
    return str(response.json()["runs"][0]["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-ms", type=int, default=250)
    parser.add_argument("--big", type=int, default=10_000, help="steps of the large run (0: skip)")
    args = parser.parse_args()
    pg_url = os.environ.get("ORCHESTRA_TEST_PG_URL")
    redis_url = os.environ.get("ORCHESTRA_TEST_REDIS_URL")
    if not pg_url or not redis_url:
        raise SystemExit('start the services first: eval "$(scripts/services up pg redis)"')
    from playwright.sync_api import sync_playwright

    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    db_name = f"bench_ui_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    db_url = f"{pg_url.rsplit('/', 1)[0]}/{db_name}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-live-ui-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(db_url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DB_URL": db_url,
            "REDIS_URL": redis_url,
            "ORCHESTRA_PORT": str(port),
            "ORCHESTRA_DATA_DIR": str(workdir / "data"),
            "REFLEX_CHECK_LATEST_VERSION": "0",
            "REFLEX_TELEMETRY_ENABLED": "false",
        }
        reflex = [str(ROOT / ".venv/bin/reflex"), "run", "--env", "prod"]
        ports = ["--frontend-port", str(port), "--backend-port", str(port)]
        procs.append(start([*reflex, *ports], env, workdir / "app.log"))
        worker = [str(ROOT / ".venv/bin/orchestra"), "worker", "-p", "1", "-t", "2", "--metrics-port", "0"]
        procs.append(start(worker, env, workdir / "worker.log"))
        with serve() as server:
            engine = make_engine(db_url)
            steps = [get_step("wait", "bench-0", delay_ms=3000)]
            steps += [get_step(f"s{i}", f"bench-{i}", delay_ms=args.step_ms) for i in range(1, args.steps)]
            scenarios = {"live": steps}
            if args.big:
                scenarios["big"] = [get_step(f"b{i}", f"big-{i}") for i in range(args.big)]
            seeded = seed_suite(engine, base_url=server.base_url, process_key="bench-ui", scenarios=scenarios)
            engine.dispose()
            print(f"building and starting the app on {base} (a few minutes on a busy machine)...", flush=True)
            wait_app(base, procs[0], workdir / "app.log")
            r = redis.Redis.from_url(redis_url)
            latencies: list[float] = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                page.goto(f"{base}/runs")  # warm: the first page load compiles nothing but fetches the bundle
                page.wait_for_selector("#page-title", timeout=120_000)
                for n in range(args.runs):
                    run_id = launch(base, seeded.scenarios["live"], seeded.environment_id)
                    page.goto(f"{base}/runs/{run_id}")
                    page.wait_for_selector("#steps-table .step-row", timeout=120_000)
                    installed = float(page.evaluate(OBSERVER))
                    page.wait_for_function(
                        "document.querySelector('#run-status') && "
                        "['PASSED','FAILED','CANCELLED'].includes(document.querySelector('#run-status').textContent)",
                        timeout=300_000,
                    )
                    page.wait_for_timeout(500)
                    seen: dict[str, float] = page.evaluate("window.__seen")
                    ends = step_ends(r, run_id)
                    # a step that ended before the observer was installed is not a sample
                    run_samples = [seen[i] - ends[i] for i in ends if i in seen and ends[i] > installed]
                    latencies.extend(run_samples)
                    print(
                        f"run {n + 1}: {len(run_samples)} samples, p50 {percentile(run_samples, 0.5):.0f} ms"
                    )
                if latencies:
                    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
                    print(
                        f"step end -> browser: {len(latencies)} samples, p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
                        f"max {max(latencies):.0f} ms (target p95 < 500 ms)"
                    )
                if args.big:
                    run_id = launch(base, seeded.scenarios["big"], seeded.environment_id)
                    page.goto(f"{base}/runs/{run_id}")
                    page.wait_for_function(
                        "document.querySelector('#run-status') && "
                        "document.querySelector('#run-status').textContent === 'PASSED'",
                        timeout=1_800_000,
                    )
                    t0 = time.monotonic()
                    page.goto(f"{base}/runs/{run_id}")
                    page.wait_for_selector("#steps-table [data-step='99']", timeout=120_000)
                    opened = time.monotonic() - t0
                    t0 = time.monotonic()
                    page.locator("#steps-next").click()
                    page.wait_for_selector("#steps-table [data-step='100']", timeout=120_000)
                    switched = time.monotonic() - t0
                    rows = page.locator("#steps-table .step-row").count()
                    print(
                        f"{args.big:,}-step run: page opened in {opened * 1000:.0f} ms, "
                        f"next page of steps in {switched * 1000:.0f} ms, {rows} rows in the DOM"
                    )
                browser.close()
    finally:
        for proc in procs:
            stop(proc)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
        print(f"logs: {workdir}")


if __name__ == "__main__":
    main()
