"""Data sets page: lists the tenant's data sets."""

from __future__ import annotations

import reflex as rx

from components.layout import page
from components.tables import rows_table
from state.base import AppState, SectionState

ROUTE = "/data-sets"
TITLE = "Data sets"
ON_LOAD = [AppState.load_identity, SectionState.load_data_sets]


def index() -> rx.Component:
    return page(
        TITLE,
        rows_table(
            SectionState.rows.get("data_sets", []),
            [
                ("Name", "name"),
                ("Scope", "scope"),
                ("Origin", "origin"),
                ("Tags", "tags"),
                ("Created", "created_at"),
            ],
            empty_title="No test data sets yet",
            empty_hint="Data sets feed {{data.*}} placeholders of scenario steps.",
            table_id="data-sets-table",
        ),
    )
