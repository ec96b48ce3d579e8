"""Runs from the UI on PostgreSQL + Redis with a real `orchestra worker`: Run a suite on the Suites
page, watch the statuses change live on the Runs page, cancel a slow run.

(Named to run before test_run_command*.py: `scripts/run` rebuilds the checkout's `.web/`, which
breaks the session app that the other browser tests share.)"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from orchestra_app.db.engine import make_engine
from orchestra_app.db.tables import Environment
from tests.e2e.conftest import ARTIFACTS, ROOT
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import get_step, seed_suite

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
        seeded = seed_suite(
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
        # a second environment: the Run button cannot guess which one, so it opens the launcher
        with Session(engine) as session:
            session.add(Environment(tenant_id=seeded.principal.tenant_id, name="ui-elsewhere", services={}))
            session.commit()
    finally:
        engine.dispose()
    page.goto(app_url + "/suites")
    expect(page.locator("#page-title")).to_have_text("Suites", timeout=60_000)
    row = page.locator("#suites-table tr", has_text="ui-run v1")
    expect(row).to_be_visible(timeout=30_000)
    row.locator(".run-suite").click()
    # several environments: the Runs page's launcher opens with this suite chosen
    expect(page.locator("#page-title")).to_have_text("Runs", timeout=60_000)
    expect(page.locator(".launch-scenario")).to_have_count(3, timeout=30_000)
    page.locator("#launch-environment").click()
    page.get_by_role("option", name="ui-loopback").click()
    page.locator("#launch-start").click()
    expect(page.locator("#launch-result")).to_contain_text("3 run(s) started", timeout=30_000)
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
