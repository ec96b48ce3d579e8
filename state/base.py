"""App-wide state: who is signed in (the development identity until OIDC) and section rows.

Handlers never block the event loop: database and import calls go through ``blocking`` (a worker
thread), so one slow call delays only the page that made it, not every user's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.tenancy import Principal
from orchestra_app.observability.logging import report_unexpected, unexpected_text
from orchestra_app.services import session as svc

T = TypeVar("T")

SECTION_LIMIT = 200  # rows a list page shows; the page says when there are more


async def blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (database, import) in a worker thread, keeping the event loop free."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def error_text(exc: Exception, *, where: str) -> str:
    """What a user sees for a failure: the error itself, or an id to quote for an unexpected one
    (logged with its traceback)."""
    if isinstance(exc, OrchestraError):
        return str(exc)
    return unexpected_text(report_unexpected(exc, where=where))


def route_tail(state: rx.State) -> str:
    """The last segment of the page's path: the id of a detail route (``/scenarios/<id>``)."""
    return str(state.router.url.path).rstrip("/").rsplit("/", 1)[-1]


class AppState(rx.State):
    """Identity shown in the header; every handler resolves the principal through services."""

    user_name: str = ""
    tenant_label: str = ""
    is_development: bool = False
    load_error: str = ""

    def principal(self) -> Principal:
        """Blocking (database): call it from a worker thread; handlers use ``await self.caller()``."""
        return svc.current_principal()

    async def caller(self) -> Principal:
        return await blocking(svc.current_principal)

    @rx.event
    async def load_identity(self) -> None:
        try:
            principal = await self.caller()
        except Exception as exc:
            self.load_error = error_text(exc, where="load_identity")
            return
        self.user_name = principal.display_name
        self.tenant_label = "Development tenant" if principal.is_development else str(principal.tenant_id)
        self.is_development = principal.is_development


class SectionState(AppState):
    """Rows of the list pages; one handler per section keeps each page's load cheap."""

    rows: dict[str, list[dict[str, str]]] = {}
    # "showing 200 of 1,234 (newest first)" when a section has more rows than a page shows
    more: dict[str, str] = {}

    async def _load(self, section: str) -> None:
        try:
            principal = await self.caller()
            listing = await blocking(svc.section_rows, section, principal, limit=SECTION_LIMIT)
        except Exception as exc:
            self.load_error = error_text(exc, where=f"load {section}")
            return
        self.rows[section] = listing.items
        self.more[section] = (
            f"showing the newest {len(listing.items)} of {listing.total:,}" if listing.truncated else ""
        )
        self.load_error = ""

    @rx.event
    async def load_processes(self) -> None:
        await self._load("processes")

    @rx.event
    async def load_specs(self) -> None:
        await self._load("specs")

    @rx.event
    async def load_suites(self) -> None:
        await self._load("suites")

    @rx.event
    async def load_data_sets(self) -> None:
        await self._load("data_sets")

    @rx.event
    async def load_environments(self) -> None:
        await self._load("environments")

    @rx.event
    async def load_runs(self) -> None:
        await self._load("runs")

    @rx.event
    async def load_reports(self) -> None:
        await self._load("reports")

    @rx.event
    async def load_admin(self) -> None:
        await self._load("members")
        await self._load("audit")
