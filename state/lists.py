"""State behind the shared list component (components/lists.py): server-side search, filter,
pagination and delete-with-confirmation for one list of rows.

A page's list is a small subclass (see components/lists.py for the whole recipe)::

    class ProcessList(ListState, rx.State):  # a mixin: rx.State makes it a real state
        _section: ClassVar[str] = "processes"        # a key of services.session.SECTION_QUERIES
        _delete_kind: ClassVar[str | None] = "process"  # a services.deletion kind, or None: no delete

and its page loads it with ``ON_LOAD = [..., ProcessList.load]``. Lists that are not a catalog section
override the blocking hooks ``_fetch`` / ``_options`` / ``_impact`` / ``_delete`` instead (they run in
a worker thread, never on the event loop).

Only one page of rows is ever in state (``page_size``, default 25), so a list of 100,000 rows costs
what a list of 25 does; the search text is debounced by the input and sent to the database.
"""

from __future__ import annotations

from typing import Any, ClassVar

import reflex as rx

from orchestra_app.domain.params import parse_uuid
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services import catalog, deletion
from orchestra_app.services import session as svc
from state.base import blocking, error_text

ALL = "all"  # the filter value meaning "no filter" (a Radix select item cannot have an empty value)
PAGE_SIZES = (10, 25, 50, 100)


class ListState(rx.State, mixin=True):
    """One list: the current page of rows plus search, filter, paging and the delete dialog."""

    rows: list[dict[str, str]] = []
    total: int = 0
    offset: int = 0
    page_size: int = 25
    search: str = ""
    filter_value: str = ALL
    filter_options: list[list[str]] = []  # [label, value] pairs
    loading: bool = True  # True until the first page arrives: the list shows a loading state
    loaded: bool = False
    error: str = ""
    notice: str = ""  # "Deleted process order (3 versions ...)" after a delete
    # the delete dialog
    confirm_open: bool = False
    confirm_id: str = ""
    confirm_text: str = ""
    confirm_blocked: bool = False  # a dependent run is active: the dialog explains, no delete button
    confirm_cascade: bool = False  # the delete takes dependents with it (the text names them)
    delete_error: str = ""
    deleting: bool = False

    _section: ClassVar[str] = ""
    _delete_kind: ClassVar[str | None] = None

    # ---- hooks (blocking: they run in a worker thread) ------------------------------------------

    def _fetch(
        self, principal: Principal, *, search: str, filter: str | None, limit: int, offset: int
    ) -> catalog.Listing:
        return svc.section_rows(
            self._section, principal, limit=limit, offset=offset, search=search, filter=filter
        )

    def _options(self, principal: Principal) -> list[tuple[str, str]]:
        return svc.with_session(
            lambda session: catalog.filter_options(
                session=session, principal=principal, section=self._section
            )
        )

    def _impact(self, principal: Principal, row_id: str) -> deletion.Impact:
        assert self._delete_kind is not None
        kind = self._delete_kind
        return svc.run(deletion.impact_of, principal, kind=kind, row_id=parse_uuid(row_id, name="id"))

    def _delete(self, principal: Principal, row_id: str, cascade: bool) -> deletion.Impact:
        assert self._delete_kind is not None
        kind = self._delete_kind
        return svc.write(
            deletion.delete, principal, kind=kind, row_id=parse_uuid(row_id, name="id"), cascade=cascade
        )

    # ---- derived ------------------------------------------------------------------------------------

    @rx.var
    def range_text(self) -> str:
        if self.total == 0:
            return "no rows"
        last = min(self.offset + len(self.rows), self.total)
        return f"{self.offset + 1:,}-{last:,} of {self.total:,}"

    @rx.var
    def has_prev(self) -> bool:
        return self.offset > 0

    @rx.var
    def has_next(self) -> bool:
        return self.offset + len(self.rows) < self.total

    @rx.var
    def narrowed(self) -> bool:
        """A search or filter is active (an empty result then means "no match", not "no rows yet")."""
        return bool(self.search.strip()) or self.filter_value != ALL

    # ---- events --------------------------------------------------------------------------------------

    async def _reload(self) -> None:
        try:
            principal = await blocking(svc.current_principal)
            listing = await blocking(
                self._fetch,
                principal,
                search=self.search.strip(),
                filter=None if self.filter_value == ALL else self.filter_value,
                limit=self.page_size,
                offset=self.offset,
            )
            if not listing.items and listing.total and self.offset:
                # the page emptied under us (rows deleted elsewhere): show the last page instead
                self.offset = max(0, (listing.total - 1) // self.page_size * self.page_size)
                listing = await blocking(
                    self._fetch,
                    principal,
                    search=self.search.strip(),
                    filter=None if self.filter_value == ALL else self.filter_value,
                    limit=self.page_size,
                    offset=self.offset,
                )
        except Exception as exc:
            self.error = error_text(exc, where=f"list {self._section or type(self).__name__}")
            self.loading = False
            return
        self.rows = listing.items
        self.total = listing.total
        self.error = ""
        self.loading = False
        self.loaded = True

    @rx.event
    async def load(self) -> Any:
        """The page's on_load: filter choices and the first page (keeps search and paging across visits)."""
        self.loading = True
        self.notice = ""
        yield
        try:
            principal = await blocking(svc.current_principal)
            options = await blocking(self._options, principal)
            self.filter_options = [[label, value] for label, value in options]
        except Exception as exc:
            self.error = error_text(exc, where=f"list options {self._section or type(self).__name__}")
        if self.filter_value != ALL and self.filter_value not in {v for _, v in self.filter_options}:
            self.filter_value = ALL
        await self._reload()

    @rx.event
    async def refresh(self) -> None:
        self.loading = True
        await self._reload()

    @rx.event
    async def set_search(self, value: str) -> None:
        self.search = str(value)[:200]
        self.offset = 0
        self.notice = ""
        await self._reload()

    @rx.event
    async def set_filter(self, value: str) -> None:
        self.filter_value = str(value) or ALL
        self.offset = 0
        self.notice = ""
        await self._reload()

    @rx.event
    async def set_page_size(self, value: str) -> None:
        size = int(value) if str(value).isdigit() and int(value) in PAGE_SIZES else 25
        self.page_size = size
        self.offset = 0
        await self._reload()

    @rx.event
    async def next_page(self) -> None:
        if self.offset + len(self.rows) < self.total:
            self.offset += self.page_size
            await self._reload()

    @rx.event
    async def prev_page(self) -> None:
        if self.offset > 0:
            self.offset = max(0, self.offset - self.page_size)
            await self._reload()

    @rx.event
    async def ask_delete(self, row_id: str) -> None:
        """Opens the confirmation dialog with what the delete would take with it."""
        self.delete_error, self.notice = "", ""
        self.confirm_id = row_id
        self.confirm_blocked, self.confirm_cascade = False, False
        try:
            principal = await blocking(svc.current_principal)
            impact = await blocking(self._impact, principal, row_id)
        except Exception as exc:
            self.confirm_text = ""
            self.delete_error = error_text(exc, where="delete impact")
            self.confirm_open = True
            return
        self.confirm_text = impact.confirmation()
        self.confirm_blocked = impact.active_runs > 0
        self.confirm_cascade = impact.needs_cascade
        self.confirm_open = True

    @rx.event
    async def confirm_delete(self) -> Any:
        if not self.confirm_id or self.confirm_blocked:
            return
        self.deleting = True
        yield
        try:
            principal = await blocking(svc.current_principal)
            impact = await blocking(self._delete, principal, self.confirm_id, self.confirm_cascade)
        except Exception as exc:
            self.delete_error = error_text(exc, where="delete")
            self.deleting = False
            return
        self.deleting = False
        self.confirm_open = False
        self.confirm_id = ""
        dependents = impact.dependents_text()
        self.notice = f"Deleted {impact.kind} {impact.name}" + (
            f" with its {dependents}." if dependents else "."
        )
        await self._reload()

    @rx.event
    def set_confirm_open(self, value: bool) -> None:
        """The dialog's own open/close (Escape, the Cancel button); closing forgets the pending delete."""
        self.confirm_open = bool(value)
        if not value:
            self.confirm_id = ""
            self.delete_error = ""
            self.deleting = False
