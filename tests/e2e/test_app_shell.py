"""Every section of the app renders in a real browser, listing real rows or a proper empty state."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from orchestra_app.db.engine import make_engine
from orchestra_app.db.tables import Process, ProcessVersion
from orchestra_app.domain.graph import SourceType
from orchestra_app.services.tenancy import ensure_dev_principal
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

SECTIONS = [
    ("/processes", "Processes", "processes-table"),
    ("/specs", "Specs", "spec-upload"),
    ("/suites", "Suites", "suites-table-empty"),
    ("/data-sets", "Data sets", "data-sets-table-empty"),
    ("/environments", "Environments", "environments-table-empty"),
    ("/runs", "Runs", "runs-table-empty"),
    ("/reports", "Reports", "reports-table-empty"),
    ("/admin", "Admin", "members-table"),
]


@pytest.fixture(scope="module")
def seeded(app_db_url: str) -> str:
    engine = make_engine(app_db_url)
    with Session(engine) as session:
        principal = ensure_dev_principal(session=session)
        proc = Process(tenant_id=principal.tenant_id, key="order-fulfilment", name="Order fulfilment")
        session.add(proc)
        session.flush()
        session.add(
            ProcessVersion(
                tenant_id=principal.tenant_id,
                process_id=proc.id,
                version=1,
                source_type=SourceType.BPMN,
                control_flow_graph={},
            )
        )
        session.commit()
    engine.dispose()
    return "order-fulfilment"


def test_every_section_renders(app_url: str, seeded: str, page: Page) -> None:
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.goto(app_url + "/")
    expect(page.locator("#page-title")).to_have_text("Orchestra", timeout=60_000)
    expect(page.locator("#dev-identity-badge")).to_be_visible()
    for route, title, marker in SECTIONS:
        page.goto(app_url + route)
        expect(page.locator("#page-title")).to_have_text(title, timeout=30_000)
        expect(page.locator(f"#{marker}")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(shots / f"{route.strip('/')}.png"), full_page=True)
    page.goto(app_url + "/processes")
    expect(page.locator("#processes-table")).to_contain_text(seeded)
    expect(page.locator("#members-table")).to_have_count(0)


def test_navigation_links_reach_each_section(app_url: str, page: Page) -> None:
    page.goto(app_url + "/")
    expect(page.locator("#page-title")).to_have_text("Orchestra", timeout=60_000)
    for route, title, _ in SECTIONS:
        page.locator(f"#nav-{route.strip('/')}").click()
        expect(page.locator("#page-title")).to_have_text(title, timeout=30_000)
        assert page.url.rstrip("/").endswith(route)
