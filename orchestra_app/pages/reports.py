"""Reports page: every ended run has a report (search scenario or suite, filter by status, open it)."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from components.layout import page
from components.lists import Column, list_view
from state.base import AppState
from state.lists import ListState

ROUTE = "/reports"
TITLE = "Reports"


class ReportList(ListState, rx.State):
    _section: ClassVar[str] = "reports"  # ended runs (services/reports.list_run_reports)


ON_LOAD = [AppState.load_identity, ReportList.load]


def index() -> rx.Component:
    return page(
        TITLE,
        list_view(
            ReportList,
            list_id="reports-table",
            columns=[
                Column("Scenario", "scenario"),
                Column("Suite", "suite"),
                Column("Status", "status"),
                Column("Duration", "duration"),
                Column("Run", "run_short", mono=True),
                Column("Created", "created_at"),
            ],
            search_placeholder="Search scenario or suite",
            filter_label="Status",
            empty_title="No reports yet",
            empty_hint="Every ended run has a report (page, self-contained HTML, JSON, JUnit XML). "
            "Run a suite on the Suites page.",
            row_actions=lambda row: rx.link(
                rx.button("Open report", size="1", variant="soft", tab_index=-1),
                href="/reports/" + row["id"],
                class_name="open-report",
                aria_label="Open the report of " + row["scenario"],
            ),
        ),
    )
