"""Admin page: members of the tenant with their roles, and the audit log (who did what, by name)."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from components.layout import page
from components.lists import Column, list_view
from state.base import AppState
from state.lists import ListState

ROUTE = "/admin"
TITLE = "Admin"


class MemberList(ListState, rx.State):
    _section: ClassVar[str] = "members"


class AuditList(ListState, rx.State):
    _section: ClassVar[str] = "audit"


ON_LOAD = [AppState.load_identity, MemberList.load, AuditList.load]


def index() -> rx.Component:
    return page(
        TITLE,
        rx.heading("Members", size="4"),
        list_view(
            MemberList,
            list_id="members-table",
            columns=[Column("Name", "name"), Column("Email", "email"), Column("Role", "role")],
            search_placeholder="Search name or email",
            filter_label="Role",
            empty_title="No members",
            empty_hint="Members appear when they first sign in through the tenant's OIDC provider.",
        ),
        rx.heading("Audit log", size="4"),
        list_view(
            AuditList,
            list_id="audit-table",
            columns=[
                Column("When", "created_at", width="9rem"),
                Column("Who", "user"),
                Column("Action", "action", mono=True),
                Column("What", "entity"),
                Column("Details", render=lambda row: rx.text(row["details"], size="1", color_scheme="gray")),
            ],
            search_placeholder="Search actions, names, details",
            filter_label="Area",
            empty_title="No audit entries yet",
            empty_hint="Imports, bindings, runs and deletions are recorded here.",
        ),
    )
