"""The one list component every page uses: search, filter, pagination, delete with confirmation,
and proper loading, empty, no-match and error states.

Recipe (a page with a list of processes)::

    # the page module (or state/ when two pages share it)
    class ProcessList(ListState, rx.State):          # ListState is a mixin: add rx.State
        _section: ClassVar[str] = "processes"           # services.session.SECTION_QUERIES key
        _delete_kind: ClassVar[str | None] = "process"  # services.deletion kind; None = no delete

    ON_LOAD = [AppState.load_identity, ProcessList.load]

    list_view(
        ProcessList,
        list_id="processes-table",                      # ids: <id>, <id>-search, <id>-filter, <id>-empty ...
        columns=[Column("Key", "key"), Column("Name", "name"),
                 Column("Open", "", render=lambda row: rx.link("Open", href="/processes/" + row["id"]))],
        search_placeholder="Search key or name",
        filter_label="Source",                         # options come from ListState._options
        empty_title="No processes imported yet",
        empty_hint="Import a BPMN 2.0 file or a sequence diagram above.",
        row_label="key",                               # row key named in the delete button's aria-label
    )

Rows are dicts of strings (``row["id"]`` is what delete acts on). A list that is not a catalog section
overrides ``ListState._fetch`` (and ``_options`` / ``_impact`` / ``_delete``) in its subclass.
Keyboard: the search box, filter, page buttons and each row's buttons are in tab order; the dialog
traps focus, Escape cancels, and the confirm button is focused first only when nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx

from state.lists import ALL, PAGE_SIZES, ListState

CELL_STYLE = {"overflowWrap": "anywhere", "wordBreak": "break-word"}


@dataclass(frozen=True)
class Column:
    """A column: its header and the row key shown, or ``render(row)`` for anything richer."""

    header: str
    key: str = ""
    render: Callable[[Any], rx.Component] | None = None
    width: str | None = None
    mono: bool = False


def _cell(column: Column, row: Any) -> rx.Component:
    if column.render is not None:
        content = column.render(row)
    elif column.mono:
        content = rx.code(row[column.key], size="1", style=CELL_STYLE)
    else:
        content = rx.text(row[column.key], size="2", style=CELL_STYLE)
    props: dict[str, Any] = {"style": CELL_STYLE}
    if column.width:
        props["width"] = column.width
    return rx.table.cell(content, **props)


def _toolbar(
    state: type[ListState], list_id: str, search_placeholder: str, filter_label: str | None
) -> rx.Component:
    parts: list[rx.Component] = [
        rx.debounce_input(
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                value=state.search,
                on_change=state.set_search,
                placeholder=search_placeholder,
                id=f"{list_id}-search",
                aria_label=search_placeholder,
                type="search",
                width="100%",
                max_width="22rem",
            ),
            debounce_timeout=300,
        )
    ]
    if filter_label:
        parts.append(
            rx.hstack(
                rx.text(filter_label, size="2", color_scheme="gray"),
                rx.select.root(
                    rx.select.trigger(id=f"{list_id}-filter", aria_label=filter_label),
                    rx.select.content(
                        rx.select.item("All", value=ALL),
                        rx.foreach(state.filter_options, lambda o: rx.select.item(o[0], value=o[1])),
                    ),
                    value=state.filter_value,
                    on_change=state.set_filter,
                ),
                spacing="2",
                align="center",
            )
        )
    parts.append(rx.spacer())
    parts.append(
        rx.cond(
            state.loading,
            rx.hstack(
                rx.spinner(size="1"), rx.text("Loading...", size="1"), id=f"{list_id}-loading", align="center"
            ),
        )
    )
    parts.append(
        rx.icon_button(
            rx.icon("refresh-cw", size=14),
            variant="ghost",
            size="1",
            on_click=state.refresh,
            aria_label="Reload the list",
            title="Reload",
            id=f"{list_id}-reload",
        )
    )
    return rx.hstack(*parts, width="100%", align="center", spacing="3", wrap="wrap")


def _pager(state: type[ListState], list_id: str) -> rx.Component:
    return rx.hstack(
        rx.text(state.range_text, size="1", color_scheme="gray", id=f"{list_id}-range"),
        rx.spacer(),
        rx.text("Rows per page", size="1", color_scheme="gray"),
        rx.select.root(
            rx.select.trigger(id=f"{list_id}-page-size", aria_label="Rows per page"),
            rx.select.content(*[rx.select.item(str(n), value=str(n)) for n in PAGE_SIZES]),
            value=state.page_size.to_string(),  # type: ignore[attr-defined]
            on_change=state.set_page_size,
            size="1",
        ),
        rx.button(
            rx.icon("chevron-left", size=14),
            "Previous",
            size="1",
            variant="soft",
            disabled=~state.has_prev,  # type: ignore[operator]
            on_click=state.prev_page,
            id=f"{list_id}-prev",
        ),
        rx.button(
            "Next",
            rx.icon("chevron-right", size=14),
            size="1",
            variant="soft",
            disabled=~state.has_next,  # type: ignore[operator]
            on_click=state.next_page,
            id=f"{list_id}-next",
        ),
        width="100%",
        align="center",
        spacing="2",
    )


def _confirm_dialog(state: type[ListState], list_id: str) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete?"),
            rx.alert_dialog.description(
                rx.text(state.confirm_text, id=f"{list_id}-confirm-text"),
            ),
            rx.cond(
                state.confirm_cascade & ~state.confirm_blocked,  # type: ignore[operator]
                rx.callout(
                    "Everything listed above is deleted with it; versions are not kept.",
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    margin_top="0.75rem",
                ),
            ),
            rx.cond(
                state.delete_error != "",
                rx.callout(
                    state.delete_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    margin_top="0.75rem",
                    id=f"{list_id}-delete-error",
                ),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", color_scheme="gray", id=f"{list_id}-cancel-button"),
                ),
                rx.cond(
                    ~state.confirm_blocked & (state.confirm_text != ""),  # type: ignore[operator]
                    rx.button(
                        rx.cond(state.deleting, rx.spinner(size="1"), rx.icon("trash-2", size=14)),
                        "Delete",
                        color_scheme="red",
                        on_click=state.confirm_delete,
                        disabled=state.deleting,
                        id=f"{list_id}-confirm-button",
                    ),
                ),
                spacing="3",
                margin_top="1rem",
                justify="end",
            ),
            id=f"{list_id}-confirm",
        ),
        open=state.confirm_open,
        on_open_change=state.set_confirm_open,
    )


def list_view(
    state: type[ListState],
    *,
    list_id: str,
    columns: list[Column],
    empty_title: str,
    empty_hint: str,
    search_placeholder: str = "Search",
    filter_label: str | None = None,
    row_actions: Callable[[Any], rx.Component] | None = None,
    deletable: bool = False,
    row_label: str = "id",
) -> rx.Component:
    """The list with its toolbar, states, pager and delete dialog (see the module docstring)."""
    headers = [rx.table.column_header_cell(c.header, width=c.width) for c in columns]
    if row_actions is not None or deletable:
        headers.append(rx.table.column_header_cell(rx.text("Actions", class_name="sr-only")))

    def row_view(row: Any) -> rx.Component:
        cells = [_cell(c, row) for c in columns]
        actions: list[rx.Component] = []
        if row_actions is not None:
            actions.append(row_actions(row))
        if deletable:
            actions.append(
                rx.icon_button(
                    rx.icon("trash-2", size=14),
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=state.ask_delete(row["id"]),
                    aria_label="Delete " + row[row_label],
                    title="Delete",
                    class_name="delete-row",
                )
            )
        if actions:
            cells.append(rx.table.cell(rx.hstack(*actions, spacing="2", justify="end")))
        return rx.table.row(*cells, data_id=row["id"])

    table = rx.table.root(
        rx.table.header(rx.table.row(*headers)),
        rx.table.body(rx.foreach(state.rows, row_view)),
        width="100%",
        variant="surface",
        size="1",
        id=list_id,
        style={"tableLayout": "auto", "opacity": rx.cond(state.loading, "0.6", "1")},
    )
    body = rx.cond(
        state.error != "",
        rx.callout(
            rx.hstack(
                rx.text(state.error),
                rx.button("Retry", size="1", variant="soft", on_click=state.refresh, id=f"{list_id}-retry"),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            icon="triangle-alert",
            color_scheme="red",
            width="100%",
            id=f"{list_id}-error",
        ),
        rx.cond(
            state.rows.length() > 0,  # type: ignore[attr-defined]
            table,
            rx.cond(
                state.loaded,
                rx.cond(
                    state.narrowed,
                    rx.callout(
                        "No rows match the search or filter.",
                        icon="search-x",
                        color_scheme="gray",
                        width="100%",
                        id=f"{list_id}-nomatch",
                    ),
                    rx.callout(
                        rx.vstack(
                            rx.text(empty_title, weight="bold"), rx.text(empty_hint, size="2"), spacing="1"
                        ),
                        icon="info",
                        color_scheme="gray",
                        width="100%",
                        id=f"{list_id}-empty",
                    ),
                ),
                rx.vstack(
                    *[rx.skeleton(height="1.75rem", width="100%") for _ in range(3)],
                    width="100%",
                    spacing="2",
                    id=f"{list_id}-skeleton",
                ),
            ),
        ),
    )
    return rx.vstack(
        _toolbar(state, list_id, search_placeholder, filter_label),
        rx.cond(
            state.notice != "",
            rx.callout(state.notice, icon="check", color_scheme="green", size="1", id=f"{list_id}-notice"),
        ),
        body,
        rx.cond(state.total > 0, _pager(state, list_id)),
        _confirm_dialog(state, list_id) if deletable else rx.fragment(),
        width="100%",
        spacing="3",
        id=f"{list_id}-list",
    )
