"""The 404 page, inside the app's layout (navigation stays), for every unknown route."""

from __future__ import annotations

import reflex as rx

from components.layout import SECTIONS, page
from state.base import AppState

ROUTE = "404"
TITLE = "Page not found"
ON_LOAD = [AppState.load_identity]


def index() -> rx.Component:
    return page(
        TITLE,
        rx.callout(
            rx.vstack(
                rx.text("There is no page at this address.", weight="bold"),
                rx.text(
                    "The link may be old or mistyped. Pick a section below or in the navigation.", size="2"
                ),
                spacing="1",
            ),
            icon="map-pin-off",
            color_scheme="gray",
            width="100%",
            id="not-found",
        ),
        rx.flex(
            *[
                rx.link(rx.button(label, variant="soft", tab_index=-1), href=href)
                for label, href, _ in SECTIONS
            ],
            spacing="2",
            wrap="wrap",
        ),
        rx.link("Back to the start page", href="/", id="not-found-home"),
    )
