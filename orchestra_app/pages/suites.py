"""Suites page: the tenant's suites; choose a suite's specs, bind its steps, see and override chaining."""

from __future__ import annotations

from typing import Any, ClassVar

import reflex as rx

from components.layout import page
from components.lists import Column, list_view
from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.domain.params import parse_uuid
from orchestra_app.services import binding
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from orchestra_app.services.binding import bind_suite
from state.base import SECTION_LIMIT, AppState, blocking, error_text
from state.lists import ListState

ROUTE = "/suites"
TITLE = "Suites"


class SuitesState(AppState):
    selected_suite: str = ""
    bindings: list[dict[str, str]] = []
    overrides: dict[str, str] = {}
    bind_error: str = ""
    bind_message: str = ""
    # scoped binding: the tenant's specs and the ones chosen for the selected suite
    available_specs: list[dict[str, str]] = []
    chosen_specs: list[str] = []
    spec_message: str = ""
    # chaining: how later inputs are wired to earlier responses, and the designer's overrides
    chaining: list[dict[str, str]] = []
    chain_overrides: dict[str, str] = {}
    chain_message: str = ""
    run_message: str = ""
    run_error: str = ""

    @rx.event
    async def select_suite(self, suite_id: str) -> None:
        self.selected_suite = suite_id
        self.bindings, self.overrides, self.bind_error, self.bind_message = [], {}, "", ""
        self.spec_message, self.chain_message, self.chain_overrides = "", "", {}
        try:
            suite = parse_uuid(suite_id, name="suite")
            principal = await self.caller()
            specs = await blocking(svc.section_rows, "specs", principal, limit=SECTION_LIMIT)
            chosen = await blocking(svc.run, binding.suite_specs, principal, suite_id=suite)
            chaining = await blocking(svc.run, binding.suite_chaining, principal, suite_id=suite)
        except Exception as exc:
            self.bind_error = error_text(exc, where="select suite")
            return
        self.available_specs = [
            {
                "id": r["id"],
                "label": f"{r['service']} {r['version']} ({r['protocol']}, {r['operations']} operations)",
            }
            for r in specs.items
        ]
        self.chosen_specs = [str(r.spec_id) for r in chosen]
        self.chaining = [_chain_row(r) for r in chaining]

    @rx.event
    def toggle_spec(self, spec_id: str, checked: bool) -> None:
        chosen = [s for s in self.chosen_specs if s != spec_id]
        self.chosen_specs = [*chosen, spec_id] if checked else chosen

    @rx.event
    async def save_specs(self) -> None:
        self.spec_message, self.bind_error = "", ""
        try:
            suite = parse_uuid(self.selected_suite, name="suite")
            spec_ids = [parse_uuid(s, name="spec") for s in self.chosen_specs]
            principal = await self.caller()
            rows = await blocking(
                svc.write, binding.set_suite_specs, principal, suite_id=suite, spec_ids=spec_ids
            )
        except Exception as exc:
            self.bind_error = error_text(exc, where="save suite specs")
            return
        names = ", ".join(f"{r.service_name} {r.version}" for r in rows) or "none"
        self.spec_message = f"This suite binds to: {names}"

    @rx.event
    async def run_suite(self, suite_id: str) -> Any:
        """Starts one run per active scenario of the suite (RUN_ALL_STEPS, the tenant's environment).

        With several environments there is a choice to make: the Runs page's launcher opens on
        this suite instead."""
        self.run_message, self.run_error = "", ""
        try:
            principal = await self.caller()
            request = {"suiteId": suite_id, "triggeredBy": "ui"}
            result = await blocking(svc.write, run_service.create_runs, principal, request=request)
        except ValidationFailed as exc:
            if exc.field == "environmentId":
                return rx.redirect(f"/runs?suite={suite_id}")
            self.run_error = error_text(exc, where="run suite")
            return None
        except Exception as exc:
            self.run_error = error_text(exc, where="run suite")
            return None
        waiting = f", {result.pending} waiting for a free slot" if result.pending else ""
        self.run_message = f"{len(result.runs)} run(s) started ({result.queued} queued{waiting})."
        return None

    @rx.event
    def set_override(self, node_id: str, value: str) -> None:
        self.overrides[node_id] = value

    @rx.event
    async def bind(self) -> None:
        self.bind_error, self.bind_message = "", ""
        overrides = {k: v.strip() for k, v in self.overrides.items() if v.strip()}
        try:
            suite = parse_uuid(self.selected_suite, name="suite")
            principal = await self.caller()
            # Matching every step against every spec is CPU and database work: off the event loop.
            rows = await blocking(svc.write, bind_suite, principal, suite_id=suite, overrides=overrides)
            chaining = await blocking(svc.run, binding.suite_chaining, principal, suite_id=suite)
        except Exception as exc:
            self.bind_error = error_text(exc, where="bind suite")
            return
        self.bindings = [r.as_row() for r in rows]
        self.chaining = [_chain_row(r) for r in chaining]
        bound = sum(r.status in ("EXPLICIT", "MATCHED") for r in rows)
        self.bind_message = (
            f"{bound} of {len(rows)} task nodes bound; steps updated: {sum(r.steps_updated for r in rows)}; "
            f"{len(chaining)} inputs chained to earlier responses"
        )

    @rx.event
    def set_chain_override(self, key: str, value: str) -> None:
        self.chain_overrides[key] = value

    @rx.event
    async def apply_chaining(self) -> None:
        self.chain_message, self.bind_error = "", ""
        overrides = []
        for key, value in self.chain_overrides.items():
            text = value.strip()
            if not text:
                continue
            scenario, step, pointer = key.split("|", 2)
            item: dict[str, Any] = {"scenario": scenario, "step": step, "pointer": pointer}
            if text.lower() == "reset":
                item["reset"] = True
            else:
                item["source"] = None if text.lower() == "data" else text
            overrides.append(item)
        if not overrides:
            self.chain_message = "Type a source ({{step...}}), 'data' or 'reset' next to an input first."
            return
        try:
            suite = parse_uuid(self.selected_suite, name="suite")
            principal = await self.caller()
            rows = await blocking(
                svc.write, binding.override_chaining, principal, suite_id=suite, overrides=overrides
            )
        except Exception as exc:
            self.bind_error = error_text(exc, where="override chaining")
            return
        self.chaining = [_chain_row(r) for r in rows]
        self.chain_overrides = {}
        self.chain_message = f"{len(overrides)} override(s) applied"


def _chain_row(row: binding.ChainRow) -> dict[str, str]:
    out = row.as_row()
    out["key"] = f"{row.scenario}|{row.step}|{row.pointer}"
    return out


class SuiteList(ListState, rx.State):
    """The suites list (shared list component): search name/process, filter by process, delete."""

    _section: ClassVar[str] = "suites"
    _delete_kind: ClassVar[str | None] = "suite"


def _suite_actions(row: Any) -> rx.Component:
    return rx.hstack(
        rx.button(
            "Bind endpoints",
            size="1",
            variant="soft",
            on_click=SuitesState.select_suite(row["id"]),
            aria_label="Bind endpoints of " + row["label"],
        ),
        rx.button(
            "Run",
            size="1",
            on_click=SuitesState.run_suite(row["id"]),
            class_name="run-suite",
            aria_label="Run " + row["label"],
        ),
        spacing="2",
    )


def _suites_table() -> rx.Component:
    return list_view(
        SuiteList,
        list_id="suites-table",
        columns=[
            Column(
                "Name",
                render=lambda row: rx.hstack(
                    rx.text(row["name"], size="2"),
                    rx.badge(row["process"], variant="soft", color_scheme="gray"),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
            ),
            Column("Version", "process_version"),
            Column("Scenarios", "scenarios"),
            Column("Tags", "tags"),
            Column("Created", "created_at"),
        ],
        search_placeholder="Search suite or process",
        filter_label="Process",
        empty_title="No scenario suites yet",
        empty_hint="Import a process on the Processes page; its suite is generated from the diagram.",
        row_actions=_suite_actions,
        deletable=True,
        row_label="label",
    )


def _binding_panel() -> rx.Component:
    return rx.cond(
        SuitesState.selected_suite != "",
        rx.vstack(
            rx.heading("Specs this suite binds to", size="4"),
            rx.text(
                "Binding only looks at the specs chosen here, never at every spec of the tenant.",
                size="2",
            ),
            rx.vstack(
                rx.foreach(
                    SuitesState.available_specs,
                    lambda spec: rx.checkbox(
                        spec["label"],
                        checked=SuitesState.chosen_specs.contains(spec["id"]),
                        on_change=lambda checked: SuitesState.toggle_spec(spec["id"], checked),
                        size="2",
                    ),
                ),
                id="spec-picker",
                spacing="1",
            ),
            rx.button("Save specs", id="save-specs-button", variant="soft", on_click=SuitesState.save_specs),
            rx.cond(
                SuitesState.spec_message != "",
                rx.callout(SuitesState.spec_message, icon="check", color_scheme="green", id="specs-result"),
            ),
            rx.heading("Bind steps to spec endpoints", size="4"),
            rx.text(
                "Each task is matched to an operation of the chosen specs (explicit BPMN extension first, "
                "then name similarity). Override a verdict with service:operationId and bind again.",
                size="2",
            ),
            rx.button("Bind", id="bind-button", on_click=SuitesState.bind),
            rx.cond(
                SuitesState.bind_message != "",
                rx.callout(SuitesState.bind_message, icon="check", color_scheme="green", id="bind-result"),
            ),
            rx.cond(
                SuitesState.bind_error != "",
                rx.callout(
                    SuitesState.bind_error, icon="triangle-alert", color_scheme="red", id="bind-error"
                ),
            ),
            rx.cond(
                SuitesState.bindings.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Task", "Verdict", "Endpoint", "Confidence", "Why", "Override")
                            ]
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            SuitesState.bindings,
                            lambda b: rx.table.row(
                                rx.table.cell(b["step_name"]),
                                rx.table.cell(rx.badge(b["status"])),
                                rx.table.cell(b["endpoint"]),
                                rx.table.cell(b["confidence"]),
                                rx.table.cell(rx.text(b["reason"], size="1")),
                                rx.table.cell(
                                    rx.input(
                                        placeholder="service:operationId",
                                        on_blur=lambda v: SuitesState.set_override(b["node_id"], v),
                                        size="1",
                                    )
                                ),
                            ),
                        )
                    ),
                    width="100%",
                    variant="surface",
                    id="bindings-table",
                ),
            ),
            _chaining_panel(),
            width="100%",
            spacing="3",
        ),
    )


def _chaining_panel() -> rx.Component:
    return rx.cond(
        SuitesState.chaining.length() > 0,
        rx.vstack(
            rx.heading("Chaining: inputs taken from earlier responses", size="4"),
            rx.text(
                "Proposals from OpenAPI links and matching names. Override one with a {{step...}} "
                "expression, 'data' to keep the data variable, or 'reset' to take the proposal again.",
                size="2",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Scenario", "Step", "Input", "Source", "Confidence", "Why", "Override")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        SuitesState.chaining,
                        lambda c: rx.table.row(
                            rx.table.cell(c["scenario"]),
                            rx.table.cell(c["step"]),
                            rx.table.cell(rx.code(c["pointer"])),
                            rx.table.cell(rx.code(c["source"])),
                            rx.table.cell(
                                rx.cond(c["overridden"] != "", rx.badge("override"), c["confidence"])
                            ),
                            rx.table.cell(rx.text(c["reason"], size="1")),
                            rx.table.cell(
                                rx.input(
                                    placeholder="{{step.x.response.body.id}} | data | reset",
                                    on_blur=lambda v: SuitesState.set_chain_override(c["key"], v),
                                    size="1",
                                )
                            ),
                        ),
                    )
                ),
                width="100%",
                variant="surface",
                id="chaining-table",
            ),
            rx.button(
                "Apply chaining overrides",
                id="apply-chaining-button",
                variant="soft",
                on_click=SuitesState.apply_chaining,
            ),
            rx.cond(
                SuitesState.chain_message != "",
                rx.callout(SuitesState.chain_message, icon="info", id="chaining-result"),
            ),
            width="100%",
            spacing="2",
        ),
    )


ON_LOAD = [AppState.load_identity, SuiteList.load]


def _run_feedback() -> rx.Component:
    return rx.fragment(
        rx.cond(
            SuitesState.run_message != "",
            rx.callout(
                rx.hstack(
                    rx.text(SuitesState.run_message),
                    rx.link("See runs", href="/runs", id="see-runs"),
                    spacing="2",
                ),
                icon="play",
                color_scheme="green",
                id="run-result",
                width="100%",
            ),
        ),
        rx.cond(
            SuitesState.run_error != "",
            rx.callout(
                SuitesState.run_error, icon="triangle-alert", color_scheme="red", id="run-error", width="100%"
            ),
        ),
    )


def index() -> rx.Component:
    return page(
        TITLE,
        _run_feedback(),
        _suites_table(),
        _binding_panel(),
    )
