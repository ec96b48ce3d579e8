"""Quality across pages (issue 12 item 6) in a real browser: the shared list (search, filter, pages,
delete with a confirmation naming what goes with it), a 404 page inside the layout, /favicon.ico,
no horizontal scrolling at 1280x800, keyboard skip link, the audit log by names."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from orchestra_app.db.engine import make_engine
from orchestra_app.db.tables import Process, ProcessVersion, ScenarioSuite
from orchestra_app.domain.graph import SourceType
from orchestra_app.services.tenancy import ensure_dev_principal
from tests.e2e.conftest import ARTIFACTS, ROOT

pytestmark = pytest.mark.e2e

SHOTS = ARTIFACTS / "screenshots"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PAGES = ["/", "/processes", "/specs", "/suites", "/data-sets", "/environments", "/runs", "/reports", "/admin"]


@pytest.fixture(scope="module")
def bulk(app_db_url: str, app_url: str) -> list[str]:
    """30 processes (two versions each) in the database, plus real imports over the API so the
    tables carry long names, a spec and a suite."""
    engine = make_engine(app_db_url)
    keys = [f"bulk-{i:02d}" for i in range(30)]
    with Session(engine) as session:
        principal = ensure_dev_principal(session=session)
        for key in keys:
            proc = Process(tenant_id=principal.tenant_id, key=key, name=f"Bulk process {key}")
            session.add(proc)
            session.flush()
            for version in (1, 2):
                session.add(
                    ProcessVersion(
                        tenant_id=principal.tenant_id,
                        process_id=proc.id,
                        version=version,
                        source_type=SourceType.BPMN,
                        control_flow_graph={},
                    )
                )
            session.add(
                ScenarioSuite(
                    tenant_id=principal.tenant_id, process_id=proc.id, process_version=2, name=f"{key} v2"
                )
            )
        session.commit()
    engine.dispose()
    with httpx.Client(base_url=app_url, timeout=120) as client:
        bpmn = (ROOT / "examples/shop/order-process.bpmn").read_bytes()
        r = client.post("/api/v1/processes?filename=order-process.bpmn", content=bpmn)
        assert r.status_code in (200, 201), r.text
        for spec in ("orders.yaml", "payments.yaml", "inventory.yaml"):
            r = client.post(
                f"/api/v1/specs?filename={spec}", content=(ROOT / "examples/shop/specs" / spec).read_bytes()
            )
            assert r.status_code in (200, 201), r.text
    return keys


def _fits(page: Page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")


def test_pages_fit_1280_without_horizontal_scroll(app_url: str, bulk: list[str], browser) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    failures: list[str] = []
    try:
        for route in [*PAGES, "/no/such/page"]:
            page.goto(app_url + route)
            expect(page.locator("#page-title")).to_be_visible(timeout=60_000)
            page.wait_for_load_state("networkidle")
            scroll, client = _fits(page)
            if scroll > client:
                failures.append(f"{route}: {scroll} px wide at {client}")
            page.screenshot(path=str(SHOTS / f"1280-{route.strip('/').replace('/', '-') or 'home'}.png"))
        # a process version page with its diagram, and the specs page with the operations open
        page.goto(app_url + "/specs")
        page.locator(".spec-operations").first.click()
        page.wait_for_load_state("networkidle")
        scroll, client = _fits(page)
        if scroll > client:
            failures.append(f"/specs (operations open): {scroll} px wide at {client}")
    finally:
        context.close()
    assert not failures, failures


def test_not_found_page_inside_the_layout_and_favicon(app_url: str, page: Page) -> None:
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(app_url + "/no/such/page")
    expect(page.locator("#not-found")).to_be_visible(timeout=60_000)
    expect(page.locator("#page-title")).to_have_text("Page not found")
    expect(page.locator("#nav-processes")).to_be_visible()  # the navigation stays
    page.locator("#not-found-home").click()
    expect(page.locator("#page-title")).to_have_text("Orchestra", timeout=30_000)
    favicon = httpx.get(app_url + "/favicon.ico", timeout=30)
    assert favicon.status_code == 200 and favicon.content == (ROOT / "assets/favicon.ico").read_bytes()
    assert favicon.headers["content-type"].startswith(("image/", "application/octet-stream"))
    page.goto(app_url + "/processes")
    expect(page.locator("#page-title")).to_have_text("Processes", timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert not [f for f in failed if "favicon" in f], failed


def test_skip_link_and_keyboard(app_url: str, bulk: list[str], page: Page) -> None:
    page.goto(app_url + "/processes")
    expect(page.locator("#page-title")).to_have_text("Processes", timeout=60_000)
    page.keyboard.press("Tab")
    expect(page.locator("#skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement && document.activeElement.id") == "content"
    search = page.locator("#processes-table-search")
    search.focus()
    page.keyboard.type("bulk-2")
    expect(page.locator("#processes-table-range")).to_have_text("1-10 of 10", timeout=30_000)


def test_list_search_filter_pages_and_delete(app_url: str, bulk: list[str], page: Page) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(app_url + "/processes")
    expect(page.locator("#page-title")).to_have_text("Processes", timeout=60_000)
    rng = page.locator("#processes-table-range")
    # 30 bulk processes plus whatever other browser tests imported into the shared database
    expect(rng).to_have_text(re.compile(r"^1-25 of \d+$"), timeout=30_000)
    total = int(rng.inner_text().rsplit(" ", 1)[-1])
    assert total >= 31
    page.locator("#processes-table-next").click()
    expect(rng).to_have_text(f"26-{min(total, 50)} of {total}")
    page.locator("#processes-table-prev").click()
    expect(rng).to_have_text(f"1-25 of {total}")

    page.locator("#processes-table-search").fill("bulk-1")
    expect(rng).to_have_text("1-10 of 10", timeout=30_000)
    page.locator("#processes-table-search").fill("100%")
    expect(page.locator("#processes-table-nomatch")).to_be_visible(timeout=30_000)
    page.locator("#processes-table-search").fill("")
    expect(rng).to_have_text(f"1-25 of {total}", timeout=30_000)
    # the filter, within the bulk processes (all BPMN): other browser tests may have imported
    # sequence diagrams into the shared database
    page.locator("#processes-table-search").fill("bulk-")
    expect(rng).to_have_text("1-25 of 30", timeout=30_000)
    page.locator("#processes-table-filter").click()
    page.get_by_role("option", name="Sequence diagram").click()
    expect(page.locator("#processes-table-nomatch")).to_be_visible(timeout=30_000)
    page.locator("#processes-table-filter").click()
    page.get_by_role("option", name="All").click()
    expect(rng).to_have_text("1-25 of 30", timeout=30_000)

    # delete: the dialog names what goes with it; Escape keeps everything
    page.locator("#processes-table-search").fill("bulk-05")
    expect(rng).to_have_text("1-1 of 1", timeout=30_000)
    page.get_by_role("button", name="Delete bulk-05").click()
    text = page.locator("#processes-table-confirm-text")
    expect(text).to_contain_text("Delete process bulk-05", timeout=30_000)
    expect(text).to_contain_text("2 versions")
    expect(text).to_contain_text("1 suite")
    page.screenshot(path=str(SHOTS / "delete-confirmation.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#processes-table-confirm")).to_have_count(0)
    expect(rng).to_have_text("1-1 of 1")
    page.get_by_role("button", name="Delete bulk-05").click()
    page.locator("#processes-table-confirm-button").click()
    expect(page.locator("#processes-table-notice")).to_contain_text("Deleted process bulk-05", timeout=30_000)
    expect(page.locator("#processes-table-nomatch")).to_be_visible()

    # the audit log names it (no bare ids)
    page.goto(app_url + "/admin")
    audit = page.locator("#audit-table")
    expect(audit).to_contain_text("process bulk-05", timeout=60_000)
    expect(audit).to_contain_text("process.delete")
    assert not UUID_RE.search(audit.inner_text()), audit.inner_text()[:2000]
    page.screenshot(path=str(SHOTS / "admin-audit.png"), full_page=True)


def test_unknown_run_report_shows_an_error_in_the_layout(app_url: str, page: Page) -> None:
    page.goto(app_url + f"/reports/{uuid.uuid4()}")
    expect(page.locator("#report-error")).to_contain_text("not found", timeout=60_000)
    expect(page.locator("#nav-reports")).to_be_visible()
    page.goto(app_url + "/reports/not-an-id")
    expect(page.locator("#report-error")).to_contain_text("run id", timeout=60_000)
