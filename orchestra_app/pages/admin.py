"""Admin page: members of the tenant with their roles, and the audit log."""

from __future__ import annotations

import reflex as rx

from components.layout import page
from components.tables import rows_table
from state.base import AppState, SectionState

ROUTE = "/admin"
TITLE = "Admin"
ON_LOAD = [AppState.load_identity, SectionState.load_admin]


def index() -> rx.Component:
    return page(
        TITLE,
        rx.heading("Members", size="4"),
        rows_table(
            SectionState.rows.get("members", []),
            [("Name", "name"), ("Email", "email"), ("Role", "role")],
            empty_title="No members",
            empty_hint="Members appear when they first sign in through the tenant's OIDC provider.",
            table_id="members-table",
        ),
        rx.heading("Audit log", size="4"),
        rows_table(
            SectionState.rows.get("audit", []),
            [("Action", "action"), ("Entity", "entity"), ("When", "created_at")],
            empty_title="No audit entries yet",
            empty_hint="Imports, publications and runs are recorded here.",
            table_id="audit-table",
        ),
    )
