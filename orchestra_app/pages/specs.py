"""Specs page: lists the tenant's specs."""

from __future__ import annotations

import reflex as rx

from components.layout import page
from components.tables import rows_table
from state.base import AppState, SectionState

ROUTE = "/specs"
TITLE = "Specs"
ON_LOAD = [AppState.load_identity, SectionState.load_specs]


def index() -> rx.Component:
    return page(
        TITLE,
        rows_table(
            SectionState.rows.get("specs", []),
            [
                ("Protocol", "protocol"),
                ("Service", "service"),
                ("Version", "version"),
                ("Operations", "operations"),
                ("Status", "status"),
                ("Imported", "created_at"),
            ],
            empty_title="No specs imported yet",
            empty_hint="Import OpenAPI, AsyncAPI or protobuf files with `orchestra spec import` or the upload below.",
            table_id="specs-table",
        ),
    )
