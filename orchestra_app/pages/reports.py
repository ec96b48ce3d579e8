"""Reports page: lists the tenant's reports."""

from __future__ import annotations

import reflex as rx

from components.layout import page
from components.tables import rows_table
from state.base import AppState, SectionState

ROUTE = "/reports"
TITLE = "Reports"
ON_LOAD = [AppState.load_identity, SectionState.load_reports]


def index() -> rx.Component:
    return page(
        TITLE,
        rows_table(
            SectionState.rows.get("reports", []),
            [("Run", "run"), ("Status", "status"), ("Created", "created_at")],
            empty_title="No reports yet",
            empty_hint="Every finished run produces a report (HTML, JSON, JUnit).",
            table_id="reports-table",
        ),
    )
