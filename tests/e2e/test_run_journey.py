"""Runs from the UI on PostgreSQL + Redis with a real `orchestra worker`: Run a suite on the Suites
page, watch the statuses change live on the Runs page, cancel a slow run."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from orchestra_app.db.engine import make_engine
from tests.e2e.conftest import ARTIFACTS, ROOT, _free_port
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import get_step, seed_suite, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture(scope="module")
def worker(app_db_url: str, redis_url: str) -> Iterator[None]:
    env = {**os.environ, "DB_URL": app_db_url, "REDIS_URL": redis_url, "ORCHESTRA_CANCEL_POLL_S": "0.1"}
    with (ARTIFACTS / "e2e-worker.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/orchestra"), "worker", "-p", "1", "-t", "2", "--metrics-port", "0"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    yield
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_run_a_suite_from_the_ui_and_watch_it_live(
    app_url: str, app_db_url: str, worker: None, loopback: LoopbackServer, page: Page
) -> None:
    engine = make_engine(app_db_url)
    try:
        seed_suite(
            engine,
            base_url=loopback.base_url,
            process_key="ui-run",
            scenarios={
                "quick": [get_step("a", "ui-1"), get_step("b", "ui-2", delay_ms=1500)],
                "broken": [get_step("c", "ui-3", mode="server_error")],
                "slow": [get_step(f"s{i}", f"ui-slow-{i}", delay_ms=1500) for i in range(20)],
            },
            environment_name="ui-loopback",
        )
    finally:
        engine.dispose()
    page.goto(app_url + "/suites")
    expect(page.locator("#page-title")).to_have_text("Suites", timeout=60_000)
    row = page.locator("#suites-table tr", has_text="ui-run v1")
    expect(row).to_be_visible(timeout=30_000)
    row.locator(".run-suite").click()
    expect(page.locator("#run-result")).to_contain_text("3 run(s) started", timeout=30_000)
    page.locator("#see-runs").click()
    expect(page.locator("#page-title")).to_have_text("Runs", timeout=60_000)
    table = page.locator("#runs-table")
    quick = table.locator("tr", has_text="scenario quick")
    broken = table.locator("tr", has_text="scenario broken")
    slow = table.locator("tr", has_text="scenario slow")
    # statuses arrive through the live event stream: no reload below
    expect(quick.locator(".run-status")).to_have_text("PASSED", timeout=90_000)
    expect(broken.locator(".run-status")).to_have_text("FAILED", timeout=90_000)
    expect(slow.locator(".run-status")).to_have_text("IN_PROGRESS", timeout=90_000)
    expect(quick).to_contain_text("2/2")
    slow.get_by_role("button", name="Cancel").click()
    expect(slow.locator(".run-status")).to_have_text("CANCELLED", timeout=90_000)
    expect(slow).to_contain_text("skipped")
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "runs-live.png"), full_page=True)


def test_embedded_default_runs_a_suite(tmp_path: Path, loopback: LoopbackServer, page: Page) -> None:
    """The README run command with no servers: SQLite, the in-process worker and event bus."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    env.update({"ORCHESTRA_PORT": str(port), "ORCHESTRA_DATA_DIR": str(tmp_path)})
    log_path = ARTIFACTS / "run-command-engine.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert proc.poll() is None, f"scripts/run exited:\n{log_path.read_text()[-3000:]}"
            try:
                return httpx.get(f"{base}/api/v1/health", timeout=2).json().get("mode") == "embedded"
            except (httpx.HTTPError, ValueError):
                return False

        wait_for(healthy, timeout=420, interval=0.5, what="scripts/run to answer")
        engine = make_engine(f"sqlite:///{tmp_path / 'orchestra.db'}")
        try:
            seed_suite(
                engine,
                base_url=loopback.base_url,
                process_key="embedded",
                scenarios={
                    "ok": [get_step("a", "e-1"), get_step("b", "e-2")],
                    "bad": [get_step("c", "x", mode="server_error")],
                },
            )
        finally:
            engine.dispose()
        created = httpx.post(f"{base}/api/v1/testruns", json={"suiteKey": "embedded"}, timeout=30)
        assert created.status_code == 201, created.text
        ids = {r["scenarioKey"]: r["id"] for r in created.json()["runs"]}

        def status(run_id: str) -> str | None:
            body = httpx.get(f"{base}/api/v1/testruns/{run_id}", timeout=10).json()
            return body["status"] if body["status"] in ("PASSED", "FAILED", "CANCELLED") else None

        assert wait_for(lambda: status(ids["ok"]), timeout=120, what="embedded run") == "PASSED"
        assert wait_for(lambda: status(ids["bad"]), timeout=120, what="embedded run") == "FAILED"
        metrics = httpx.get(f"{base}/metrics", timeout=10)
        assert metrics.status_code == 200 and 'orchestra_testrun_total{status="PASSED"' in metrics.text
        page.goto(base + "/runs")
        expect(page.locator("#runs-table tr", has_text="scenario ok").locator(".run-status")).to_have_text(
            "PASSED", timeout=60_000
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
