"""Page chrome: navigation for every section, the identity badge, and a content area."""

from __future__ import annotations

import reflex as rx

from state.base import AppState

SECTIONS: list[tuple[str, str, str]] = [
    ("Processes", "/processes", "workflow"),
    ("Specs", "/specs", "file-code"),
    ("Suites", "/suites", "list-checks"),
    ("Data sets", "/data-sets", "database"),
    ("Environments", "/environments", "server"),
    ("Runs", "/runs", "play"),
    ("Reports", "/reports", "file-bar-chart"),
    ("Admin", "/admin", "shield"),
]


def _nav_link(label: str, href: str, icon: str) -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon(icon, size=16), rx.text(label, size="3"), spacing="2", align="center"),
        href=href,
        underline="none",
        padding_x="0.75rem",
        padding_y="0.5rem",
        border_radius="6px",
        width="100%",
        _hover={"background": rx.color("accent", 3)},
        id=f"nav-{href.strip('/')}",
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.link(rx.heading("Orchestra", size="5"), href="/", underline="none"),
        rx.text("process-driven tests", size="1", color_scheme="gray"),
        rx.divider(),
        *[_nav_link(label, href, icon) for label, href, icon in SECTIONS],
        width="13rem",
        min_width="13rem",
        min_height="100vh",
        padding="1rem",
        spacing="1",
        border_right=f"1px solid {rx.color('gray', 5)}",
        as_="nav",
    )


def identity_badge() -> rx.Component:
    return rx.hstack(
        rx.cond(
            AppState.is_development,
            rx.badge(
                "Development identity: built-in tenant and admin (no OIDC configured)",
                color_scheme="orange",
                id="dev-identity-badge",
            ),
        ),
        rx.text(AppState.user_name, size="2"),
        rx.text(AppState.tenant_label, size="1", color_scheme="gray"),
        spacing="3",
        align="center",
    )


def page(title: str, *children: rx.Component, actions: rx.Component | None = None) -> rx.Component:
    """The layout every route uses: a skip link, the navigation, the title bar and the content.

    The content column may shrink below its children's natural width (``min_width=0``): a wide
    table wraps its cells instead of widening the page, so 1280 px never scrolls sideways.
    """
    return rx.hstack(
        rx.el.a(
            "Skip to content",
            href="#content",
            class_name="skip-link",
            id="skip-link",
            # the router keeps hash links from moving the focus: move it to the content ourselves
            on_click=rx.call_script("document.getElementById('content')?.focus()"),
        ),
        sidebar(),
        rx.vstack(
            rx.hstack(
                rx.heading(title, size="6", id="page-title"),
                rx.spacer(),
                identity_badge(),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            *([actions] if actions is not None else []),
            *children,
            padding="1.5rem",
            width="100%",
            # the sidebar takes its 13rem out of the row: without min_width=0 the content keeps its
            # widest child's width and runs off the right edge
            min_width="0",
            flex="1",
            spacing="4",
            as_="main",
            id="content",
            tab_index=-1,
        ),
        align="start",
        spacing="0",
        width="100%",
    )
