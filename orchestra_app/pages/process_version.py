"""Process version page: the diagram drawn from the stored source, with a scenario's path, a run's step
statuses or the suite's coverage laid over it, and the version's scenarios."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import reflex as rx

from components.bpmn_viewer import COVERED, PATH, UNCOVERED, bpmn_viewer, status_class
from components.layout import page
from components.sequence_diagram import sequence_diagram
from orchestra_app.domain.params import parse_uuid
from orchestra_app.services import diagrams
from orchestra_app.services import processes as process_service
from orchestra_app.services import session as svc
from state.base import AppState, blocking, error_text, route_tail

ROUTE = "/processes/versions/[version_id]"
TITLE = "Process version"
OVERLAYS = {
    "path": "Scenario path",
    "run": "Run: step status",
    "coverage": "Coverage of the last runs",
}


def _load_page(principal: Any, version_id: UUID) -> dict[str, Any]:
    """Everything the page shows, read in one unit of work (blocking: runs in a worker thread)."""

    def read(session: Any) -> dict[str, Any]:
        head = diagrams.process_of_version(session=session, principal=principal, version_id=version_id)
        drawing = diagrams.version_diagram(session=session, principal=principal, version_id=version_id)
        detail = process_service.version_detail(session=session, principal=principal, version_id=version_id)
        return {"head": head, "diagram": drawing, "detail": detail}

    return svc.with_session(read)


class VersionState(AppState):
    """Page-only state of the process version page."""

    loading: bool = True
    page_error: str = ""
    head: dict[str, str] = {}
    kind: str = ""
    file: str = ""
    xml: str = ""
    has_layout: bool = True
    mermaid_text: str = ""
    mermaid_fallback: str = ""
    messages: list[str] = []
    labels: dict[str, str] = {}
    diagram_problem: str = ""
    render_error: str = ""
    render_note: str = ""
    scenarios: list[dict[str, str]] = []
    paths: dict[str, list[str]] = {}
    sequence_flows: list[str] = []
    overlay: str = "path"
    selected_scenario: str = ""
    runs: list[dict[str, str]] = []
    selected_run: str = ""
    run_status: dict[str, str] = {}
    coverage_flows: list[str] = []
    coverage_status: dict[str, str] = {}
    coverage_note: str = ""
    overlay_error: str = ""
    focus: str = ""

    @rx.var
    def selected_name(self) -> str:
        for row in self.scenarios:
            if row["id"] == self.selected_scenario:
                return f"{row['key']}: {row['name']}"
        return ""

    @rx.var
    def markers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}

        def add(element: str, cls: str) -> None:
            out.setdefault(element, []).append(cls)

        if self.overlay in ("path", "run") and self.selected_scenario:
            for element in self.paths.get(self.selected_scenario, []):
                add(element, PATH)
        if self.overlay == "run":
            for node, status in self.run_status.items():
                add(node, status_class(status))
        if self.overlay == "coverage":
            covered = set(self.coverage_flows)
            for flow in self.sequence_flows:
                add(flow, COVERED if flow in covered else UNCOVERED)
            for node, status in self.coverage_status.items():
                add(node, status_class(status))
        return out

    @rx.var
    def through_focus(self) -> list[str]:
        """Scenarios whose path goes through the clicked element."""
        if not self.focus:
            return []
        return [
            f"{row['key']}: {row['name']}"
            for row in self.scenarios
            if self.focus in self.paths.get(row["id"], [])
        ]

    @rx.event
    async def load(self) -> AsyncIterator[None]:
        self.loading, self.page_error, self.render_error, self.render_note = True, "", "", ""
        self.focus, self.overlay_error = "", ""
        # The tab's state still holds the previously opened version: hide it before loading this one,
        # so its drawing never shows under this URL.
        self.xml, self.mermaid_text, self.mermaid_fallback, self.messages = "", "", "", []
        yield
        raw = route_tail(self)
        try:
            version_id = parse_uuid(raw, name="version")
            principal = await self.caller()
            data = await blocking(_load_page, principal, version_id)
        except Exception as exc:
            self.page_error = error_text(exc, where="process version page")
            self.loading = False
            return
        drawing: diagrams.Diagram = data["diagram"]
        detail = data["detail"]
        self.head = data["head"]
        self.kind, self.file = drawing.kind, drawing.file
        self.xml, self.has_layout = drawing.source if drawing.kind == "bpmn" else "", drawing.has_layout
        self.mermaid_text = drawing.source if drawing.kind == "sequence" else ""
        self.mermaid_fallback, self.messages = drawing.generated, drawing.messages
        self.labels, self.diagram_problem = drawing.labels, drawing.problem
        self.scenarios, self.paths = detail["scenarios"], detail["paths"]
        self.sequence_flows = detail["sequence_flows"]
        query = self.router.url.query_parameters
        wanted = str(query.get("scenario", ""))
        ids = [row["id"] for row in self.scenarios]
        self.selected_scenario = wanted if wanted in ids else (ids[0] if ids else "")
        self.overlay = "path"
        self.runs, self.selected_run, self.run_status = [], "", {}
        self.coverage_flows, self.coverage_status, self.coverage_note = [], {}, ""
        self.loading = False

    @rx.event
    def rendered(self, info: dict[str, Any]) -> None:
        self.render_error = ""
        if info.get("source") == "generated":
            self.render_note = (
                "Drawn from the imported model (the stored text is not mermaid, or mermaid could not "
                "draw it as imported)."
            )

    @rx.event
    def failed(self, message: str) -> None:
        self.render_error = message[:500]

    @rx.event
    def element_clicked(self, element_id: str) -> None:
        self.focus = "" if element_id == self.focus else element_id

    @rx.event
    async def choose_scenario(self, scenario_id: str) -> None:
        self.selected_scenario = scenario_id
        self.focus = ""
        if self.overlay == "coverage":
            self.overlay = "path"
        if self.overlay == "run":
            await self._load_runs()

    @rx.event
    async def set_overlay(self, value: str) -> None:
        self.overlay = value if value in OVERLAYS else "path"
        self.overlay_error = ""
        if self.overlay == "run":
            await self._load_runs()
        elif self.overlay == "coverage":
            await self._load_coverage()

    async def _load_runs(self) -> None:
        row = next((r for r in self.scenarios if r["id"] == self.selected_scenario), None)
        suite = self.head.get("suite_id", "")
        self.runs, self.selected_run, self.run_status = [], "", {}
        if row is None or not suite:
            return
        try:
            principal = await self.caller()
            self.runs = await blocking(
                svc.run, diagrams.scenario_runs, principal, scenario_key=row["key"], suite_id=UUID(suite)
            )
        except Exception as exc:
            self.overlay_error = error_text(exc, where="scenario runs")
            return
        if self.runs:
            await self._load_run(self.runs[0]["id"])

    async def _load_run(self, run_id: str) -> None:
        self.selected_run = run_id
        try:
            principal = await self.caller()
            self.run_status = await blocking(
                svc.run, diagrams.run_node_statuses, principal, run_id=parse_uuid(run_id, name="run")
            )
        except Exception as exc:
            self.overlay_error = error_text(exc, where="run statuses")
            self.run_status = {}

    @rx.event
    async def choose_run(self, run_id: str) -> None:
        await self._load_run(run_id)

    async def _load_coverage(self) -> None:
        suite = self.head.get("suite_id", "")
        if not suite:
            self.overlay_error = "This version has no generated suite."
            return
        try:
            principal = await self.caller()
            coverage = await blocking(svc.run, diagrams.suite_coverage, principal, suite_id=UUID(suite))
        except Exception as exc:
            self.overlay_error = error_text(exc, where="suite coverage")
            return
        self.coverage_flows, self.coverage_status = coverage.flows_covered, coverage.node_status
        self.coverage_note = (
            f"{len(coverage.flows_covered)} of {coverage.flows_total} flows exercised by the last "
            f"{coverage.runs} run(s)"
            if coverage.runs
            else "No run of this suite yet: nothing is exercised."
        )


def _legend() -> rx.Component:
    def chip(color: str, text: str) -> rx.Component:
        return rx.hstack(
            rx.box(width="0.9rem", height="0.9rem", border_radius="3px", background=color),
            rx.text(text, size="1"),
            spacing="1",
            align="center",
        )

    return rx.hstack(
        rx.cond(
            VersionState.overlay == "coverage",
            rx.hstack(
                chip("#18794e", "flow exercised"), chip("#cd2b31", "flow never exercised"), spacing="3"
            ),
            chip("#3e63dd", "scenario path"),
        ),
        rx.cond(
            VersionState.overlay != "path",
            rx.hstack(
                chip("#c9f2d5", "passed"),
                chip("#ffd1d1", "failed"),
                chip("#ffe7b3", "flaky"),
                chip("#eceef0", "skipped"),
                spacing="3",
            ),
        ),
        spacing="4",
        wrap="wrap",
        id="diagram-legend",
    )


def _diagram() -> rx.Component:
    bpmn = rx.cond(
        VersionState.xml != "",
        bpmn_viewer(
            xml=VersionState.xml,
            markers=VersionState.markers,
            labels=VersionState.labels,
            focus=VersionState.focus,
            height="460px",
            on_element_click=VersionState.element_clicked,
            on_rendered=VersionState.rendered,
            on_failed=VersionState.failed,
            id="bpmn-diagram",
        ),
        rx.callout(
            rx.text("The diagram cannot be drawn: ", VersionState.diagram_problem),
            icon="triangle-alert",
            color_scheme="amber",
            id="diagram-unavailable",
        ),
    )
    sequence = sequence_diagram(
        text=VersionState.mermaid_text,
        fallback=VersionState.mermaid_fallback,
        messages=VersionState.messages,
        markers=VersionState.markers,
        labels=VersionState.labels,
        on_rendered=VersionState.rendered,
        on_failed=VersionState.failed,
        id="sequence-diagram",
    )
    return rx.vstack(
        rx.cond(
            ~VersionState.has_layout & (VersionState.kind == "bpmn") & (VersionState.xml != ""),
            rx.callout(
                "This BPMN file carries no diagram layout (BPMNDI): Orchestra laid it out from the "
                "process graph, so the drawing is not the author's.",
                icon="info",
                color_scheme="blue",
                id="no-layout-note",
            ),
        ),
        rx.cond(VersionState.kind == "sequence", sequence, bpmn),
        rx.cond(
            (VersionState.diagram_problem != "")
            & ((VersionState.xml != "") | (VersionState.kind == "sequence")),
            rx.callout(
                VersionState.diagram_problem,
                icon="info",
                color_scheme="amber",
                size="1",
                id="diagram-fallback",
            ),
        ),
        rx.cond(
            VersionState.render_error != "",
            rx.callout(
                rx.text("The diagram could not be drawn: ", VersionState.render_error),
                icon="triangle-alert",
                color_scheme="red",
                id="diagram-error",
            ),
        ),
        rx.cond(
            VersionState.render_note != "",
            rx.text(VersionState.render_note, size="1", color_scheme="gray", id="diagram-note"),
        ),
        _legend(),
        rx.cond(
            VersionState.focus != "",
            rx.card(
                rx.vstack(
                    rx.text(
                        rx.text.strong(VersionState.labels.get(VersionState.focus, VersionState.focus)),
                        " (",
                        rx.code(VersionState.focus),
                        ")",
                    ),
                    rx.cond(
                        VersionState.through_focus.length() > 0,  # type: ignore[attr-defined]
                        rx.vstack(
                            rx.text("Scenarios through it:", size="2"),
                            rx.foreach(VersionState.through_focus, lambda s: rx.text(s, size="1")),
                            spacing="1",
                        ),
                        rx.text("No scenario goes through it.", size="2", color_scheme="gray"),
                    ),
                    spacing="2",
                ),
                id="focus-card",
                width="100%",
            ),
        ),
        width="100%",
        spacing="2",
    )


def _overlay_controls() -> rx.Component:
    return rx.hstack(
        rx.text("Show", size="2", as_="label", html_for="overlay-select"),
        rx.select.root(
            rx.select.trigger(id="overlay-select", aria_label="Overlay"),
            rx.select.content(*[rx.select.item(label, value=key) for key, label in OVERLAYS.items()]),
            value=VersionState.overlay,
            on_change=VersionState.set_overlay,
        ),
        rx.cond(
            (VersionState.overlay != "coverage") & (VersionState.selected_name != ""),
            rx.text("for ", rx.text.strong(VersionState.selected_name), size="2", id="selected-scenario"),
        ),
        rx.cond(
            (VersionState.overlay == "run") & (VersionState.runs.length() > 0),  # type: ignore[attr-defined]
            rx.select.root(
                rx.select.trigger(id="run-select", aria_label="Run"),
                rx.select.content(
                    rx.foreach(
                        VersionState.runs,
                        lambda r: rx.select.item(
                            r["created_at"] + " · v" + r["version"] + " · " + r["status"], value=r["id"]
                        ),
                    )
                ),
                value=VersionState.selected_run,
                on_change=VersionState.choose_run,
            ),
        ),
        rx.cond(
            (VersionState.overlay == "run") & (VersionState.runs.length() == 0),  # type: ignore[attr-defined]
            rx.text("This scenario has not run yet.", size="2", color_scheme="gray", id="no-runs"),
        ),
        rx.cond(
            VersionState.overlay == "coverage",
            rx.text(VersionState.coverage_note, size="2", id="coverage-note"),
        ),
        spacing="3",
        align="center",
        wrap="wrap",
        width="100%",
    )


def _scenario_table() -> rx.Component:
    return rx.cond(
        VersionState.scenarios.length() > 0,  # type: ignore[attr-defined]
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Key", "Scenario", "Version", "Steps", "Decisions", "")
                    ]
                )
            ),
            rx.table.body(
                rx.foreach(
                    VersionState.scenarios,
                    lambda row: rx.table.row(
                        rx.table.cell(row["key"]),
                        rx.table.cell(row["name"]),
                        rx.table.cell(row["version"], width="4rem"),
                        rx.table.cell(row["steps"], width="3.5rem"),
                        rx.table.cell(
                            rx.text(
                                row["decisions"], title=row["decision_ids"], size="2", class_name="decisions"
                            )
                        ),
                        rx.table.cell(
                            rx.vstack(
                                rx.button(
                                    "Show path",
                                    size="1",
                                    variant=rx.cond(
                                        VersionState.selected_scenario == row["id"], "solid", "soft"
                                    ),
                                    on_click=VersionState.choose_scenario(row["id"]),
                                    id="show-" + row["key"],
                                ),
                                rx.link(
                                    rx.button("Open", size="1", variant="outline", tab_index=-1),
                                    href="/scenarios/" + row["id"],
                                    id="open-" + row["key"],
                                ),
                                spacing="1",
                                align="stretch",
                            ),
                            width="7rem",
                        ),
                        background=rx.cond(
                            VersionState.selected_scenario == row["id"], rx.color("accent", 3), "transparent"
                        ),
                    ),
                )
            ),
            width="100%",
            variant="surface",
            id="version-scenarios",
        ),
        rx.callout(
            "No scenarios: the generator found no path from a start event.",
            icon="info",
            color_scheme="gray",
            id="version-scenarios-empty",
        ),
    )


def _content() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link("Processes", href="/processes"),
            rx.text("/"),
            rx.text(VersionState.head.get("key", ""), " v", VersionState.head.get("version", "")),
            rx.text("·", color_scheme="gray"),
            rx.text(VersionState.file, color_scheme="gray", size="2"),
            spacing="2",
            align="center",
            wrap="wrap",
            id="version-heading",
        ),
        _diagram(),
        _overlay_controls(),
        rx.cond(
            VersionState.overlay_error != "",
            rx.callout(
                VersionState.overlay_error, icon="triangle-alert", color_scheme="red", id="overlay-error"
            ),
        ),
        rx.heading("Scenarios", size="4"),
        _scenario_table(),
        width="100%",
        spacing="3",
    )


ON_LOAD = [AppState.load_identity, VersionState.load]


def index() -> rx.Component:
    return page(
        TITLE,
        rx.cond(
            VersionState.loading,
            rx.hstack(rx.spinner(), rx.text("Loading the version…"), id="version-loading", spacing="2"),
            rx.cond(
                VersionState.page_error != "",
                rx.callout(
                    VersionState.page_error, icon="triangle-alert", color_scheme="red", id="version-error"
                ),
                _content(),
            ),
        ),
    )
