"""Suites page: the tenant's scenario suites and binding their steps to spec endpoints (with overrides)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.layout import page
from components.tables import more_rows_note
from orchestra_app.domain.params import parse_uuid
from orchestra_app.services import runs as run_service
from orchestra_app.services import session as svc
from orchestra_app.services.binding import bind_suite
from state.base import AppState, SectionState, blocking, error_text

ROUTE = "/suites"
TITLE = "Suites"


class SuitesState(AppState):
    selected_suite: str = ""
    bindings: list[dict[str, str]] = []
    overrides: dict[str, str] = {}
    bind_error: str = ""
    bind_message: str = ""
    run_message: str = ""
    run_error: str = ""

    @rx.event
    def select_suite(self, suite_id: str) -> None:
        self.selected_suite = suite_id
        self.bindings, self.overrides, self.bind_error, self.bind_message = [], {}, "", ""

    @rx.event
    async def run_suite(self, suite_id: str) -> None:
        """Starts one run per active scenario of the suite (RUN_ALL_STEPS, the tenant's environment)."""
        self.run_message, self.run_error = "", ""
        try:
            principal = await self.caller()
            request = {"suiteId": suite_id, "triggeredBy": "ui"}
            result = await blocking(svc.write, run_service.create_runs, principal, request=request)
        except Exception as exc:
            self.run_error = error_text(exc, where="run suite")
            return
        waiting = f", {result.pending} waiting for a free slot" if result.pending else ""
        self.run_message = f"{len(result.runs)} run(s) started ({result.queued} queued{waiting})."

    @rx.event
    def set_override(self, node_id: str, value: str) -> None:
        self.overrides[node_id] = value

    @rx.event
    async def bind(self) -> Any:
        self.bind_error, self.bind_message = "", ""
        overrides = {k: v.strip() for k, v in self.overrides.items() if v.strip()}
        try:
            suite_id = parse_uuid(self.selected_suite, name="suite")
            principal = await self.caller()
            # Matching every step against every spec is CPU and database work: off the event loop.
            rows = await blocking(svc.write, bind_suite, principal, suite_id=suite_id, overrides=overrides)
        except Exception as exc:
            self.bind_error = error_text(exc, where="bind suite")
            return None
        self.bindings = [r.as_row() for r in rows]
        bound = sum(r.status in ("EXPLICIT", "MATCHED") for r in rows)
        self.bind_message = f"{bound} of {len(rows)} task nodes bound; steps updated: " + str(
            sum(r.steps_updated for r in rows)
        )
        return None


def _suites_table() -> rx.Component:
    rows = SectionState.rows.get("suites", [])
    return rx.cond(
        rows.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Name", "Process key", "Version", "Scenarios", "Tags", "Created", "")
                    ]
                )
            ),
            rx.table.body(
                rx.foreach(
                    rows,
                    lambda row: rx.table.row(
                        rx.table.cell(
                            rx.hstack(
                                rx.text(row["name"]),
                                rx.badge(row["process"], variant="soft", color_scheme="gray"),
                                spacing="2",
                                align="center",
                            )
                        ),
                        rx.table.cell(row["process"]),
                        rx.table.cell(row["process_version"]),
                        rx.table.cell(row["scenarios"]),
                        rx.table.cell(row["tags"]),
                        rx.table.cell(row["created_at"]),
                        rx.table.cell(
                            rx.hstack(
                                rx.button(
                                    "Bind endpoints",
                                    size="1",
                                    variant="soft",
                                    on_click=SuitesState.select_suite(row["id"]),
                                ),
                                rx.button(
                                    "Run",
                                    size="1",
                                    on_click=SuitesState.run_suite(row["id"]),
                                    class_name="run-suite",
                                ),
                                spacing="2",
                            )
                        ),
                    ),
                )
            ),
            width="100%",
            variant="surface",
            id="suites-table",
        ),
        rx.callout(
            "No scenario suites yet. Import a process on the Processes page; its suite is generated "
            "from the diagram.",
            icon="info",
            color_scheme="gray",
            width="100%",
            id="suites-table-empty",
        ),
    )


def _binding_panel() -> rx.Component:
    return rx.cond(
        SuitesState.selected_suite != "",
        rx.vstack(
            rx.heading("Bind steps to spec endpoints", size="4"),
            rx.text(
                "Each task is matched to an operation of the imported specs (explicit BPMN extension first, "
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
            width="100%",
            spacing="3",
        ),
    )


ON_LOAD = [AppState.load_identity, SectionState.load_suites]


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
        more_rows_note(SectionState.more.get("suites", ""), note_id="suites-more"),
        _binding_panel(),
    )
