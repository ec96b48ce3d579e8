"""Environments page: lists the tenant's environments."""

from __future__ import annotations

import reflex as rx

from components.layout import page
from components.tables import rows_table
from state.base import AppState, SectionState

ROUTE = "/environments"
TITLE = "Environments"
ON_LOAD = [AppState.load_identity, SectionState.load_environments]


def index() -> rx.Component:
    return page(
        TITLE,
        rows_table(
            SectionState.rows.get("environments", []),
            [
                ("Name", "name"),
                ("HTTP services", "services"),
                ("DB", "db"),
                ("Kafka", "kafka"),
                ("Queues", "queues"),
            ],
            empty_title="No environments yet",
            empty_hint="An environment maps service names and connector aliases to real endpoints.",
            table_id="environments-table",
        ),
    )
