"""The main journey (issue 12 item 7) in a real browser against real services: the demo shop's
BPMN and specs uploaded -> suite generated and bound -> a scenario opened with its path on the
diagram, a step edited and saved -> data scaffolded from the suite on the Data sets page -> the shop's
environment created on the Environments page -> the suite launched from the Runs page's launcher with
that data set and environment, on a real `orchestra worker` -> one run watched on its page while its
steps end (pushed live, no reload) -> the report opened -> the HTML export downloaded and opened
offline (file://, every network request blocked). A screenshot of every page goes to
test-artifacts/screenshots/journey-*.png.

The shop answers getOrder (the scenario's last step) SLOW_MS late (its slow_response fault, well under
the environment's timeout), so the run is still going when its page opens.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.e2e.conftest import ARTIFACTS, ROOT

pytestmark = pytest.mark.e2e

SHOP = ROOT / "examples" / "shop"
SHOTS = ARTIFACTS / "screenshots"
SLOW_MS = 20_000  # getOrder's delay: the run page must open before it ends; TIMEOUT_S stays above it
TIMEOUT_S = 60
ENDED = re.compile("^(PASSED|FAILED|CANCELLED)$")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo system under test on free ports, SQLite (no Kafka/RabbitMQ: those steps fail, and
    the report shows why); getOrder answers SLOW_MS late."""
    data = tmp_path_factory.mktemp("shop")
    log = (ARTIFACTS / "journey-shop.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "examples.shop",
            "--order-port",
            "0",
            "--payment-port",
            "0",
            "--inventory-port",
            "0",
            "--data-dir",
            str(data),
            "--fault",
            f"orders.slow_response:operation=getOrder:delayMs={SLOW_MS}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"the shop exited {proc.poll()}; see {ARTIFACTS / 'journey-shop.log'}"
        ready = json.loads(line)
        assert ready["event"] == "ready"
        yield ready
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


@pytest.fixture(scope="module")
def worker(app_db_url: str, redis_url: str) -> Iterator[None]:
    env = {**os.environ, "DB_URL": app_db_url, "REDIS_URL": redis_url}
    with (ARTIFACTS / "journey-worker.log").open("wb") as log:
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


@pytest.fixture
def journey(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"journey-{name}.png"), full_page=True)


def test_main_journey(app_url: str, shop: dict[str, Any], worker: None, journey: Page) -> None:
    page = journey

    # 1. upload the demo BPMN: the suite is generated
    page.goto(app_url + "/processes")
    expect(page.locator("#page-title")).to_have_text("Processes", timeout=60_000)
    page.locator("#process-upload input[type=file]").set_input_files(str(SHOP / "order-process.bpmn"))
    page.locator("#process-import-button").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("imported as", timeout=60_000)
    version = re.search(r"imported as (\S+) v(\d+)", result.inner_text())
    assert version, result.inner_text()
    # the suite's label in the pickers: "<process name> v<version> [<process key>]"
    suite_label = re.compile(rf" v{version.group(2)} \[{re.escape(version.group(1))}\]$")
    expect(page.locator("#scenarios-table")).to_contain_text("S001", timeout=60_000)
    _shot(page, "01-process-imported")
    newest = httpx.get(f"{app_url}/api/v1/suites?limit=1", timeout=60).json()["items"][0]
    suite_id = newest["id"]  # the suite this import generated (the newest)

    # 2. its diagram with a scenario's path; open that scenario
    page.locator(f"#diagram-v{version.group(2)}").click()
    expect(page.locator("#bpmn-diagram .orchestra-bpmn")).to_be_visible(timeout=60_000)
    expect(page.locator("#bpmn-diagram .djs-element.o-path").first).to_be_attached(timeout=60_000)
    expect(page.locator("#selected-scenario")).to_contain_text("S001")
    _shot(page, "02-path-on-diagram")
    page.locator("#open-S001").click()
    expect(page.locator("#scenario-heading")).to_contain_text("S001 version 1", timeout=60_000)
    expect(page.locator("#bpmn-diagram .djs-element.o-path").first).to_be_attached(timeout=60_000)
    scenario_url = page.url

    # 3. upload the three service specs
    page.goto(app_url + "/specs")
    expect(page.locator("#page-title")).to_have_text("Specs", timeout=60_000)
    page.locator("#spec-upload input[type=file]").set_input_files(
        [str(SHOP / "specs" / spec) for spec in ("orders.yaml", "payments.yaml", "inventory.yaml")]
    )
    page.locator("#spec-import-button").click()
    result = page.locator("#spec-import-result")
    for service in ("shop-order-service", "shop-payment-service", "shop-inventory-service"):
        expect(result).to_contain_text(service, timeout=120_000)
    page.locator("#specs-table-search").fill("shop-")
    expect(page.locator("#specs-table-range")).to_contain_text("of 3", timeout=30_000)
    _shot(page, "03-specs-imported")

    # 4. bind the suite to the three specs
    page.goto(app_url + "/suites")
    expect(page.locator("#page-title")).to_have_text("Suites", timeout=60_000)
    suite_row = page.locator(f'#suites-table tbody tr[data-id="{suite_id}"]')
    expect(suite_row).to_be_visible(timeout=30_000)
    suite_row.get_by_role("button", name=re.compile("^Bind endpoints")).click()
    picker = page.locator("#spec-picker")
    for service in ("shop-order-service", "shop-payment-service", "shop-inventory-service"):
        picker.get_by_text(service).first.click()
    page.locator("#save-specs-button").click()
    expect(page.locator("#specs-result")).to_contain_text("shop-order-service", timeout=30_000)
    page.locator("#bind-button").click()
    expect(page.locator("#bind-result")).to_contain_text("task nodes bound", timeout=60_000)
    _shot(page, "04-suite-bound")

    # 5. edit a step of the (now bound) scenario and save it as a new version
    page.goto(scenario_url)
    expect(page.locator("#scenario-heading")).to_contain_text("S001 version 1", timeout=60_000)
    s001_name = page.locator("#scenario-name").input_value()  # how the Runs page names its runs
    assert s001_name, "S001 has no name"
    page.locator("#step-list .step-button").first.click()
    page.locator("#field-name").fill("Create the order (journey)")
    # this environment has no database, Kafka or RabbitMQ profile: drop the side-effect assertions
    side_effects = page.locator('#step-list .step-button[title^="ASSERTION DB"], '
                                '#step-list .step-button[title^="ASSERTION QUEUE"], '
                                '#step-list .step-button[title^="ASSERTION KAFKA"]')  # fmt: skip
    for left in range(side_effects.count() - 1, -1, -1):
        side_effects.first.locator("xpath=..").get_by_role("button", name="Remove step").click()
        expect(side_effects).to_have_count(left, timeout=15_000)
    expect(side_effects).to_have_count(0, timeout=15_000)
    expect(page.locator("#unsaved-badge")).to_be_visible()
    page.locator("#save-scenario").click()
    expect(page.locator("#scenario-heading")).to_contain_text("S001 version 2", timeout=60_000)
    _shot(page, "05-scenario-edited")

    # 6. scaffold the data set from the suite on the Data sets page
    page.goto(app_url + "/data-sets")
    expect(page.locator("#page-title")).to_have_text("Data sets", timeout=60_000)
    page.locator("#ds-scaffold-suite").click()
    page.get_by_role("option", name=suite_label).click()
    page.locator("#ds-scaffold-name").fill("journey data")
    page.locator("#ds-scaffold").click()
    expect(page.locator("#ds-notice")).to_contain_text("Created journey data", timeout=60_000)
    data_row = page.locator("#data-sets-table tbody tr").filter(
        has=page.get_by_text("journey data", exact=True)
    )
    expect(data_row).to_contain_text("SUITE", timeout=30_000)
    _shot(page, "06-data-scaffolded")

    # 7. the shop's environment on the Environments page: one service per spec, at the shop's URLs
    page.goto(app_url + "/environments")
    expect(page.locator("#page-title")).to_have_text("Environments", timeout=60_000)
    page.locator("#env-new").click()
    page.locator("#env-name").fill("journey-shop")
    services = {
        "shop-order-service": "orders",
        "shop-payment-service": "payments",
        "shop-inventory-service": "inventory",
    }
    page.locator("#env-services").fill(
        "\n".join(
            f"{name}: {{baseUrl: '{shop['services'][part]['url']}', timeoutS: {TIMEOUT_S}}}"
            for name, part in services.items()
        )
    )
    page.locator("#env-save").click()
    env_row = page.locator("#environments-table tr", has_text="journey-shop")
    for name in services:
        expect(env_row).to_contain_text(name, timeout=30_000)
    _shot(page, "06-environment-created")

    # 8. launch the suite from the Runs page's launcher with that data set and environment
    page.goto(app_url + "/runs")
    expect(page.locator("#page-title")).to_have_text("Runs", timeout=60_000)
    page.locator("#new-run").click()
    page.locator("#launch-suite").click()
    page.get_by_role("option", name=suite_label).click()
    expect(page.locator(".launch-scenario").first).to_be_visible(timeout=30_000)
    page.locator("#launch-mode").click()
    page.get_by_role("option", name="RUN_ALL_STEPS").click()
    page.locator("#launch-data-set").click()
    page.get_by_role("option", name="journey data (suite)").click()
    page.locator("#launch-environment").click()
    page.get_by_role("option", name="journey-shop").click()
    _shot(page, "07-launcher")
    page.locator("#launch-start").click()
    launched = page.locator("#launch-result")
    expect(launched).to_contain_text("run(s) started", timeout=60_000)
    started = re.search(r"(\d+) run\(s\) started", launched.inner_text())
    assert started, launched.inner_text()
    # every active scenario of the suite (none ticked), each one run
    expect(page.locator(".launch-scenario")).to_have_count(int(started.group(1)))
    ours = page.locator("#runs-table tbody tr").filter(has_text="journey-shop")
    expect(ours).to_have_count(int(started.group(1)), timeout=60_000)
    expect(ours.first).to_contain_text("journey data")

    # 9. watch S001's run on its page: its steps end one by one, pushed to the page without a reload
    s001_row = ours.filter(has=page.get_by_role("link", name=s001_name, exact=True))
    s001_row.locator(".run-link").click()
    expect(page.locator("#run-scenario")).to_have_text(s001_name, timeout=60_000)
    s001 = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.evaluate("window.journeyMark = 'not reloaded'")  # a reload would lose it
    steps = page.locator("#steps-table .step-row")
    expect(steps.first).to_be_visible(timeout=30_000)
    count = steps.count()
    last = page.locator(f"#steps-table [data-step='{count - 1}'] .step-status")
    # opened while the run is going (its last step, getOrder, takes SLOW_MS): what follows is pushed
    expect(page.locator("#run-live")).to_be_visible(timeout=30_000)
    expect(last).to_have_text("PENDING")
    expect(last).to_have_text(re.compile("^(PASSED|FAILED|ERROR)$"), timeout=300_000)
    expect(page.locator("#run-status")).to_have_text(ENDED, timeout=60_000)
    expect(page.locator("#run-live")).to_have_count(0, timeout=30_000)
    expect(page.locator("#steps-table .step-status", has_text="PENDING")).to_have_count(0)
    expect(page.locator("#run-counts")).not_to_have_text("")
    assert page.evaluate("window.journeyMark") == "not reloaded"
    _shot(page, "07-run-live-ended")

    # every run of the launch ends (the Runs page follows them too)
    page.goto(app_url + "/runs")
    expect(page.locator("#page-title")).to_have_text("Runs", timeout=60_000)
    expect(ours).to_have_count(int(started.group(1)), timeout=60_000)
    for i in range(int(started.group(1))):
        expect(ours.nth(i).locator(".run-status")).to_have_text(ENDED, timeout=300_000)
    _shot(page, "07-runs-ended")

    # 10. open the report of the first scenario's run
    page.goto(app_url + "/reports")
    expect(page.locator("#reports-table")).to_be_visible(timeout=60_000)
    _shot(page, "08-reports")
    page.goto(f"{app_url}/reports/{s001}")
    expect(page.locator("#report-summary")).to_be_visible(timeout=60_000)
    expect(page.locator("#report-facts")).to_contain_text("journey-shop")
    expect(page.locator("#report-facts")).to_contain_text("journey data")
    expect(page.locator("#report-steps tbody tr").first).to_be_visible()
    # the edited version ran its HTTP steps against the shop (not skipped)
    ran = page.locator(
        '#report-steps tbody tr[data-status="PASSED"], #report-steps tbody tr[data-status="FAILED"]'
    )
    expect(ran.first).to_be_visible(timeout=30_000)
    failed = page.locator('#report-steps tbody tr[data-status="FAILED"]')
    if failed.count():
        failed.first.locator(".step-details").click()
        expect(page.locator("#step-reproducer")).to_contain_text("curl", timeout=30_000)
    else:
        page.locator(".step-details").first.click()
    expect(page.locator("#step-detail")).to_be_visible()
    expect(page.locator("#suite-trend")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    _shot(page, "09-report")

    # 11. export the HTML and open it offline: every request other than the file itself is blocked
    with page.expect_download(timeout=120_000) as download_info:
        page.locator("#export-html").click()
    exported = ARTIFACTS / "journey-report.html"
    download_info.value.save_as(str(exported))
    html = exported.read_text(encoding="utf-8")
    assert s001 in html and "<script" not in html.lower()
    offline = page.context.browser.new_context(offline=True)  # type: ignore[union-attr]
    try:
        blocked: list[str] = []

        def refuse(route: Route) -> None:
            if not route.request.url.startswith("file://"):
                blocked.append(route.request.url)
            route.abort() if not route.request.url.startswith("file://") else route.continue_()

        view = offline.new_page()
        view.route("**/*", refuse)
        view.goto(exported.resolve().as_uri())
        expect(view.locator("h1")).to_be_visible()
        expect(view.locator("body")).to_contain_text("Steps")
        view.screenshot(path=str(SHOTS / "journey-10-exported-offline.png"), full_page=True)
        assert blocked == [], blocked
    finally:
        offline.close()
