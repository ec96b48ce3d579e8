"""A table of rows with a proper empty state."""

from __future__ import annotations

from typing import Any

import reflex as rx


def rows_table(
    rows: Any, columns: list[tuple[str, str]], *, empty_title: str, empty_hint: str, table_id: str
) -> rx.Component:
    """``rows`` is a Var of list[dict[str, str]]; ``columns`` pairs a header with a row key."""
    return rx.cond(
        rows.length() > 0,  # type: ignore[attr-defined]
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h, _ in columns])),
            rx.table.body(
                rx.foreach(
                    rows,
                    lambda row: rx.table.row(*[rx.table.cell(row[key]) for _, key in columns]),
                )
            ),
            width="100%",
            variant="surface",
            id=table_id,
        ),
        rx.callout(
            rx.vstack(rx.text(empty_title, weight="bold"), rx.text(empty_hint, size="2"), spacing="1"),
            icon="info",
            color_scheme="gray",
            width="100%",
            id=f"{table_id}-empty",
        ),
    )


def more_rows_note(note: Any, *, note_id: str) -> rx.Component:
    """``note`` (a str Var, e.g. "showing the newest 200 of 1,234") shown under a list when it is cut."""
    return rx.cond(note != "", rx.text(note, size="1", color_scheme="gray", id=note_id))


def page_buttons(state: Any, *, id_prefix: str) -> list[rx.Component]:
    """Previous / Next buttons of a paged table whose state has ``has_prev``, ``has_next``,
    ``prev_page`` and ``next_page``; ids ``<prefix>-prev`` / ``<prefix>-next``."""
    return [
        rx.button(
            "Previous",
            size="1",
            variant="soft",
            disabled=~state.has_prev,
            on_click=state.prev_page,
            id=f"{id_prefix}-prev",
        ),
        rx.button(
            "Next",
            size="1",
            variant="soft",
            disabled=~state.has_next,
            on_click=state.next_page,
            id=f"{id_prefix}-next",
        ),
    ]
