"""The suite panel's list of sequence flows no scenario takes, each with its reason code."""

from __future__ import annotations

from typing import Any

import reflex as rx


def uncovered_flows_panel(rows: Any) -> rx.Component:
    """``rows`` is a Var of list[dict[str, str]] with ``flow``, ``reason``, ``detail``; hidden when empty."""
    return rx.cond(
        rows.length() > 0,  # type: ignore[attr-defined]
        rx.vstack(
            rx.heading("Uncovered flows", size="3"),
            rx.text(
                "No scenario takes these sequence flows. The reason code says why "
                "(NO_PATH_FROM_START, UNMATCHED_LINK, CAPPED, ...: see docs/scenario-generation.md).",
                size="1",
                color_scheme="gray",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(*[rx.table.column_header_cell(h) for h in ("Flow", "Reason", "Why")])
                ),
                rx.table.body(
                    rx.foreach(
                        rows,
                        lambda row: rx.table.row(
                            rx.table.cell(rx.code(row["flow"])),
                            rx.table.cell(rx.badge(row["reason"], color_scheme="orange")),
                            rx.table.cell(rx.text(row["detail"], size="1")),
                        ),
                    )
                ),
                width="100%",
                variant="surface",
                size="1",
            ),
            spacing="2",
            width="100%",
            id="uncovered-flows",
        ),
    )
