"""Home page: where to start."""

from __future__ import annotations

import reflex as rx

from components.layout import SECTIONS, page
from state.base import AppState

ROUTE = "/"
TITLE = "Orchestra"
ON_LOAD = [AppState.load_identity]


def index() -> rx.Component:
    return page(
        TITLE,
        rx.text(
            "Import a business process and the specs of its services; Orchestra derives the test "
            "scenarios and runs them against the real services."
        ),
        rx.grid(
            *[rx.link(rx.card(rx.text(label, weight="bold")), href=href) for label, href, _ in SECTIONS],
            columns="4",
            spacing="3",
            width="100%",
        ),
    )
