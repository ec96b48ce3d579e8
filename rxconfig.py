"""Reflex configuration; reads orchestra_app.settings only."""

import reflex as rx

from orchestra_app.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="orchestra_app",
    telemetry_enabled=False,
    frontend_port=_settings.port,
    backend_port=_settings.port,  # prod mode serves frontend and backend on one port
    db_url=_settings.database_url,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
