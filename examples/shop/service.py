"""What the three services share: settings, storage, fault registry, spec, health, app assembly."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from examples.shop.api import SPECS_DIR, Call, Handler, Result, ServiceSpec, build_routes, http_exception
from examples.shop.db import Database
from examples.shop.faults import FaultRegistry, FaultSpec

log = logging.getLogger("shop")


@dataclass
class ServiceSettings:
    """What one service needs to start; the launcher fills it from options and environment."""

    db_url: str
    kafka_bootstrap: str | None = None
    kafka_topic: str = "shop.orders"
    amqp_url: str | None = None
    amqp_exchange: str = "shop.payments"
    amqp_queue: str | None = "shop.payments.audit"
    payment_limit: str = "1000.00"
    transient_failures: int = 1
    peer_timeout_s: float = 5.0


def request_hash(body: Any) -> str:
    """Stable fingerprint of a JSON body, for idempotency keys."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def insert_ignoring_conflicts(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on both databases; returns the number of rows inserted."""
    if not rows:
        return 0
    stmt: Any
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    # RETURNING tells what was inserted; an INSERT's rowcount is not reported by SQLAlchemy 2 (-1).
    stmt = stmt.returning(*table.primary_key.columns)
    return sum(len(conn.execute(stmt, row).all()) for row in rows)


class ShopService:
    """Base of the order, payment and inventory services."""

    name = ""
    schema = ""
    spec_file = ""
    metadata: sa.MetaData

    def __init__(self, settings: ServiceSettings, faults: list[FaultSpec]) -> None:
        self.settings = settings
        self.db = Database(settings.db_url, self.schema, self.metadata)
        self.faults = FaultRegistry(self.name, faults)
        self.spec = ServiceSpec(SPECS_DIR / self.spec_file)

    # ---- lifecycle (the launcher calls these around serving) ------------------------------------

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self.db.create_tables)

    async def stop(self) -> None:
        await anyio.to_thread.run_sync(self.db.dispose)

    def event_channels(self) -> dict[str, dict[str, Any]]:
        return {}

    # ---- HTTP ------------------------------------------------------------------------------------

    def handlers(self) -> Mapping[str, Handler]:
        raise NotImplementedError

    def app(self) -> Starlette:
        return Starlette(
            routes=build_routes(self.spec, self.handlers(), self.faults),
            exception_handlers={HTTPException: http_exception},
        )

    async def health(self, call: Call) -> Result:
        error = await anyio.to_thread.run_sync(self.db.ping)
        database: dict[str, Any] = {"kind": self.db.kind, "status": "ok" if error is None else "unavailable"}
        if error is not None:
            database["error"] = error
        channels = self.event_channels()
        degraded = error is not None or any(c.get("enabled") and c.get("failed") for c in channels.values())
        return Result(
            200,
            {
                "service": self.name,
                "status": "degraded" if degraded else "ok",
                "database": database,
                "events": channels,
                "faults": self.faults.enabled_names(),
            },
        )

    async def run(self, work: Any, *args: Any) -> Any:
        """Blocking database work runs in a worker thread, never on the event loop."""
        return await anyio.to_thread.run_sync(work, *args)
