"""Runs page: lists the tenant's runs."""

from __future__ import annotations

import reflex as rx

from components.layout import page
from components.tables import rows_table
from state.base import AppState, SectionState

ROUTE = "/runs"
TITLE = "Runs"
ON_LOAD = [AppState.load_identity, SectionState.load_runs]


def index() -> rx.Component:
    return page(
        TITLE,
        rows_table(
            SectionState.rows.get("runs", []),
            [
                ("Scenario", "scenario"),
                ("Mode", "mode"),
                ("Status", "status"),
                ("Started", "started_at"),
                ("Finished", "finished_at"),
            ],
            empty_title="No runs yet",
            empty_hint="Runs appear here once a scenario is started.",
            table_id="runs-table",
        ),
    )
