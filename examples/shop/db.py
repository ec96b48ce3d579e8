"""Storage for the demo services: PostgreSQL (a schema per service) or SQLite (a file per service).

The services use SQLAlchemy Core with explicit SQL-shaped statements. On PostgreSQL every service
keeps its tables in its own schema (``orders``, ``payments``, ``inventory``) of one database; on
SQLite every service has its own file and the schema name is dropped (``schema_translate_map``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
CENT = Decimal("0.01")


def now() -> datetime:
    return datetime.now(UTC)


def money(value: Any) -> Decimal:
    """A JSON number or stored value as a two-decimal Decimal (floats through their shortest repr)."""
    if isinstance(value, Decimal):
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def has_more_than_two_decimals(value: Any) -> bool:
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return exact != exact.quantize(CENT)


class Money(sa.types.TypeDecorator[Decimal]):
    """NUMERIC(12, 2) on PostgreSQL; text on SQLite (which has no decimal type and would round)."""

    impl = sa.Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.Numeric(12, 2))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        amount = money(value)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        return None if value is None else money(value)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; ISO text in UTC on SQLite, read back timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// go through psycopg 3; sqlite URLs are kept."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def kind_of(url: str) -> str:
    if url.startswith("postgresql"):
        return "postgresql"
    if url.startswith("sqlite"):
        return "sqlite"
    raise ValueError(f"unsupported database URL {url!r}: use postgresql://... or sqlite:///FILE")


class Database:
    """One service's engine plus its schema name; blocking, so call it from a worker thread."""

    def __init__(self, url: str, schema: str, metadata: sa.MetaData) -> None:
        self.url = normalize_url(url)
        self.kind = kind_of(self.url)
        self.schema = schema
        self.metadata = metadata
        if self.kind == "sqlite":
            if sa.engine.make_url(self.url).database in (None, "", ":memory:"):
                raise ValueError(f"{url!r}: an in-memory SQLite database cannot be shared; give a file")
            engine = sa.create_engine(
                self.url,
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=10,
                max_overflow=20,
            )
            sa.event.listen(engine, "connect", _sqlite_connect)
            sa.event.listen(engine, "begin", _sqlite_begin)
            self.engine: Engine = engine.execution_options(schema_translate_map={schema: None})
        else:
            self.engine = sa.create_engine(
                self.url, pool_size=10, max_overflow=40, pool_pre_ping=True, pool_timeout=60
            )

    def create_tables(self) -> None:
        """Idempotent; several processes starting at once on one PostgreSQL database take turns."""
        with self.engine.begin() as conn:
            if self.kind == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(b"shop-schema")}
                )
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            self.metadata.create_all(conn)

    def transaction(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return work(conn)

    def ping(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return None
        except Exception as exc:  # reported in /health, never raised
            return str(exc).splitlines()[0][:300]

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE: a deferred transaction that reads and
    # then writes can fail with "database is locked" at once instead of waiting for the writer.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_url(data_dir: Path, service: str) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / f'{service}.db').resolve()}"
