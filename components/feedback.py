"""Outcome callouts shown next to an upload: what was imported, what failed, and the warnings."""

from __future__ import annotations

from typing import Any

import reflex as rx


def import_feedback(
    *, message: Any, error: Any, warnings: Any, id_prefix: str, partial: Any = None
) -> rx.Component:
    """``message``/``error`` are str Vars, ``warnings`` a list[str] Var; ids are ``<prefix>-result`` etc.

    ``partial`` (a str Var) reports imports that were stored but do not cover the whole file: an amber
    callout (``<prefix>-partial``), not the green one of a plain success.
    """
    partial_part: list[rx.Component] = []
    if partial is not None:
        partial_part.append(
            rx.cond(
                partial != "",
                rx.callout(
                    partial,
                    icon="triangle-alert",
                    color_scheme="amber",
                    id=f"{id_prefix}-partial",
                    white_space="pre-wrap",
                    width="100%",
                ),
            )
        )
    return rx.fragment(
        *partial_part,
        rx.cond(
            message != "",
            rx.callout(
                message,
                icon="check",
                color_scheme="green",
                id=f"{id_prefix}-result",
                white_space="pre-wrap",
                width="100%",
            ),
        ),
        rx.cond(
            error != "",
            rx.callout(
                error,
                icon="triangle-alert",
                color_scheme="red",
                id=f"{id_prefix}-error",
                white_space="pre-wrap",
                width="100%",
            ),
        ),
        rx.cond(
            warnings.length() > 0,
            rx.callout(
                rx.vstack(
                    rx.text("Warnings", weight="bold"),
                    rx.foreach(warnings, lambda w: rx.text(w, size="1")),
                    spacing="1",
                ),
                icon="info",
                color_scheme="amber",
                id=f"{id_prefix}-warnings",
                width="100%",
            ),
        ),
    )
