"""Environments page: environments and connection profiles - list, create/edit with errors beside the
fields, clone, delete with confirmation. Secrets appear only as references (state/environments.py)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.layout import page
from components.tables import more_rows_note
from state.base import AppState
from state.environments import KINDS, EnvironmentsState

ROUTE = "/environments"
TITLE = "Environments"
ON_LOAD = [AppState.load_identity, EnvironmentsState.load]

S = EnvironmentsState

ENV_HINTS = {
    "services": "name: {baseUrl: https://..., auth: {type: bearer, token: {secret: SHOP_TOKEN}}}",
    "variables": "region: eu   (read as {{env.region}})",
    "secrets": "SHOP_TOKEN: {env: SHOP_TOKEN}  or  DB_PASSWORD: {file: /run/secrets/db}  (never the value)",
    "profiles": "db: {orders: shop-pg}   kafka: {events: local-kafka}   queue: {payments: local-rabbit}",
    "pluginConfig": "http: {requestValidation: warn}",
}


def _field_error(errors: Any, name: str, prefix: str) -> rx.Component:
    return rx.cond(
        errors.contains(name),
        rx.text(
            errors[name], color_scheme="red", size="1", id=f"{prefix}-{name}-error", white_space="pre-wrap"
        ),
    )


def _env_field(name: str, label: str, *, area: bool = True) -> rx.Component:
    control: rx.Component
    if area:
        control = rx.text_area(
            value=S.env_form[name],
            on_change=lambda v: S.set_env_field(name, v),
            placeholder=ENV_HINTS.get(name, ""),
            rows="4",
            width="100%",
            font_family="monospace",
            id=f"env-{name}",
        )
    else:
        control = rx.input(
            value=S.env_form[name],
            on_change=lambda v: S.set_env_field(name, v),
            width="100%",
            id=f"env-{name}",
        )
    return rx.vstack(
        rx.text(label, size="2", weight="bold"),
        control,
        _field_error(S.env_errors, name, "env"),
        spacing="1",
        width="100%",
    )


def _env_editor() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(S.env_id == "", "New environment", "Edit environment")),
            rx.vstack(
                _field_error(S.env_errors, "form", "env"),
                _env_field("name", "Name", area=False),
                _env_field("description", "Description", area=False),
                _env_field("services", "Services (YAML)"),
                _env_field("variables", "Variables (YAML)"),
                _env_field("secrets", "Secret sources (YAML: where a worker reads each secret)"),
                _env_field("profiles", "Connection profiles (YAML: kind -> alias -> profile name)"),
                _env_field("pluginConfig", "Plugin settings (YAML)"),
                rx.hstack(
                    rx.button("Cancel", variant="soft", color_scheme="gray", on_click=S.close_environment),
                    rx.button("Save", on_click=S.save_environment, id="env-save"),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            max_width="760px",
        ),
        open=S.env_open,
        on_open_change=lambda _open: S.close_environment(),
    )


def _profile_editor() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(S.profile_id == "", "New connection profile", "Edit connection profile")),
            rx.vstack(
                _field_error(S.profile_errors, "form", "profile"),
                rx.text("Kind", size="2", weight="bold"),
                rx.select(
                    KINDS,
                    value=S.profile_form["kind"],
                    on_change=lambda v: S.set_profile_field("kind", v),
                    disabled=S.profile_id != "",
                    id="profile-kind",
                ),
                _field_error(S.profile_errors, "kind", "profile"),
                rx.text("Name (what environments map an alias to)", size="2", weight="bold"),
                rx.input(
                    value=S.profile_form["name"],
                    on_change=lambda v: S.set_profile_field("name", v),
                    width="100%",
                    id="profile-name",
                ),
                _field_error(S.profile_errors, "name", "profile"),
                rx.text("Settings (YAML; passwords as {secret: NAME})", size="2", weight="bold"),
                rx.text_area(
                    value=S.profile_form["settings"],
                    on_change=lambda v: S.set_profile_field("settings", v),
                    rows="8",
                    width="100%",
                    font_family="monospace",
                    id="profile-settings",
                ),
                _field_error(S.profile_errors, "settings", "profile"),
                rx.hstack(
                    rx.button("Cancel", variant="soft", color_scheme="gray", on_click=S.close_profile),
                    rx.button("Save", on_click=S.save_profile, id="profile-save"),
                    justify="end",
                    width="100%",
                ),
                spacing="2",
                width="100%",
            ),
            max_width="640px",
        ),
        open=S.profile_open,
        on_open_change=lambda _open: S.close_profile(),
    )


def _clone_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Clone environment"),
            rx.vstack(
                rx.input(value=S.clone_name, on_change=S.set_clone_name, width="100%", id="clone-name"),
                rx.cond(
                    S.clone_error != "",
                    rx.text(S.clone_error, color_scheme="red", size="1", id="clone-error"),
                ),
                rx.hstack(
                    rx.button("Cancel", variant="soft", color_scheme="gray", on_click=S.cancel_clone),
                    rx.button("Clone", on_click=S.clone, id="clone-confirm"),
                    justify="end",
                    width="100%",
                ),
                spacing="2",
            ),
        ),
        open=S.clone_source != "",
        on_open_change=lambda _open: S.cancel_clone(),
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete ", S.delete_name, "?"),
            rx.alert_dialog.description(
                rx.cond(
                    S.delete_kind == "environment",
                    "Runs created with it keep their own copy; the profiles it maps stay.",
                    "A profile an environment still maps cannot be deleted.",
                )
            ),
            rx.cond(
                S.delete_error != "", rx.text(S.delete_error, color_scheme="red", size="1", id="delete-error")
            ),
            rx.hstack(
                rx.button("Cancel", variant="soft", color_scheme="gray", on_click=S.cancel_delete),
                rx.button("Delete", color_scheme="red", on_click=S.confirm_delete, id="delete-confirm"),
                justify="end",
                width="100%",
            ),
        ),
        open=S.delete_id != "",
    )


def _env_table() -> rx.Component:
    headers = ["Name", "Services", "DB", "Kafka", "Queues", "Secrets (references)", "Version", ""]
    return rx.cond(
        S.environments.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(
                rx.foreach(
                    S.environments,
                    lambda row: rx.table.row(
                        rx.table.cell(row["name"]),
                        rx.table.cell(row["services"]),
                        rx.table.cell(row["db"]),
                        rx.table.cell(row["kafka"]),
                        rx.table.cell(row["queue"]),
                        rx.table.cell(row["secrets"]),
                        rx.table.cell(row["version"]),
                        rx.table.cell(
                            rx.hstack(
                                rx.button(
                                    "Edit", size="1", variant="soft", on_click=S.edit_environment(row["id"])
                                ),
                                rx.button(
                                    "Clone",
                                    size="1",
                                    variant="soft",
                                    on_click=S.ask_clone(row["id"], row["name"]),
                                ),
                                rx.button(
                                    "Delete",
                                    size="1",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=S.ask_delete("environment", row["id"], row["name"]),
                                ),
                                spacing="1",
                            )
                        ),
                    ),
                )
            ),
            width="100%",
            variant="surface",
            id="environments-table",
        ),
        rx.callout(
            "No environments yet: an environment maps service names and connection aliases to endpoints.",
            icon="info",
            color_scheme="gray",
            width="100%",
            id="environments-table-empty",
        ),
    )


def _profile_table() -> rx.Component:
    headers = ["Kind", "Name", "Target", "Secrets (references)", "Used by", ""]
    return rx.cond(
        S.profiles.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(
                rx.foreach(
                    S.profiles,
                    lambda row: rx.table.row(
                        rx.table.cell(row["kind"]),
                        rx.table.cell(row["name"]),
                        rx.table.cell(row["target"]),
                        rx.table.cell(row["secrets"]),
                        rx.table.cell(row["used_by"]),
                        rx.table.cell(
                            rx.hstack(
                                rx.button(
                                    "Edit",
                                    size="1",
                                    variant="soft",
                                    on_click=S.edit_profile(row["kind"], row["id"]),
                                ),
                                rx.button(
                                    "Delete",
                                    size="1",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=S.ask_delete(row["kind"], row["id"], row["name"]),
                                ),
                                spacing="1",
                            )
                        ),
                    ),
                )
            ),
            width="100%",
            variant="surface",
            id="profiles-table",
        ),
        rx.callout(
            "No connection profiles yet: DB, Kafka and queue assertions reach systems through them.",
            icon="info",
            color_scheme="gray",
            width="100%",
            id="profiles-table-empty",
        ),
    )


def index() -> rx.Component:
    return page(
        TITLE,
        rx.cond(S.message != "", rx.callout(S.message, icon="check", color_scheme="green", id="env-message")),
        rx.cond(
            S.error != "", rx.callout(S.error, icon="triangle-alert", color_scheme="red", id="env-load-error")
        ),
        rx.hstack(
            rx.heading("Environments", size="4"),
            rx.spacer(),
            rx.button("New environment", on_click=S.new_environment, id="env-new"),
            width="100%",
        ),
        _env_table(),
        rx.hstack(
            rx.heading("Connection profiles", size="4"),
            rx.spacer(),
            rx.button("New profile", on_click=S.new_profile, id="profile-new"),
            width="100%",
        ),
        _profile_table(),
        more_rows_note(S.more_note, note_id="environments-more"),
        _env_editor(),
        _profile_editor(),
        _clone_dialog(),
        _delete_dialog(),
    )
