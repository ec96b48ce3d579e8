"""The Reflex app: pages, the REST API (api_transformer) and the embedded in-process worker."""

from __future__ import annotations

import reflex as rx

from executor import bootstrap
from orchestra_app.api.v1 import create_api
from orchestra_app.observability.logging import configure_logging
from orchestra_app.pages import (
    admin,
    data_sets,
    environments,
    home,
    not_found,
    process_version,
    processes,
    report,
    reports,
    runs,
    scenario,
    specs,
    suites,
)
from orchestra_app.settings import get_settings

PAGES = [
    home,
    processes,
    process_version,
    scenario,
    specs,
    suites,
    data_sets,
    environments,
    runs,
    reports,
    report,
    admin,
    not_found,
]


async def _embedded_worker() -> None:
    # Embedded default: no REDIS_URL, so the stub broker is drained by a worker inside this process.
    if get_settings().redis_url:
        return
    import executor.actors  # noqa: F401
    from executor.broker import start_in_process_worker

    start_in_process_worker()


bootstrap.wire()  # create_runs / cancel enqueue through Dramatiq (Redis, or the in-process stub broker)
configure_logging()  # JSON lines with tenant/run fields; unexpected errors logged with an id
app = rx.App(api_transformer=create_api(), stylesheets=["/orchestra.css"])
app.register_lifespan_task(_embedded_worker)
for module in PAGES:
    app.add_page(
        module.index, route=module.ROUTE, title=f"{module.TITLE} · Orchestra", on_load=module.ON_LOAD
    )
