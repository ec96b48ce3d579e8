"""Data sets page: search and filter the tenant's data sets; create, edit (JSON or YAML), clone, delete
(with confirmation) and scaffold one from a suite's steps.

Every call goes through services/data_sets.py in a worker thread; a refusal is shown beside the field
it names (``ValidationFailed.field``), and nothing is stored on a refusal.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx
import yaml

from components.layout import page
from components.tables import page_buttons
from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.params import parse_uuid
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services import catalog
from orchestra_app.services import data_sets as ds
from orchestra_app.services import session as svc
from state.base import AppState, blocking, error_text

ROUTE = "/data-sets"
TITLE = "Data sets"
PAGE_SIZE = 25
SCOPES = ["GLOBAL", "SUITE", "SCENARIO"]
ALL = "all"
EDITOR_FIELDS = ("name", "scope", "suiteId", "scenarioId", "tags", "data")


def _row(view: ds.DataSetView) -> dict[str, str]:
    owner = view.suite_name or ""
    if view.scenario_key:
        owner = f"{view.scenario_name or view.scenario_key} ({view.scenario_key})"
    return {
        "id": str(view.id),
        "name": view.name,
        "scope": view.scope.value,
        "owner": owner,
        "tags": ", ".join(view.tags),
        "origin": view.origin.value,
        "variables": str(view.variables),
        "created_at": view.created_at.strftime("%Y-%m-%d %H:%M"),
    }


def _dump(data: dict[str, Any], syntax: str) -> str:
    if syntax == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True) if data else ""
    return json.dumps(data, indent=2, ensure_ascii=False)


def _suites(principal: Principal) -> list[dict[str, str]]:
    listing = svc.run(catalog.list_suites, principal, limit=500)
    return [{"id": s["id"], "label": s["label"]} for s in listing.items]


def _scenarios(principal: Principal, suite_id: str) -> list[dict[str, str]]:
    detail = svc.run(catalog.suite_detail, principal, suite_id=parse_uuid(suite_id, name="suiteId"))
    return [
        {"id": str(s["id"]), "label": f"{s.get('name') or s['key']} ({s['key']} v{s.get('version', 1)})"}
        for s in detail.get("scenarios", [])
    ]


class DataSetsState(AppState):
    items: list[dict[str, str]] = []
    total: int = 0
    offset: int = 0
    query: str = ""
    scope_filter: str = ALL
    tag_filter: str = ALL
    tags: list[str] = []
    loading: bool = False
    list_error: str = ""
    notice: str = ""

    suites: list[dict[str, str]] = []
    scenarios: list[dict[str, str]] = []

    # the editor (create when editing_id is "")
    editor_open: bool = False
    editing_id: str = ""
    revision: str = ""
    f_name: str = ""
    f_scope: str = "GLOBAL"
    f_suite: str = ""
    f_scenario: str = ""
    f_tags: str = ""
    f_data: str = "{}"
    syntax: str = "json"
    field_errors: dict[str, str] = {}
    form_error: str = ""
    saving: bool = False
    runs_using: int = 0

    # delete confirmation and scaffolding
    confirm_id: str = ""
    confirm_name: str = ""
    scaffold_suite: str = ""
    scaffold_name: str = ds.DEFAULT_NAME
    scaffold_error: str = ""

    @rx.var
    def page_text(self) -> str:
        if not self.total:
            return ""
        last = min(self.offset + PAGE_SIZE, self.total)
        return f"{self.offset + 1}-{last} of {self.total:,}"

    @rx.var
    def has_prev(self) -> bool:
        return self.offset > 0

    @rx.var
    def has_next(self) -> bool:
        return self.offset + PAGE_SIZE < self.total

    # ---- list ------------------------------------------------------------------------------------

    @rx.event
    async def load(self) -> AsyncIterator[None]:
        self.loading = True
        yield
        try:
            principal = await self.caller()
            self.suites = await blocking(_suites, principal)
            self.tags = await blocking(svc.run, ds.data_set_tags, principal)
            await self._reload(principal)
        except Exception as exc:
            self.list_error = error_text(exc, where="load data sets")
        finally:
            self.loading = False

    async def _reload(self, principal: Principal | None = None) -> None:
        principal = principal or await self.caller()
        listing = await blocking(
            svc.run,
            ds.list_data_sets,
            principal,
            query=self.query.strip() or None,
            scope=None if self.scope_filter == ALL else self.scope_filter,
            tag=None if self.tag_filter == ALL else self.tag_filter,
            limit=PAGE_SIZE,
            offset=self.offset,
        )
        if listing.offset and not listing.items and listing.total:
            self.offset = max(0, (listing.total - 1) // PAGE_SIZE * PAGE_SIZE)
            return await self._reload(principal)
        self.items = [_row(v) for v in listing.items]
        self.total = listing.total
        self.list_error = ""

    async def _refresh(self) -> None:
        try:
            await self._reload()
        except Exception as exc:
            self.list_error = error_text(exc, where="list data sets")

    @rx.event
    async def search(self, value: str) -> None:
        self.query = value
        self.offset = 0
        await self._refresh()

    @rx.event
    async def set_scope_filter(self, value: str) -> None:
        self.scope_filter = value
        self.offset = 0
        await self._refresh()

    @rx.event
    async def set_tag_filter(self, value: str) -> None:
        self.tag_filter = value
        self.offset = 0
        await self._refresh()

    @rx.event
    async def next_page(self) -> None:
        self.offset += PAGE_SIZE
        await self._refresh()

    @rx.event
    async def prev_page(self) -> None:
        self.offset = max(0, self.offset - PAGE_SIZE)
        await self._refresh()

    # ---- editor ----------------------------------------------------------------------------------

    def _clear_form(self) -> None:
        self.field_errors = {}
        self.form_error = ""
        self.notice = ""

    @rx.event
    def new(self) -> None:
        self._clear_form()
        self.editor_open = True
        self.editing_id = ""
        self.revision = ""
        self.f_name = ""
        self.f_scope = "GLOBAL"
        self.f_suite = ""
        self.f_scenario = ""
        self.f_tags = ""
        self.f_data = "{}" if self.syntax == "json" else ""
        self.runs_using = 0

    @rx.event
    async def open(self, data_set_id: str) -> None:
        self._clear_form()
        try:
            principal = await self.caller()
            detail = await blocking(
                svc.run, ds.get_data_set, principal, data_set_id=parse_uuid(data_set_id, name="id")
            )
        except Exception as exc:
            self.list_error = error_text(exc, where="open data set")
            return
        self._fill(detail)
        if detail.suite_id:
            await self._load_scenarios(str(detail.suite_id))
        self.editor_open = True

    def _fill(self, detail: ds.DataSetDetail) -> None:
        self.editing_id = str(detail.id)
        self.revision = detail.revision
        self.f_name = detail.name
        self.f_scope = detail.scope.value
        self.f_suite = str(detail.suite_id) if detail.suite_id else ""
        self.f_scenario = str(detail.scenario_id) if detail.scenario_id else ""
        self.f_tags = ", ".join(detail.tags)
        self.f_data = _dump(detail.data, self.syntax)
        self.runs_using = detail.runs

    async def _load_scenarios(self, suite_id: str) -> None:
        try:
            principal = await self.caller()
            self.scenarios = await blocking(_scenarios, principal, suite_id)
        except Exception as exc:
            self.scenarios = []
            self.field_errors = {**self.field_errors, "suiteId": error_text(exc, where="suite scenarios")}

    @rx.event
    def close_editor(self) -> None:
        self.editor_open = False
        self._clear_form()

    @rx.event
    def set_f_name(self, value: str) -> None:
        self.f_name = value

    @rx.event
    def set_f_tags(self, value: str) -> None:
        self.f_tags = value

    @rx.event
    def set_f_data(self, value: str) -> None:
        self.f_data = value

    @rx.event
    def set_f_scope(self, value: str) -> None:
        self.f_scope = value

    @rx.event
    async def set_f_suite(self, value: str) -> None:
        self.f_suite = value
        self.f_scenario = ""
        await self._load_scenarios(value)

    @rx.event
    def set_f_scenario(self, value: str) -> None:
        self.f_scenario = value

    @rx.event
    def set_syntax(self, value: str | list[str]) -> None:
        """Switches the editor between JSON and YAML, converting the text when it parses."""
        value = value if isinstance(value, str) else (value[0] if value else self.syntax)
        if value == self.syntax:
            return
        try:
            data = ds.parse_data_text(self.f_data, syntax=self.syntax)
        except OrchestraError as exc:
            self.field_errors = {**self.field_errors, "data": f"{exc.message} (fix it before switching)"}
            return
        self.syntax = value
        self.f_data = _dump(data, value)
        self.field_errors = {k: v for k, v in self.field_errors.items() if k != "data"}

    def _body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.f_name,
            "scope": self.f_scope,
            "tags": [t.strip() for t in self.f_tags.split(",") if t.strip()],
            "data": ds.parse_data_text(self.f_data, syntax=self.syntax),
        }
        if self.f_scope == "SUITE":
            body["suiteId"] = self.f_suite or None
        if self.f_scope == "SCENARIO":
            body["scenarioId"] = self.f_scenario or None
        return body

    def _refusal(self, exc: Exception, where: str) -> None:
        field = getattr(exc, "field", None) if isinstance(exc, OrchestraError) else None
        key = str(field).split(".", 1)[0] if field else ""
        if isinstance(exc, OrchestraError) and key in EDITOR_FIELDS:
            self.field_errors = {key: exc.message}  # shown beside the field: no "field x:" prefix
            self.form_error = ""
        else:
            self.field_errors = {}
            self.form_error = error_text(exc, where=where)

    @rx.event
    async def save(self) -> AsyncIterator[None]:
        self.field_errors = {}
        self.form_error = ""
        self.saving = True
        yield
        try:
            body = self._body()
            principal = await self.caller()
            if self.editing_id:
                detail = await blocking(
                    svc.write,
                    ds.update_data_set,
                    principal,
                    data_set_id=parse_uuid(self.editing_id, name="id"),
                    body={**body, "revision": self.revision},
                )
                self.notice = f"Saved {detail.name}."
            else:
                detail = await blocking(svc.write, ds.create_data_set, principal, body=body)
                self.notice = f"Created {detail.name}."
            self._fill(detail)
            self.tags = await blocking(svc.run, ds.data_set_tags, principal)
            await self._reload(principal)
        except Exception as exc:
            self._refusal(exc, "save data set")
        finally:
            self.saving = False

    @rx.event
    async def clone(self, data_set_id: str) -> None:
        try:
            principal = await self.caller()
            copy = await blocking(
                svc.write, ds.clone_data_set, principal, data_set_id=parse_uuid(data_set_id, name="id")
            )
            self.notice = f"Cloned as {copy.name}."
            await self._reload(principal)
        except Exception as exc:
            self.list_error = error_text(exc, where="clone data set")

    @rx.event
    def ask_delete(self, data_set_id: str, name: str) -> None:
        self.confirm_id = data_set_id
        self.confirm_name = name

    @rx.event
    def cancel_delete(self) -> None:
        self.confirm_id = ""

    @rx.event
    async def delete(self) -> None:
        data_set_id, self.confirm_id = self.confirm_id, ""
        try:
            principal = await self.caller()
            gone = await blocking(
                svc.write, ds.delete_data_set, principal, data_set_id=parse_uuid(data_set_id, name="id")
            )
            kept = f" ({gone.detached_runs} run(s) keep the data they used)" if gone.detached_runs else ""
            self.notice = f"Deleted {gone.name}{kept}."
            if self.editing_id == data_set_id:
                self.editor_open = False
            self.tags = await blocking(svc.run, ds.data_set_tags, principal)
            await self._reload(principal)
        except Exception as exc:
            self.list_error = error_text(exc, where="delete data set")

    # ---- scaffold --------------------------------------------------------------------------------

    @rx.event
    def set_scaffold_suite(self, value: str) -> None:
        self.scaffold_suite = value
        self.scaffold_error = ""

    @rx.event
    def set_scaffold_name(self, value: str) -> None:
        self.scaffold_name = value

    @rx.event
    async def scaffold(self) -> None:
        self.scaffold_error = ""
        try:
            if not self.scaffold_suite:
                raise ds.ValidationFailed("choose the suite whose steps need the data", field="suite")
            principal = await self.caller()
            result = await blocking(
                svc.write,
                ds.scaffold_suite_data,
                principal,
                suite_id=parse_uuid(self.scaffold_suite, name="suite"),
                store=True,
                name=self.scaffold_name,
            )
            what = "Created" if result.created else "Completed"
            notice = f"{what} {self.scaffold_name}: {len(result.added)} variable(s) added." + (
                f" Notes: {'; '.join(result.notes)}" if result.notes else ""
            )
            await self._reload(principal)
            if result.data_set_id is not None:
                await self.open(str(result.data_set_id))
            self.notice = notice
        except Exception as exc:
            self.scaffold_error = error_text(exc, where="scaffold data set")


ON_LOAD = [AppState.load_identity, DataSetsState.load]


def _field_error(key: str) -> rx.Component:
    return rx.cond(
        DataSetsState.field_errors.contains(key),
        rx.text(
            DataSetsState.field_errors[key],
            color_scheme="red",
            size="2",
            class_name="field-error",
            id=f"ds-error-{key}",
        ),
    )


def _labelled(label: str, control: rx.Component, key: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium"), control, _field_error(key), spacing="1", width="100%"
    )


def _editor() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(
                    rx.cond(DataSetsState.editing_id != "", "Edit data set", "New data set"), size="4"
                ),
                rx.spacer(),
                rx.cond(
                    DataSetsState.runs_using > 0,
                    rx.text(
                        f"used by {DataSetsState.runs_using} run(s); they keep their own copy",
                        size="1",
                        color_scheme="gray",
                    ),
                ),
                rx.button("Close", variant="ghost", on_click=DataSetsState.close_editor, id="ds-close"),
                width="100%",
                align="center",
            ),
            rx.grid(
                _labelled(
                    "Name",
                    rx.input(
                        value=DataSetsState.f_name,
                        on_change=DataSetsState.set_f_name,
                        id="ds-name",
                        width="100%",
                    ),
                    "name",
                ),
                _labelled(
                    "Scope",
                    rx.select(
                        SCOPES,
                        value=DataSetsState.f_scope,
                        on_change=DataSetsState.set_f_scope,
                        id="ds-scope",
                    ),
                    "scope",
                ),
                rx.cond(
                    DataSetsState.f_scope != "GLOBAL",
                    _labelled(
                        "Suite",
                        rx.select.root(
                            rx.select.trigger(placeholder="choose a suite", id="ds-suite", width="100%"),
                            rx.select.content(
                                rx.foreach(
                                    DataSetsState.suites, lambda s: rx.select.item(s["label"], value=s["id"])
                                )
                            ),
                            value=DataSetsState.f_suite,
                            on_change=DataSetsState.set_f_suite,
                        ),
                        "suiteId",
                    ),
                ),
                rx.cond(
                    DataSetsState.f_scope == "SCENARIO",
                    _labelled(
                        "Scenario",
                        rx.select.root(
                            rx.select.trigger(
                                placeholder="choose a scenario", id="ds-scenario", width="100%"
                            ),
                            rx.select.content(
                                rx.foreach(
                                    DataSetsState.scenarios,
                                    lambda s: rx.select.item(s["label"], value=s["id"]),
                                )
                            ),
                            value=DataSetsState.f_scenario,
                            on_change=DataSetsState.set_f_scenario,
                        ),
                        "scenarioId",
                    ),
                ),
                _labelled(
                    "Tags (comma-separated)",
                    rx.input(
                        value=DataSetsState.f_tags,
                        on_change=DataSetsState.set_f_tags,
                        id="ds-tags",
                        placeholder="smoke, eu",
                        width="100%",
                    ),
                    "tags",
                ),
                columns="2",
                spacing="3",
                width="100%",
            ),
            rx.hstack(
                rx.text("Data ({{data.*}} reads it)", size="2", weight="medium"),
                rx.spacer(),
                rx.segmented_control.root(
                    rx.segmented_control.item("JSON", value="json"),
                    rx.segmented_control.item("YAML", value="yaml"),
                    value=DataSetsState.syntax,
                    on_change=DataSetsState.set_syntax,
                    size="1",
                    id="ds-syntax",
                ),
                width="100%",
                align="center",
            ),
            rx.text_area(
                value=DataSetsState.f_data,
                on_change=DataSetsState.set_f_data,
                id="ds-data",
                rows="14",
                width="100%",
                font_family="monospace",
                spell_check=False,
            ),
            _field_error("data"),
            rx.cond(
                DataSetsState.form_error != "",
                rx.callout(
                    DataSetsState.form_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    id="ds-form-error",
                    width="100%",
                ),
            ),
            rx.hstack(
                rx.button("Save", on_click=DataSetsState.save, loading=DataSetsState.saving, id="ds-save"),
                rx.cond(
                    DataSetsState.editing_id != "",
                    rx.button(
                        "Clone",
                        variant="soft",
                        on_click=DataSetsState.clone(DataSetsState.editing_id),
                        id="ds-clone-open",
                    ),
                ),
                spacing="2",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="ds-editor",
    )


def _scaffold() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(
                "Scaffold from a suite: one variable per {{data.*}} its steps read, "
                "with examples from the specs",
                size="2",
            ),
            rx.hstack(
                rx.select.root(
                    rx.select.trigger(placeholder="suite", id="ds-scaffold-suite", min_width="16rem"),
                    rx.select.content(
                        rx.foreach(DataSetsState.suites, lambda s: rx.select.item(s["label"], value=s["id"]))
                    ),
                    value=DataSetsState.scaffold_suite,
                    on_change=DataSetsState.set_scaffold_suite,
                ),
                rx.input(
                    value=DataSetsState.scaffold_name,
                    on_change=DataSetsState.set_scaffold_name,
                    id="ds-scaffold-name",
                    placeholder="data set name",
                ),
                rx.button("Scaffold", variant="soft", on_click=DataSetsState.scaffold, id="ds-scaffold"),
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                DataSetsState.scaffold_error != "",
                rx.text(DataSetsState.scaffold_error, color_scheme="red", size="2", id="ds-scaffold-error"),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _filters() -> rx.Component:
    return rx.hstack(
        rx.input(
            placeholder="Search names and tags",
            value=DataSetsState.query,
            on_change=DataSetsState.search.debounce(300),
            id="ds-search",
            width="18rem",
        ),
        rx.select(
            ["all", *SCOPES],
            value=DataSetsState.scope_filter,
            on_change=DataSetsState.set_scope_filter,
            id="ds-filter-scope",
        ),
        rx.select.root(
            rx.select.trigger(id="ds-filter-tag"),
            rx.select.content(
                rx.select.item("all tags", value=ALL),
                rx.foreach(DataSetsState.tags, lambda t: rx.select.item(t, value=t)),
            ),
            value=DataSetsState.tag_filter,
            on_change=DataSetsState.set_tag_filter,
        ),
        rx.spacer(),
        rx.button(rx.icon("plus", size=16), "New data set", on_click=DataSetsState.new, id="ds-new"),
        width="100%",
        align="center",
        wrap="wrap",
    )


def _table() -> rx.Component:
    headers = ("Name", "Scope", "Suite / scenario", "Tags", "Variables", "Origin", "Created", "")
    return rx.cond(
        DataSetsState.items.length() > 0,
        rx.vstack(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
                rx.table.body(
                    rx.foreach(
                        DataSetsState.items,
                        lambda r: rx.table.row(
                            rx.table.cell(
                                rx.button(
                                    r["name"],
                                    on_click=DataSetsState.open(r["id"]),
                                    variant="ghost",
                                    size="1",
                                    class_name="ds-open",
                                )
                            ),
                            rx.table.cell(rx.badge(r["scope"], variant="soft")),
                            rx.table.cell(rx.text(r["owner"], size="2")),
                            rx.table.cell(rx.text(r["tags"], size="2")),
                            rx.table.cell(r["variables"]),
                            rx.table.cell(rx.text(r["origin"], size="1")),
                            rx.table.cell(rx.text(r["created_at"], size="1")),
                            rx.table.cell(
                                rx.hstack(
                                    rx.button(
                                        "Clone",
                                        size="1",
                                        variant="soft",
                                        on_click=DataSetsState.clone(r["id"]),
                                        class_name="ds-clone",
                                    ),
                                    rx.button(
                                        "Delete",
                                        size="1",
                                        variant="soft",
                                        color_scheme="red",
                                        on_click=DataSetsState.ask_delete(r["id"], r["name"]),
                                        class_name="ds-delete",
                                    ),
                                    spacing="1",
                                )
                            ),
                            data_id=r["id"],
                        ),
                    )
                ),
                width="100%",
                variant="surface",
                id="data-sets-table",
            ),
            rx.hstack(
                rx.text(DataSetsState.page_text, size="2", id="ds-page"),
                *page_buttons(DataSetsState, id_prefix="ds"),
                spacing="2",
                align="center",
            ),
            width="100%",
        ),
        rx.cond(
            DataSetsState.loading,
            rx.hstack(rx.spinner(), rx.text("Loading data sets...", size="2"), id="data-sets-loading"),
            rx.callout(
                rx.vstack(
                    rx.text(
                        rx.cond(
                            (DataSetsState.query != "")
                            | (DataSetsState.scope_filter != ALL)
                            | (DataSetsState.tag_filter != ALL),
                            "No data set matches these filters",
                            "No test data sets yet",
                        ),
                        weight="bold",
                    ),
                    rx.text(
                        "Data sets feed {{data.*}} placeholders of scenario steps: create one with "
                        "New data set, or scaffold one from a suite.",
                        size="2",
                    ),
                    spacing="1",
                ),
                icon="info",
                color_scheme="gray",
                width="100%",
                id="data-sets-table-empty",
            ),
        ),
    )


def _confirm() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete data set"),
            rx.alert_dialog.description(
                f"Delete {DataSetsState.confirm_name}? Runs that used it keep the data they ran with; "
                "the data set itself cannot be restored."
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep it", variant="soft", on_click=DataSetsState.cancel_delete)
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Delete", color_scheme="red", on_click=DataSetsState.delete, id="ds-confirm-delete"
                    )
                ),
                spacing="2",
                justify="end",
            ),
        ),
        open=DataSetsState.confirm_id != "",
    )


def index() -> rx.Component:
    return page(
        TITLE,
        rx.cond(
            DataSetsState.list_error != "",
            rx.callout(
                DataSetsState.list_error,
                icon="triangle-alert",
                color_scheme="red",
                id="ds-list-error",
                width="100%",
            ),
        ),
        rx.cond(
            DataSetsState.notice != "",
            rx.callout(
                DataSetsState.notice, icon="check", color_scheme="green", id="ds-notice", width="100%"
            ),
        ),
        _filters(),
        rx.cond(DataSetsState.editor_open, _editor()),
        _table(),
        _scaffold(),
        _confirm(),
    )
