"""Diagrams and the scenario editor in a real browser (issue 12 items 1 and 2), at 1280x800.

BPMN drawn by bpmn-js from the stored file, a scenario's path marked on it, decisions by name; a
scenario opened, edited with a problem shown beside its field, saved as a new version, reloaded,
cloned, a stale save refused; sequence diagrams drawn by mermaid with the scenario's messages marked.

(Named to run after test_import_journeys, whose binding picks the newest suite and spec, and before
the test_run_command* modules, whose scripts/run rebuilds the checkout's frontend.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SHOP_BPMN = ROOT / "examples" / "shop" / "order-process.bpmn"
NO_LAYOUT_BPMN = ROOT / "tests" / "fixtures" / "generation" / "dangling_gateway.bpmn"
MERMAID = ROOT / "tests" / "fixtures" / "app" / "checkout.mmd"
SEQUENCE_JSON = ROOT / "tests" / "fixtures" / "sequence" / "order.json"
SHOTS = ARTIFACTS / "screenshots"


def _import(app_url: str, path: Path, key: str) -> dict[str, Any]:
    response = httpx.post(
        f"{app_url}/api/v1/processes?filename={path.name}&key={key}", content=path.read_bytes(), timeout=120
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    suite = httpx.get(f"{app_url}/api/v1/suites/{body['suite_id']}", timeout=60).json()
    body["scenarios"] = {s["key"]: s["id"] for s in suite["scenarios"]}
    return body


@pytest.fixture
def small(browser: Browser) -> Iterator[Page]:
    """The smallest screen the UI promises to fit without horizontal scrolling."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def _no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate(
        """() => ({doc: document.documentElement.scrollWidth,
                  tables: Array.from(document.querySelectorAll('.rt-TableRoot, .rt-ScrollAreaViewport'))
                    .filter(e => e.scrollWidth > e.clientWidth + 2).map(e => e.id || e.className)})"""
    )
    assert widths["doc"] <= 1280, widths
    assert widths["tables"] == [], widths


def _marked(page: Page, element_id: str) -> bool:
    return bool(
        page.locator(f'#bpmn-diagram .djs-element.o-path[data-element-id="{element_id}"]').count() == 1
    )


def test_bpmn_diagram_with_scenario_paths(app_url: str, small: Page) -> None:
    shop = _import(app_url, SHOP_BPMN, "u1-shop-order")
    page = small
    page.goto(f"{app_url}/processes/versions/{shop['version_id']}")
    diagram = page.locator("#bpmn-diagram .orchestra-bpmn")
    expect(diagram).to_have_attribute("data-rendered", "true", timeout=60_000)
    expect(page.locator('#bpmn-diagram .djs-shape[data-element-id="Task_AuthorisePayment"]')).to_have_count(1)
    assert int(diagram.get_attribute("data-shapes") or 0) >= 20
    assert int(diagram.get_attribute("data-connections") or 0) >= 20
    # the first scenario (in stock, authorised) is drawn on the diagram
    expect(page.locator("#selected-scenario")).to_contain_text("S001")
    page.wait_for_function("document.querySelectorAll('#bpmn-diagram .djs-element.o-path').length > 10")
    assert _marked(page, "Task_AuthorisePayment") and _marked(page, "Flow_InStock")
    assert not _marked(page, "EndEvent_Rejected")
    # decisions by gateway and flow names, the ids on hover
    row = page.locator("#version-scenarios tr", has_text="S002")
    decision = row.locator(".decisions")
    expect(decision).to_have_text(re.compile(r"Items in stock\? → out of stock"))
    assert "Gateway_InStock" in (decision.get_attribute("title") or "")
    # choosing another scenario moves the marks to its path
    page.locator("#show-S002").click()
    expect(
        page.locator('#bpmn-diagram .djs-element.o-path[data-element-id="EndEvent_Rejected"]')
    ).to_have_count(1)
    assert not _marked(page, "Task_AuthorisePayment")
    # a node's id on hover, and clicking it lists the scenarios through it
    title = page.locator('#bpmn-diagram .djs-element[data-element-id="Gateway_InStock"] > title')
    expect(title).to_have_text("Items in stock? (Gateway_InStock)")
    page.locator('#bpmn-diagram .djs-element[data-element-id="EndEvent_Rejected"]').click()
    expect(page.locator("#focus-card")).to_contain_text("S002")
    # zoom by the keyboard-reachable buttons
    before = page.locator("#bpmn-diagram .viewport").get_attribute("transform")
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#bpmn-diagram .viewport")).not_to_have_attribute("transform", before or "")
    _no_horizontal_scroll(page)
    page.screenshot(path=str(SHOTS / "process-version-bpmn.png"), full_page=True)


def test_model_without_layout_says_so_and_is_laid_out(app_url: str, small: Page) -> None:
    plain = _import(app_url, NO_LAYOUT_BPMN, "u1-no-layout")
    small.goto(f"{app_url}/processes/versions/{plain['version_id']}")
    expect(small.locator("#no-layout-note")).to_contain_text("no diagram layout", timeout=60_000)
    diagram = small.locator("#bpmn-diagram .orchestra-bpmn")
    expect(diagram).to_have_attribute("data-rendered", "true", timeout=60_000)
    assert int(diagram.get_attribute("data-shapes") or 0) == 7  # every node of the file
    assert int(diagram.get_attribute("data-connections") or 0) == 6  # and every flow
    expect(small.locator('#bpmn-diagram .djs-element.o-path[data-element-id="f_yes"]')).to_have_count(1)
    small.screenshot(path=str(SHOTS / "process-version-no-layout.png"), full_page=True)


def test_sequence_diagrams_with_highlighted_messages(app_url: str, small: Page) -> None:
    stored = _import(app_url, MERMAID, "u1-checkout-mmd")
    small.goto(f"{app_url}/processes/versions/{stored['version_id']}")
    drawing = small.locator("#sequence-diagram")
    # The tab's state may still hold the previous page's diagram until on_load has run: wait for this one.
    expect(drawing).to_have_attribute("data-source", "stored", timeout=60_000)  # the user's mermaid text
    expect(drawing).to_have_attribute("data-messages", "5", timeout=60_000)
    expect(drawing).to_have_attribute("data-rendered", "true", timeout=60_000)
    small.wait_for_function("document.querySelectorAll('#sequence-diagram text.o-path').length > 0")
    marked = small.locator("#sequence-diagram text.o-path").evaluate_all(
        "els => els.map(e => e.getAttribute('data-node-id'))"
    )
    dimmed = small.locator("#sequence-diagram text.o-msg-dim").evaluate_all(
        "els => els.map(e => e.getAttribute('data-node-id'))"
    )
    assert marked and dimmed and not set(marked) & set(dimmed)
    assert "msg_1" in marked
    small.screenshot(path=str(SHOTS / "sequence-mermaid.png"), full_page=True)

    generated = _import(app_url, SEQUENCE_JSON, "u1-order-json")
    small.goto(f"{app_url}/processes/versions/{generated['version_id']}")
    drawing = small.locator("#sequence-diagram")
    # JSON source: mermaid text made from it (waited for: the previous version's drawing may show first)
    expect(drawing).to_have_attribute("data-source", "generated", timeout=60_000)
    expect(drawing).to_have_attribute("data-rendered", "true", timeout=60_000)
    small.locator("#show-S002").click()  # out of stock, no backorder: the 409 reply
    small.wait_for_function(
        "Array.from(document.querySelectorAll('#sequence-diagram text.o-path'))"
        ".some(e => e.textContent.includes('409'))"
    )
    _no_horizontal_scroll(small)
    small.screenshot(path=str(SHOTS / "sequence-generated.png"), full_page=True)


def test_edit_a_scenario_save_reload_clone_and_conflict(app_url: str, browser: Browser, small: Page) -> None:
    shop = _import(app_url, SHOP_BPMN, "u1-shop-edit")
    page = small
    page.goto(f"{app_url}/processes/versions/{shop['version_id']}")
    expect(page.locator("#open-S001")).to_be_visible(timeout=60_000)
    page.locator("#open-S001").click()
    expect(page.locator("#scenario-heading")).to_have_text("S001 version 1", timeout=60_000)
    expect(page.locator("#bpmn-diagram .orchestra-bpmn")).to_have_attribute(
        "data-rendered", "true", timeout=60_000
    )
    assert _marked(page, "Task_CreateOrder")
    expect(page.locator("#scenario-decisions")).to_contain_text("Items in stock? → in stock")

    # a template naming a step that comes later: the error is beside the input template
    page.locator("#step-create_order").click()
    page.locator("#field-input").fill('{"body": {"id": "{{step.get_order.response.body.id}}"}}')
    expect(page.locator("#error-input")).to_contain_text("'get_order' is not an earlier step", timeout=15_000)
    expect(page.locator("#unsaved-badge")).to_be_visible()
    page.locator("#field-expected").fill("2XY")
    expect(page.locator("#error-expected")).to_contain_text("2XY", timeout=15_000)
    page.locator("#save-scenario").click()
    expect(page.locator("#save-error")).to_contain_text("problem(s) to fix first")
    page.screenshot(path=str(SHOTS / "scenario-editor-errors.png"), full_page=True)

    # fixed: an input template, a status set, a DB assertion, a moved step
    page.locator("#field-input").fill('{"body": {"customerId": "{{data.customer.id}}"}}')
    page.locator("#field-expected").fill("[200, 201]")
    expect(page.locator("#error-input")).to_have_count(0, timeout=15_000)
    expect(page.locator("#error-expected")).to_have_count(0)
    page.locator("#step-orders_table_updated_by_create_order").click()
    page.locator("#setting-sql").fill("DELETE FROM orders.orders")
    expect(page.locator("#error-setting-sql")).to_contain_text("SELECT", timeout=15_000)
    page.locator("#setting-sql").fill(
        "SELECT id FROM orders.orders WHERE id = {{step.create_order.response.body.id}}"
    )
    page.locator("#setting-dataSource").fill("shop")
    expect(page.locator("#error-setting-sql")).to_have_count(0, timeout=15_000)
    page.get_by_role("button", name="Move step down").nth(1).click()
    expect(page.locator("#step-list .step-button").nth(2)).to_contain_text(
        "orders_table_updated_by_create_order"
    )

    # leaving with unsaved changes asks first
    messages: list[str] = []

    def dismiss(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.locator("#nav-runs").click()
    expect(page.locator("#scenario-heading")).to_be_visible()
    assert messages and "unsaved changes" in messages[0]

    page.locator("#save-scenario").click()
    expect(page.locator("#scenario-heading")).to_have_text("S001 version 2", timeout=30_000)
    page.reload()
    expect(page.locator("#scenario-heading")).to_have_text("S001 version 2", timeout=60_000)
    page.locator("#step-create_order").click()
    expect(page.locator("#field-input")).to_have_value(re.compile(r"data\.customer\.id"))
    expect(page.locator("#field-expected")).to_have_value("[200, 201]")
    expect(page.locator("#step-list .step-button").nth(2)).to_contain_text(
        "orders_table_updated_by_create_order"
    )
    expect(page.locator("#scenario-versions")).to_contain_text("DEPRECATED")
    _no_horizontal_scroll(page)
    page.screenshot(path=str(SHOTS / "scenario-saved-v2.png"), full_page=True)

    # the old version says it is old
    page.goto(f"{app_url}/scenarios/{shop['scenarios']['S001']}")
    expect(page.locator("#old-version")).to_contain_text("the newest is version 2", timeout=60_000)

    # two editors of version 2: the second save is refused with a clear conflict, nothing lost
    page.locator("#old-version a").click()
    expect(page.locator("#scenario-heading")).to_have_text("S001 version 2", timeout=60_000)
    other_context = browser.new_context(viewport={"width": 1280, "height": 800})
    other = other_context.new_page()
    try:
        other.goto(page.url)
        expect(other.locator("#scenario-heading")).to_have_text("S001 version 2", timeout=60_000)
        other.locator("#scenario-name").fill("Renamed by the other editor")
        other.locator("#save-scenario").click()
        expect(other.locator("#scenario-heading")).to_have_text("S001 version 3", timeout=30_000)
    finally:
        other_context.close()
    page.locator("#scenario-name").fill("Renamed by me")
    page.locator("#save-scenario").click()
    expect(page.locator("#save-conflict")).to_contain_text("was changed while you edited it", timeout=30_000)
    expect(page.locator("#scenario-name")).to_have_value("Renamed by me")
    page.screenshot(path=str(SHOTS / "scenario-conflict.png"), full_page=True)
    page.locator("#reload-after-conflict").click()
    expect(page.locator("#scenario-name")).to_have_value("Renamed by the other editor", timeout=30_000)

    # clone
    page.goto(f"{app_url}/scenarios/{shop['scenarios']['S002']}")
    expect(page.locator("#scenario-heading")).to_have_text("S002 version 1", timeout=60_000)
    page.locator("#clone-scenario").click()
    expect(page.locator("#scenario-heading")).to_have_text("S002-copy version 1", timeout=30_000)
    page.screenshot(path=str(SHOTS / "scenario-cloned.png"), full_page=True)


def _record_run(app_db_url: str, scenario_id: str, statuses: list[str]) -> None:
    """A finished run as the engine records it (run row + one result per step that ran)."""
    import uuid as _uuid

    from sqlmodel import Session, col, select

    from orchestra_app.db.engine import make_engine
    from orchestra_app.db.tables import (
        RunMode,
        RunStatus,
        ScenarioStep,
        TestRun,
        TestScenario,
        TestStepResult,
    )
    from orchestra_app.db.types import utcnow
    from orchestra_app.domain.steps import StepStatus

    engine = make_engine(app_db_url)
    try:
        with Session(engine) as session:
            scenario = session.get(TestScenario, _uuid.UUID(scenario_id))
            assert scenario is not None
            steps = session.exec(
                select(ScenarioStep)
                .where(ScenarioStep.scenario_id == scenario.id)
                .order_by(col(ScenarioStep.order_index))
            ).all()
            run = TestRun(
                tenant_id=scenario.tenant_id,
                scenario_id=scenario.id,
                scenario_version=scenario.version,
                mode=RunMode.RUN_ALL_STEPS,
                status=RunStatus.FAILED if "FAILED" in statuses else RunStatus.PASSED,
                started_at=utcnow(),
                finished_at=utcnow(),
            )
            session.add(run)
            session.flush()
            for step, status in zip(steps, statuses, strict=False):
                session.add(
                    TestStepResult(
                        tenant_id=scenario.tenant_id,
                        run_id=run.id,
                        step_id=step.id,
                        step_alias=step.alias,
                        order_index=step.order_index,
                        status=StepStatus(status),
                    )
                )
            session.commit()
    finally:
        engine.dispose()


def _choose_overlay(page: Page, label: str) -> None:
    page.locator("#overlay-select").click()
    page.get_by_role("option", name=label).click()


def test_run_status_and_coverage_overlays(app_url: str, app_db_url: str, small: Page) -> None:
    shop = _import(app_url, SHOP_BPMN, "u1-shop-runs")
    # S001: the order call passes, its orders-table check fails, the rest is skipped (stop on failure)
    _record_run(app_db_url, shop["scenarios"]["S001"], ["PASSED", "FAILED"] + ["SKIPPED"] * 7)
    _record_run(app_db_url, shop["scenarios"]["S002"], ["PASSED", "PASSED"])
    page = small
    page.goto(f"{app_url}/processes/versions/{shop['version_id']}")
    expect(page.locator("#bpmn-diagram .orchestra-bpmn")).to_have_attribute(
        "data-rendered", "true", timeout=60_000
    )
    _choose_overlay(page, "Run: step status")
    failed = '#bpmn-diagram .djs-shape.o-status-failed[data-element-id="Task_CreateOrder"]'
    expect(page.locator(failed)).to_have_count(1, timeout=30_000)
    skipped = '#bpmn-diagram .djs-shape.o-status-skipped[data-element-id="Task_AuthorisePayment"]'
    expect(page.locator(skipped)).to_have_count(1)
    expect(page.locator("#run-select")).to_contain_text("FAILED")
    page.screenshot(path=str(SHOTS / "process-version-run-status.png"), full_page=True)
    _choose_overlay(page, "Coverage of the last runs")
    expect(page.locator("#coverage-note")).to_contain_text("exercised by the last 2 run(s)", timeout=30_000)
    covered = '#bpmn-diagram .djs-connection.o-covered[data-element-id="Flow_OutOfStock"]'
    expect(page.locator(covered)).to_have_count(1)
    uncovered = '#bpmn-diagram .djs-connection.o-uncovered[data-element-id="Flow_ToAuthorise"]'
    expect(page.locator(uncovered)).to_have_count(1)  # S001 stopped before it
    passed = '#bpmn-diagram .djs-shape.o-status-passed[data-element-id="Task_CreateOrder"]'
    expect(page.locator(passed)).to_have_count(1)  # the newest run (S002) passed it
    page.screenshot(path=str(SHOTS / "process-version-coverage.png"), full_page=True)


@pytest.fixture(scope="module")
def worker(app_db_url: str, redis_url: str) -> Iterator[None]:
    """A real `orchestra worker` on the app's database and Redis (the app itself only enqueues)."""
    import os
    import signal
    import subprocess

    env = {**os.environ, "DB_URL": app_db_url, "REDIS_URL": redis_url}
    with (ARTIFACTS / "e2e-worker-u1.log").open("wb") as log:
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


def test_single_step_run_from_the_editor(app_url: str, app_db_url: str, worker: None, small: Page) -> None:
    from orchestra_app.db.engine import make_engine
    from tests.fixtures.http.server import serve
    from tests.fixtures.runs import get_step, seed_suite

    with serve() as loopback:
        engine = make_engine(app_db_url)
        try:
            seeded = seed_suite(
                engine,
                base_url=loopback.base_url,
                process_key="u1-single-step",
                scenarios={
                    "debug": [get_step("fetch", "o-77"), get_step("broken", "o-78", mode="server_error")]
                },
                environment_name="u1-loopback",
            )
        finally:
            engine.dispose()
        page = small
        page.goto(f"{app_url}/scenarios/{seeded.scenarios['debug']}")
        expect(page.locator("#scenario-heading")).to_have_text("debug version 1", timeout=60_000)
        # no file was stored for this process and its graph is empty: said so, the editor still works
        expect(page.locator("#diagram-problem")).to_contain_text("not stored")
        expect(page.locator("#run-panel")).to_be_visible()
        page.locator("#run-env").select_option(label="u1-loopback")
        page.locator("#run-step").click()
        expect(page.locator("#run-step-status")).to_have_text("PASSED", timeout=120_000)
        expect(page.locator("#run-step-observed")).to_contain_text("o-77")
        expect(page.locator("#warning-endpoint")).to_have_count(0)  # a hand-written request needs no binding
        page.screenshot(path=str(SHOTS / "scenario-single-step-passed.png"), full_page=True)
        page.locator("#step-broken").click()
        page.locator("#run-step").click()
        expect(page.locator("#run-step-status")).to_have_text("FAILED", timeout=120_000)
        expect(page.locator("#run-step-violations")).to_contain_text("HTTP_ERROR")
        # an edited scenario runs only once saved
        page.locator("#scenario-name").fill("debug (edited)")
        expect(page.locator("#run-step")).to_be_disabled()
        page.screenshot(path=str(SHOTS / "scenario-single-step-failed.png"), full_page=True)
