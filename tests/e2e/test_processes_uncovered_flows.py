"""The suite panel lists the flows no scenario takes, each with its reason code (issue 8).

Named to run after test_import_journeys (whose suite binding picks the first suite) and before
test_run_command (its scripts/run rebuilds this checkout's frontend for another port).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e
MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "generation" / "dangling_gateway.bpmn"


def test_suite_panel_explains_uncovered_flows(app_url: str, page: Page) -> None:
    page.goto(app_url + "/processes")
    expect(page.locator("#page-title")).to_have_text("Processes", timeout=60_000)
    page.locator("#process-upload input[type=file]").set_input_files(str(MODEL))
    expect(page.locator("#selected-file")).to_contain_text("dangling_gateway.bpmn")
    page.locator("#process-import-button").click()
    expect(page.locator("#import-result")).to_contain_text("imported as dangling-gateway v", timeout=30_000)
    expect(page.locator("#scenarios-table")).to_contain_text("Request valid: no", timeout=30_000)
    expect(page.locator("#suite-summary")).to_contain_text("4/6")  # reachable of all flows
    panel = page.locator("#uncovered-flows")
    expect(panel).to_contain_text("f_old")
    expect(panel).to_contain_text("f_audited")
    expect(panel).to_contain_text("NO_PATH_FROM_START")
    expect(panel).to_contain_text("'Old check?' (leftover)")
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "uncovered-flows.png"), full_page=True)
