"""Main journeys in a real browser: import a process (and see its suite), import a spec, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e
APP = Path(__file__).resolve().parents[1] / "fixtures" / "app"


def test_import_bpmn_shows_summary_and_suite(app_url: str, page: Page) -> None:
    page.goto(app_url + "/processes")
    expect(page.locator("#page-title")).to_have_text("Processes", timeout=60_000)
    page.locator("#process-upload input[type=file]").set_input_files(str(APP / "order.bpmn"))
    expect(page.locator("#selected-file")).to_contain_text("order.bpmn")
    page.locator("#process-import-button").click()
    expect(page.locator("#import-result")).to_contain_text("imported as order v", timeout=30_000)
    expect(page.locator("#processes-table")).to_contain_text("order")
    expect(page.locator("#graph-summary")).to_contain_text("Nodes")
    expect(page.locator("#scenarios-table")).to_contain_text("S001", timeout=30_000)
    expect(page.locator("#suite-summary")).to_contain_text("9/9")
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "process-imported.png"), full_page=True)


def test_bad_file_shows_error_next_to_upload(app_url: str, page: Page) -> None:
    page.goto(app_url + "/processes")
    expect(page.locator("#page-title")).to_have_text("Processes", timeout=60_000)
    page.locator("#process-upload input[type=file]").set_input_files(str(APP / "garbage.txt"))
    page.locator("#process-import-button").click()
    expect(page.locator("#import-error")).to_contain_text("garbage.txt", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "process-error.png"), full_page=True)


def test_import_spec_lists_operations(app_url: str, page: Page) -> None:
    page.goto(app_url + "/specs")
    expect(page.locator("#page-title")).to_have_text("Specs", timeout=60_000)
    page.locator("#spec-upload input[type=file]").set_input_files(str(APP / "orders-api.yaml"))
    page.locator("#spec-import-button").click()
    expect(page.locator("#spec-import-result")).to_contain_text("2 operations", timeout=30_000)
    expect(page.locator("#specs-table")).to_contain_text("orders-api")
    page.locator("#specs-table button").first.click()
    expect(page.locator("#operations-table")).to_contain_text("createOrder", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "spec-imported.png"), full_page=True)


def test_bind_suite_to_spec_with_override(app_url: str, page: Page) -> None:
    # runs after the BPMN and spec imports above: the order suite and the orders-api spec exist
    page.goto(app_url + "/suites")
    expect(page.locator("#page-title")).to_have_text("Suites", timeout=60_000)
    expect(page.locator("#suites-table")).to_contain_text("Order fulfilment", timeout=30_000)
    page.locator("#suites-table button").first.click()
    # binding is scoped: with no spec chosen it is refused, naming what to do
    page.locator("#bind-button").click()
    expect(page.locator("#bind-error")).to_contain_text("has no specs chosen", timeout=30_000)
    page.locator("#spec-picker").get_by_text("orders-api").first.click()
    page.locator("#save-specs-button").click()
    expect(page.locator("#specs-result")).to_contain_text("orders-api", timeout=30_000)
    page.locator("#bind-button").click()
    expect(page.locator("#bindings-table")).to_contain_text("EXPLICIT", timeout=30_000)
    expect(page.locator("#bindings-table")).to_contain_text("orders-api:createOrder")
    ship = page.locator("#bindings-table tr", has_text="Ship order")
    expect(ship).to_contain_text("AMBIGUOUS")
    ship.locator("input").fill("orders-api:getOrder")
    ship.locator("input").blur()
    page.locator("#bind-button").click()
    expect(ship).to_contain_text("orders-api:getOrder", timeout=30_000)
    expect(page.locator("#bind-result")).to_contain_text("task nodes bound")
    # the order id of "Ship order" comes from the order "Create order" created; override it back to data
    chained = page.locator("#chaining-table tr", has_text="ship_order").first
    expect(chained).to_contain_text("{{step.create_order.response.body.id}}", timeout=30_000)
    chained.locator("input").fill("data")
    chained.locator("input").blur()
    page.locator("#apply-chaining-button").click()
    expect(page.locator("#chaining-result")).to_contain_text("override(s) applied", timeout=30_000)
    expect(page.locator("#chaining-table tr", has_text="ship_order").first).to_contain_text("override")
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "suite-bound.png"), full_page=True)
