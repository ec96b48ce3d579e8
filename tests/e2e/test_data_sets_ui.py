"""Data sets page in a real browser: create (a JSON error shown beside the field first), switch the
editor to YAML, a duplicate name refused beside the name, clone, search, delete with confirmation,
scaffold from a suite."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from orchestra_app.db.engine import make_engine
from tests.e2e.conftest import ARTIFACTS
from tests.fixtures.runs import get_step, seed_suite

pytestmark = pytest.mark.e2e


def _row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("#data-sets-table tbody tr").filter(has=page.get_by_text(name, exact=True))


def test_create_edit_clone_search_delete_and_scaffold(app_url: str, app_db_url: str, page: Page) -> None:
    engine = make_engine(app_db_url)
    try:
        seeded = seed_suite(
            engine, base_url="http://127.0.0.1:9", process_key="dsui", scenarios={"a": [get_step("one")]}
        )
        # this test needs no environment; a second one would make other tests' "Run" ask which to use
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM environment WHERE id = :id"), {"id": seeded.environment_id})
    finally:
        engine.dispose()
    page.goto(app_url + "/data-sets")
    expect(page.locator("#page-title")).to_have_text("Data sets", timeout=60_000)
    # the page is live (socket connected, on_load ran) before anything is clicked
    expect(page.locator("#dev-identity-badge")).to_be_visible(timeout=60_000)
    page.locator("#ds-new").click()
    page.locator("#ds-name").fill("e2e orders")
    page.locator("#ds-tags").fill("smoke, e2e")
    page.locator("#ds-data").fill('{"sku": "a-1",\n "qty": }')
    page.locator("#ds-save").click()
    expect(page.locator("#ds-error-data")).to_contain_text("line 2", timeout=30_000)
    expect(page.locator("#data-sets-table")).to_have_count(0)  # nothing stored on a refusal
    page.locator("#ds-data").fill('{"sku": "a-1", "qty": 2}')
    page.locator("#ds-save").click()
    expect(page.locator("#ds-notice")).to_have_text("Created e2e orders.", timeout=30_000)
    expect(_row(page, "e2e orders")).to_contain_text("2")  # two variables
    page.locator("#ds-syntax").get_by_role("radio", name="YAML").click()
    expect(page.locator("#ds-data")).to_have_value("sku: a-1\nqty: 2\n", timeout=30_000)

    page.locator("#ds-new").click()
    page.locator("#ds-name").fill("E2E Orders")
    page.locator("#ds-save").click()
    expect(page.locator("#ds-error-name")).to_contain_text("already exists", timeout=30_000)

    _row(page, "e2e orders").locator(".ds-clone").click()
    expect(_row(page, "e2e orders (copy)")).to_be_visible(timeout=30_000)
    page.locator("#ds-search").fill("copy")
    expect(page.locator("#data-sets-table tbody tr")).to_have_count(1, timeout=30_000)
    _row(page, "e2e orders (copy)").locator(".ds-delete").click()
    page.locator("#ds-confirm-delete").click()
    expect(page.locator("#data-sets-table-empty")).to_contain_text("No data set matches", timeout=30_000)
    page.locator("#ds-search").fill("")
    expect(_row(page, "e2e orders")).to_be_visible(timeout=30_000)

    page.locator("#ds-scaffold-suite").click()
    page.get_by_role("option", name="dsui v1 [dsui]").click()
    page.locator("#ds-scaffold-name").fill("dsui data")
    page.locator("#ds-scaffold").click()
    expect(page.locator("#ds-notice")).to_contain_text("Created dsui data", timeout=30_000)
    expect(_row(page, "dsui data")).to_contain_text("SUITE")
    expect(page.locator("#ds-editor")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "data-sets.png"), full_page=True)
