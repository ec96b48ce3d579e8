"""Processes page: lists the tenant's processes and their versions."""

from __future__ import annotations

import reflex as rx

from components.layout import page
from components.tables import rows_table
from state.base import AppState, SectionState

ROUTE = "/processes"
TITLE = "Processes"
ON_LOAD = [AppState.load_identity, SectionState.load_processes]


def index() -> rx.Component:
    return page(
        TITLE,
        rows_table(
            SectionState.rows.get("processes", []),
            [
                ("Key", "key"),
                ("Name", "name"),
                ("Latest version", "latest_version"),
                ("Versions", "versions"),
                ("Created", "created_at"),
            ],
            empty_title="No processes imported yet",
            empty_hint="Import a BPMN 2.0 file or a sequence diagram (mermaid, PlantUML, JSON).",
            table_id="processes-table",
        ),
    )
