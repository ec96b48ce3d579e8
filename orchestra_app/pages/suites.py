"""Suites page: lists the tenant's suites."""

from __future__ import annotations

import reflex as rx

from components.layout import page
from components.tables import rows_table
from state.base import AppState, SectionState

ROUTE = "/suites"
TITLE = "Suites"
ON_LOAD = [AppState.load_identity, SectionState.load_suites]


def index() -> rx.Component:
    return page(
        TITLE,
        rows_table(
            SectionState.rows.get("suites", []),
            [
                ("Name", "name"),
                ("Process", "process"),
                ("Version", "process_version"),
                ("Scenarios", "scenarios"),
                ("Tags", "tags"),
                ("Created", "created_at"),
            ],
            empty_title="No scenario suites yet",
            empty_hint="Import a process on the Processes page; its suite is generated from the diagram.",
            table_id="suites-table",
        ),
    )
