"""Processes page: upload a diagram, see its warnings, browse processes, versions and generated suites."""

from __future__ import annotations

from typing import Any, ClassVar

import reflex as rx

from components.coverage import uncovered_flows_panel
from components.feedback import import_feedback
from components.layout import page
from components.lists import Column, list_view
from orchestra_app.domain.params import parse_uuid
from orchestra_app.generation.params import GenerationParams
from orchestra_app.services import processes as process_service
from orchestra_app.services import session as svc
from state.base import AppState, blocking, error_text
from state.lists import ListState

ROUTE = "/processes"
TITLE = "Processes"
UPLOAD_ID = "process-upload"
ACCEPT = {
    "application/xml": [".bpmn", ".xml", ".bpmn2"],
    "text/plain": [".mmd", ".mermaid", ".puml", ".plantuml", ".txt"],
    "application/json": [".json"],
}


class ProcessesState(AppState):
    """Upload outcome and the selected process/version; rows come from the process services."""

    strategy: str = "edges"
    import_message: str = ""
    import_error: str = ""
    import_warnings: list[str] = []
    import_partial: str = ""  # imported, but recovery lost part of the file (a warning-level result)
    versions: list[dict[str, str]] = []
    selected_process: str = ""
    selected_version: str = ""
    summary: dict[str, str] = {}
    suite_info: dict[str, str] = {}
    uncovered: list[dict[str, str]] = []
    version_warnings: list[str] = []
    scenarios: list[dict[str, str]] = []
    uploading: bool = False

    @rx.event
    def set_strategy(self, value: str) -> None:
        self.strategy = value if value in ("edges", "paths") else "edges"

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]) -> Any:
        self.import_message, self.import_error, self.import_warnings = "", "", []
        self.import_partial = ""
        if not files:
            self.import_error = "Choose a BPMN, mermaid, PlantUML or JSON sequence file first."
            return None
        try:
            principal = await self.caller()
        except Exception as exc:
            self.import_error = error_text(exc, where="process upload")
            return None
        params = GenerationParams(strategy="paths" if self.strategy == "paths" else "edges")
        messages: list[str] = []
        partial: list[str] = []
        errors: list[str] = []
        warnings: list[str] = []
        last_process = ""
        for upload in files:
            name = upload.name or upload.filename or "upload"
            data = await upload.read()
            try:
                # Parsing runs in a child process under the import budget, storing in a worker thread.
                result = await blocking(
                    process_service.import_file, principal, data=data, filename=name, params=params
                )
            except Exception as exc:
                errors.append(f"{name}: {error_text(exc, where='process upload')}; nothing was stored")
                continue
            last_process = str(result.process_id)
            cov = result.coverage
            line = (
                f"{name}: imported as {result.process_key} v{result.version} "
                f"({result.summary['nodes']} nodes, {result.summary['flows']} flows); "
                f"{result.scenario_count} scenarios cover {cov.get('flowsCovered', 0)}/"
                f"{cov.get('flowsTotal', 0)} flows" + (" (paths capped)" if result.capped else "")
            )
            if result.outcome == "partial":
                partial.append(f"{line}. Only partly usable: " + "; ".join(result.problems))
            else:
                messages.append(line)
            warnings.extend(f"{name}: {w}" for w in result.warnings)
        self.import_message = "\n".join(messages)
        self.import_partial = "\n".join(partial)
        self.import_error = "\n".join(errors)
        self.import_warnings = warnings[:200]
        events: list[Any] = [rx.clear_selected_files(UPLOAD_ID), ProcessList.refresh]
        if last_process:
            events.append(ProcessesState.select_process(last_process))
        return events

    @rx.event
    async def select_process(self, process_id: str) -> Any:
        self.selected_process = process_id
        try:
            principal = await self.caller()
            self.versions = await blocking(
                svc.run,
                process_service.list_versions,
                principal,
                process_id=parse_uuid(process_id, name="process"),
            )
        except Exception as exc:
            self.import_error = error_text(exc, where="select process")
            self.versions = []
            return None
        if self.versions:
            return ProcessesState.select_version(self.versions[0]["id"])
        return None

    @rx.event
    async def select_version(self, version_id: str) -> None:
        self.selected_version = version_id
        try:
            principal = await self.caller()
            detail = await blocking(
                svc.run,
                process_service.version_detail,
                principal,
                version_id=parse_uuid(version_id, name="version"),
            )
        except Exception as exc:
            self.import_error = error_text(exc, where="select version")
            return
        s = detail["summary"]
        self.summary = {k: str(v) for k, v in s.items() if k != "nodeTypes"}
        self.summary["version"] = str(detail["version"])
        gen = detail["suite"] or {}
        cov = gen.get("coverage", {})
        self.suite_info = {
            "strategy": str(gen.get("strategy", "")),
            "flows": f"{cov.get('flowsCovered', 0)}/{cov.get('flowsTotal', 0)}",
            "decisions": f"{cov.get('decisionsCovered', 0)}/{cov.get('decisionsTotal', 0)}",
            "capped": "yes" if gen.get("capped") else "no",
            "paths": str(gen.get("pathCount", "")),
            "reachable": f"{cov.get('flowsReachable', 0)}/{cov.get('flowsTotal', 0)}",
        }
        self.uncovered = [
            {k: str(u.get(k, "")) for k in ("flow", "reason", "detail")}
            for u in gen.get("uncoveredFlows", [])[:500]
        ]
        self.version_warnings = detail["warnings"][:200]
        self.scenarios = detail["scenarios"]


def _upload_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Import a process", size="4"),
            rx.upload(
                rx.vstack(
                    rx.icon("upload", size=20),
                    rx.text(
                        "Drop a BPMN 2.0 file or a sequence diagram (mermaid, PlantUML, JSON) here, "
                        "or click to choose",
                        size="2",
                    ),
                    rx.foreach(rx.selected_files(UPLOAD_ID), lambda f: rx.badge(f, id="selected-file")),
                    align="center",
                    spacing="2",
                ),
                id=UPLOAD_ID,
                multiple=True,
                accept=ACCEPT,
                border=f"1px dashed {rx.color('gray', 7)}",
                padding="1.25rem",
                width="100%",
            ),
            rx.hstack(
                rx.text("Strategy", size="2"),
                rx.select(
                    ["edges", "paths"],
                    value=ProcessesState.strategy,
                    on_change=ProcessesState.set_strategy,
                    id="strategy-select",
                ),
                rx.button(
                    "Import",
                    id="process-import-button",
                    on_click=ProcessesState.handle_upload(rx.upload_files(upload_id=UPLOAD_ID)),
                ),
                spacing="3",
                align="center",
            ),
            import_feedback(
                message=ProcessesState.import_message,
                error=ProcessesState.import_error,
                warnings=ProcessesState.import_warnings,
                partial=ProcessesState.import_partial,
                id_prefix="import",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


class ProcessList(ListState, rx.State):
    """The processes list (shared list component): search key/name, filter by source, delete."""

    _section: ClassVar[str] = "processes"
    _delete_kind: ClassVar[str | None] = "process"


def _process_table() -> rx.Component:
    return list_view(
        ProcessList,
        list_id="processes-table",
        columns=[
            Column("Key", "key", mono=True),
            Column("Name", "name"),
            Column("Latest version", "latest_version"),
            Column("Versions", "versions"),
            Column("Created", "created_at"),
        ],
        search_placeholder="Search key or name",
        filter_label="Source",
        empty_title="No processes imported yet",
        empty_hint="Import a BPMN 2.0 file or a sequence diagram above.",
        row_actions=lambda row: rx.button(
            "Open",
            size="1",
            variant="soft",
            on_click=ProcessesState.select_process(row["id"]),
            aria_label="Open " + row["key"],
            class_name="open-process",
        ),
        deletable=True,
        row_label="key",
    )


def _stat(label: str, value: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"), rx.text(value, weight="bold"), spacing="0"
    )


def _scenario_table() -> rx.Component:
    headers = ("Key", "Scenario", "Kind", "Nodes", "Steps", "Decisions", "")
    return rx.cond(
        ProcessesState.scenarios.length() > 0,  # type: ignore[attr-defined]
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(
                rx.foreach(
                    ProcessesState.scenarios,
                    lambda row: rx.table.row(
                        rx.table.cell(row["key"]),
                        rx.table.cell(row["name"]),
                        rx.table.cell(row["kind"]),
                        rx.table.cell(row["nodes"]),
                        rx.table.cell(row["steps"]),
                        # decisions by the names of gateways and flows; the ids on hover
                        rx.table.cell(
                            rx.text(
                                row["decisions"], title=row["decision_ids"], size="2", class_name="decisions"
                            )
                        ),
                        rx.table.cell(
                            rx.link(
                                rx.button("Open", size="1", variant="outline", tab_index=-1),
                                href="/scenarios/" + row["id"],
                            )
                        ),
                    ),
                )
            ),
            width="100%",
            variant="surface",
            id="scenarios-table",
        ),
        rx.callout(
            rx.vstack(
                rx.text("No scenarios", weight="bold"),
                rx.text("The generator found no path from a start event.", size="2"),
                spacing="1",
            ),
            icon="info",
            color_scheme="gray",
            width="100%",
            id="scenarios-table-empty",
        ),
    )


def _detail() -> rx.Component:
    return rx.cond(
        ProcessesState.selected_version != "",
        rx.vstack(
            rx.heading("Versions", size="4"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Version", "Source", "File", "Status", "Created", "")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        ProcessesState.versions,
                        lambda v: rx.table.row(
                            rx.table.cell(v["version"]),
                            rx.table.cell(v["source"]),
                            rx.table.cell(v["file"]),
                            rx.table.cell(v["status"]),
                            rx.table.cell(v["created_at"]),
                            rx.table.cell(
                                rx.hstack(
                                    rx.button(
                                        "Show",
                                        size="1",
                                        variant="soft",
                                        on_click=ProcessesState.select_version(v["id"]),
                                    ),
                                    rx.link(
                                        rx.button("Diagram", size="1", variant="outline", tab_index=-1),
                                        href="/processes/versions/" + v["id"],
                                        id="diagram-v" + v["version"],
                                    ),
                                    spacing="2",
                                )
                            ),
                        ),
                    )
                ),
                width="100%",
                variant="surface",
                id="versions-table",
            ),
            rx.heading("Graph summary", size="4"),
            rx.hstack(
                *[
                    _stat(label, ProcessesState.summary.get(key, ""))
                    for label, key in (
                        ("Version", "version"),
                        ("Nodes", "nodes"),
                        ("Flows", "flows"),
                        ("Message flows", "messageFlows"),
                        ("Gateways", "gateways"),
                        ("Tasks", "tasks"),
                        ("Events", "events"),
                        ("Loops", "loops"),
                        ("Parallel blocks", "parallelBlocks"),
                        ("Lanes", "lanes"),
                        ("Warnings", "warnings"),
                    )
                ],
                spacing="5",
                wrap="wrap",
                id="graph-summary",
            ),
            rx.heading("Generated suite", size="4"),
            rx.hstack(
                _stat("Strategy", ProcessesState.suite_info.get("strategy", "")),
                _stat("Flows covered", ProcessesState.suite_info.get("flows", "")),
                _stat("Flows reachable", ProcessesState.suite_info.get("reachable", "")),
                _stat("Decisions covered", ProcessesState.suite_info.get("decisions", "")),
                _stat("Distinct paths", ProcessesState.suite_info.get("paths", "")),
                _stat("Capped", ProcessesState.suite_info.get("capped", "")),
                spacing="5",
                id="suite-summary",
            ),
            uncovered_flows_panel(ProcessesState.uncovered),
            _scenario_table(),
            rx.cond(
                ProcessesState.version_warnings.length() > 0,
                rx.vstack(
                    rx.heading("Import warnings", size="3"),
                    rx.foreach(ProcessesState.version_warnings, lambda w: rx.text(w, size="1")),
                    id="version-warnings",
                    spacing="1",
                ),
            ),
            width="100%",
            spacing="3",
        ),
    )


ON_LOAD = [AppState.load_identity, ProcessList.load]


def index() -> rx.Component:
    return page(
        TITLE,
        _upload_card(),
        _process_table(),
        _detail(),
    )
