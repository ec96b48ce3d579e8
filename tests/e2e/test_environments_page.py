"""The Environments page in a real browser: a connection profile and an environment created through the
form (a literal secret refused beside its field, the reference accepted), then deleted after confirming."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


def test_create_and_delete_with_errors_beside_fields(app_url: str, page: Page) -> None:
    page.goto(app_url + "/environments")
    expect(page.locator("#page-title")).to_have_text("Environments", timeout=60_000)
    # other tests share the app's database: look at this test's rows only
    expect(page.locator("#env-new")).to_be_visible(timeout=30_000)
    expect(page.locator("#profiles-table tr", has_text="e2e-pg")).to_have_count(0)

    page.locator("#profile-new").click()
    page.locator("#profile-name").fill("e2e-pg")
    page.locator("#profile-settings").fill("url: postgresql://db:5432/shop\npassword: plain-e2e-pw")
    page.locator("#profile-save").click()
    error = page.locator("#profile-settings-error")
    expect(error).to_contain_text("password", timeout=30_000)
    expect(error).not_to_contain_text("plain-e2e-pw")
    page.locator("#profile-settings").fill("url: postgresql://db:5432/shop\npassword: {secret: DB_PASSWORD}")
    page.locator("#profile-save").click()
    row = page.locator("#profiles-table tr", has_text="e2e-pg")
    expect(row).to_contain_text("DB_PASSWORD", timeout=30_000)

    page.locator("#env-new").click()
    page.locator("#env-name").fill("e2e-staging")
    page.locator("#env-services").fill(
        "shop: {baseUrl: 'http://h', auth: {type: bearer, token: e2e-literal}}"
    )
    page.locator("#env-save").click()
    expect(page.locator("#env-services-error")).to_contain_text("services.shop.auth.token", timeout=30_000)
    page.locator("#env-services").fill(
        "shop: {baseUrl: 'http://h', auth: {type: bearer, token: {secret: T}}}"
    )
    page.locator("#env-secrets").fill("T: {env: E2E_TOKEN}")
    page.locator("#env-profiles").fill("db: {main: e2e-pg}")
    page.locator("#env-save").click()
    env_row = page.locator("#environments-table tr", has_text="e2e-staging")
    expect(env_row).to_contain_text("main", timeout=30_000)
    expect(page.locator("#profiles-table tr", has_text="e2e-pg")).to_contain_text("e2e-staging")
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "environments-filled.png"), full_page=True)

    # a mapped profile cannot go: the dialog says who uses it
    page.locator("#profiles-table tr", has_text="e2e-pg").get_by_role("button", name="Delete").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#delete-error")).to_contain_text("e2e-staging", timeout=30_000)
    page.get_by_role("button", name="Cancel").click()
    env_row.get_by_role("button", name="Delete").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#environments-table tr", has_text="e2e-staging")).to_have_count(0, timeout=30_000)
    page.locator("#profiles-table tr", has_text="e2e-pg").get_by_role("button", name="Delete").click()
    page.locator("#delete-confirm").click()
    # other tests share the app's database: look at this test's rows only
    expect(page.locator("#env-new")).to_be_visible(timeout=30_000)
    expect(page.locator("#profiles-table tr", has_text="e2e-pg")).to_have_count(0)
