"""Engine and session factory for the configured database (PostgreSQL, or the embedded SQLite file)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

import orchestra_app.db.validation  # noqa: F401  (validates jsonb columns before every flush)
from orchestra_app.settings import get_settings


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # The driver's own transaction handling starts a transaction only at the first write, so a
            # read-then-write unit of work could act on a stale read; SQLAlchemy emits BEGIN instead.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")  # concurrent writers wait for the lock, not fail
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
            # Writers take the write lock up front (no stale read, no deadlock between two upgrading
            # readers); readers keep WAL's non-blocking snapshots.
            immediate = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


WRITE_OPTION = "orchestra_write"


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().database_url)


@contextmanager
def session_scope(engine: Engine | None = None, *, write: bool = False) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on any error.

    ``write=True`` for a unit of work that reads and then writes what it read (next version number,
    get-or-create): on SQLite its transaction starts with BEGIN IMMEDIATE, i.e. it holds the write
    lock from its first statement; PostgreSQL callers lock rows themselves (services/concurrency.py).
    """
    bind = engine or get_engine()
    if write:
        bind = bind.execution_options(**{WRITE_OPTION: True})
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
