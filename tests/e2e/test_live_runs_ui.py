"""Runs in a real browser against PostgreSQL + Redis and a real `orchestra worker`: launch a suite from
the Runs page's launcher, watch one run's steps finish live on its page (pushed from the Redis
stream: no reload), open a step's detail (request, response, violations), cancel a slow run."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from orchestra_app.db.engine import make_engine
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_engine_ui import loopback, worker  # noqa: F401 (module-scoped fixtures)
from tests.fixtures.http.server import LoopbackServer
from tests.fixtures.runs import get_step, seed_suite

pytestmark = pytest.mark.e2e


def test_launch_watch_live_step_detail_and_cancel(
    app_url: str,
    app_db_url: str,
    worker: None,  # noqa: F811
    loopback: LoopbackServer,  # noqa: F811
    page: Page,
) -> None:
    engine = make_engine(app_db_url)
    try:
        seed_suite(
            engine,
            base_url=loopback.base_url,
            process_key="live",
            scenarios={
                "steady": [get_step(f"s{i}", f"live-{i}", delay_ms=1500) for i in range(8)],
                "bad": [get_step("boom", "live-bad", mode="server_error")],
                "stuck": [get_step(f"w{i}", f"live-w{i}", delay_ms=1500) for i in range(20)],
            },
            environment_name="live-loopback",
        )
    finally:
        engine.dispose()
    page.goto(app_url + "/runs")
    expect(page.locator("#page-title")).to_have_text("Runs", timeout=60_000)
    # the page is live (socket connected, on_load ran) before anything is clicked
    expect(page.locator("#dev-identity-badge")).to_be_visible(timeout=60_000)
    page.locator("#new-run").click()
    page.locator("#launch-start").click()
    expect(page.locator("#launch-error-suiteId")).to_contain_text("choose a suite", timeout=30_000)
    page.locator("#launch-suite").click()
    page.get_by_role("option", name="live v1 [live]").click()
    expect(page.locator(".launch-scenario")).to_have_count(3, timeout=30_000)
    page.locator("#launch-environment").click()
    page.get_by_role("option", name="live-loopback").click()
    page.locator("#launch-start").click()
    expect(page.locator("#launch-result")).to_contain_text("3 run(s) started", timeout=30_000)

    table = page.locator("#runs-table")
    table.locator("tr", has_text="scenario steady").locator(".run-link").click()
    expect(page.locator("#run-scenario")).to_have_text("scenario steady", timeout=60_000)
    steps = page.locator("#steps-table .step-row")
    expect(steps).to_have_count(8, timeout=30_000)
    # opened while the run is going (about 12 s of steps): every later change below is pushed
    expect(page.locator("#run-live")).to_be_visible(timeout=30_000)
    last = page.locator("#steps-table [data-step='7'] .step-status")
    expect(last).to_have_text(re.compile("PENDING|QUEUED"))
    expect(last).to_have_text("PASSED", timeout=90_000)
    expect(page.locator("#run-status")).to_have_text("PASSED", timeout=90_000)
    expect(page.locator("#run-counts")).to_have_text("8 passed")
    expect(page.locator("#run-live")).to_have_count(0, timeout=30_000)
    page.locator("#steps-table [data-step='1'] .step-open").click()
    expect(page.locator("#step-title")).to_contain_text("#1 s1", timeout=30_000)
    expect(page.locator("#step-request")).to_contain_text("/orders/live-1")
    expect(page.locator("#step-response")).to_contain_text("200")
    expect(page.locator("#step-no-violations")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "run-detail.png"), full_page=True)

    page.goto(app_url + "/runs")
    page.locator("#runs-table tr", has_text="scenario bad").locator(".run-link").click()
    expect(page.locator("#run-status")).to_have_text("FAILED", timeout=90_000)
    page.locator("#steps-table [data-step='0'] .step-open").click()
    expect(page.locator("#step-violations")).to_contain_text("HTTP_ERROR", timeout=30_000)
    expect(page.locator("#step-response")).to_contain_text("500")

    page.goto(app_url + "/runs")
    page.locator("#runs-table tr", has_text="scenario stuck").locator(".run-link").click()
    expect(page.locator("#run-status")).to_have_text("IN_PROGRESS", timeout=90_000)
    expect(page.locator("#steps-table [data-step='0'] .step-status")).to_have_text("PASSED", timeout=90_000)
    page.locator("#run-cancel").click()
    expect(page.locator("#run-status")).to_have_text("CANCELLED", timeout=90_000)
    expect(page.locator("#steps-table .step-status", has_text="SKIPPED").first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "run-cancelled.png"), full_page=True)
