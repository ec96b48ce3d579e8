"""Read-only query execution per database kind: PostgreSQL (psycopg 3), MariaDB/MySQL (PyMySQL), SQLite.

Each query runs in its own READ ONLY transaction with a server-side statement timeout and is always
rolled back, on a pooled connection (one SQLAlchemy pool per environment and profile alias):

* PostgreSQL: ``BEGIN READ ONLY``; ``statement_timeout``/``lock_timeout`` and ``search_path`` set
  with ``set_config(..., is_local => true)``, so they end with the transaction;
* MariaDB: ``SET SESSION max_statement_time``, MySQL: ``max_execution_time``; then
  ``START TRANSACTION READ ONLY``;
* SQLite: the file is opened with ``mode=ro`` and ``PRAGMA query_only``; a progress handler
  interrupts a query that runs past the timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import DBAPIError as SaDbApiError

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.plugins.db.sql import Dialect, ParamStyle

ErrorClass = Literal["READ_ONLY_VIOLATION", "STATEMENT_TIMEOUT", "CONNECTION_FAILED", "QUERY_FAILED"]


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool


@dataclass
class QueryError(Exception):
    kind: ErrorClass
    message: str
    sqlstate: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    final: bool = False  # a connection failure that waiting cannot fix (bad credentials, no database)

    @property
    def transient(self) -> bool:
        return self.kind == "CONNECTION_FAILED" and not self.final

    def __str__(self) -> str:
        return self.message


def normalize_url(raw: str, alias: str) -> tuple[URL, Dialect]:
    """A profile URL as a SQLAlchemy URL with the driver Orchestra uses, and its dialect."""
    text = raw.strip()
    if text.startswith("jdbc:"):
        text = text[len("jdbc:") :]
        if text.startswith("sqlite:") and not text.startswith("sqlite://"):
            text = "sqlite:///" + text[len("sqlite:") :]
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigurationError(
            f"db profile {alias!r}: url {raw!r} is not a database URL (postgresql://host:5432/db, "
            "mysql://host:3306/db, sqlite:///path/file.db)",
            field=f"db.{alias}.url",
        ) from None
    backend = url.get_backend_name()
    if url.password is not None:
        raise ConfigurationError(
            f"db profile {alias!r}: the url must not contain a password; give it as `password` "
            '(a secret reference such as {"secret": "NAME"})',
            field=f"db.{alias}.url",
        )
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg"), "postgresql"
    if backend in ("mysql", "mariadb"):
        return url.set(drivername="mysql+pymysql"), "mysql"
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConfigurationError(
                f"db profile {alias!r}: a SQLite profile needs a database file (sqlite:///path/file.db)",
                field=f"db.{alias}.url",
            )
        return url.set(drivername="sqlite"), "sqlite"
    raise ConfigurationError(
        f"db profile {alias!r}: database kind {backend!r} is not supported "
        "(postgresql, mysql / mariadb, sqlite)",
        field=f"db.{alias}.url",
    )


class Database:
    """One profile's pool and the way to run a read-only query on it; closed with the environment."""

    def __init__(
        self,
        *,
        alias: str,
        url: URL,
        dialect: Dialect,
        username: str | None,
        password: str | None,
        default_schema: str | None,
        connect_timeout_s: float,
        pool_size: int,
        connect_args: dict[str, Any],
    ) -> None:
        self.alias = alias
        self.dialect: Dialect = dialect
        self.paramstyle: ParamStyle = "qmark" if dialect == "sqlite" else "format"
        self.default_schema = default_schema
        self.flavor: str | None = None  # "mariadb" or "mysql", found on first use
        self._flavor_lock = threading.Lock()
        if username is not None:
            url = url.set(username=username)
        if password is not None:
            url = url.set(password=password)
        self.display_url = url.render_as_string(hide_password=True)
        kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": 0, "pool_pre_ping": True}
        if dialect == "sqlite":
            path = url.database or ""
            # Read-only whatever the URL says: mode=ro in a file: URI (the path percent-encoded).
            target = f"file:{quote(path)}?mode=ro"

            def creator() -> sqlite3.Connection:
                conn = sqlite3.connect(target, uri=True, timeout=connect_timeout_s, check_same_thread=False)
                conn.execute("PRAGMA query_only = ON")
                return conn

            self.engine = sa.create_engine(
                "sqlite://", creator=creator, poolclass=sa.pool.QueuePool, **kwargs
            )
        else:
            args = dict(connect_args)
            if dialect == "postgresql":
                args.setdefault("connect_timeout", max(1, round(connect_timeout_s)))
                args.setdefault("application_name", "orchestra-db-assert")
            else:
                args.setdefault("connect_timeout", max(1, round(connect_timeout_s)))
            self.engine = sa.create_engine(url, connect_args=args, **kwargs)

    def close(self) -> None:
        self.engine.dispose()

    # ---- one read-only query ---------------------------------------------------------------------

    def query(self, sql: str, params: list[Any], *, timeout_ms: int, max_rows: int) -> QueryResult:
        try:
            raw = self.engine.raw_connection()
        except SaDbApiError as exc:
            raise self._classify(exc.orig or exc, connecting=True) from None
        except Exception as exc:  # a driver error raised before SQLAlchemy wraps it
            raise self._classify(exc, connecting=True) from None
        try:
            dbapi = raw.driver_connection
            if self.dialect == "postgresql":
                return self._postgresql(dbapi, sql, params, timeout_ms, max_rows)
            if self.dialect == "mysql":
                return self._mysql(dbapi, sql, params, timeout_ms, max_rows)
            return self._sqlite(dbapi, sql, params, timeout_ms, max_rows)
        except QueryError:
            raise
        except Exception as exc:
            raise self._classify(exc) from None
        finally:
            try:
                raw.rollback()
            except Exception:  # a broken connection is dropped from the pool by close()
                raw.invalidate()
            raw.close()

    def _postgresql(
        self, conn: Any, sql: str, params: list[Any], timeout_ms: int, max_rows: int
    ) -> QueryResult:
        if conn.info.transaction_status != 0:  # not IDLE: end whatever was left over
            conn.rollback()
        conn.read_only = True  # psycopg then opens the transaction with BEGIN READ ONLY
        with conn.cursor() as cur:
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                [f"{timeout_ms}ms", f"{timeout_ms}ms"],
            )
            if self.default_schema:
                cur.execute("SELECT set_config('search_path', %s, true)", [self.default_schema])
            cur.execute(sql, params)
            return _fetch(cur, max_rows)

    def _mysql(self, conn: Any, sql: str, params: list[Any], timeout_ms: int, max_rows: int) -> QueryResult:
        with conn.cursor() as cur:
            if self.flavor is None:
                with self._flavor_lock:
                    cur.execute("SELECT VERSION()")
                    version = str(cur.fetchone()[0])
                    self.flavor = "mariadb" if "mariadb" in version.lower() else "mysql"
            if self.flavor == "mariadb":
                cur.execute("SET SESSION max_statement_time = %s", [timeout_ms / 1000])
            else:
                cur.execute("SET SESSION max_execution_time = %s", [timeout_ms])
            cur.execute("START TRANSACTION READ ONLY")
            if self.default_schema:
                cur.execute("USE `" + self.default_schema.replace("`", "``") + "`")
            cur.execute(sql, params)
            return _fetch(cur, max_rows)

    def _sqlite(self, conn: Any, sql: str, params: list[Any], timeout_ms: int, max_rows: int) -> QueryResult:
        deadline = time.monotonic() + timeout_ms / 1000
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
        try:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                return _fetch(cur, max_rows)
            finally:
                cur.close()
        finally:
            conn.set_progress_handler(None, 0)

    # ---- errors --------------------------------------------------------------------------------

    def _classify(self, exc: BaseException, *, connecting: bool = False) -> QueryError:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.dialect == "postgresql":
            import psycopg

            state = getattr(exc, "sqlstate", None)
            if state == "25006":
                return QueryError("READ_ONLY_VIOLATION", message, state)
            if state == "57014":
                return QueryError("STATEMENT_TIMEOUT", message, state)
            if state in ("28P01", "28000", "3D000") or "authentication failed" in message:
                return QueryError("CONNECTION_FAILED", message, state, final=True)
            if connecting or (
                isinstance(exc, psycopg.OperationalError) and state in (None, "08000", "08001", "08006")
            ):
                return QueryError("CONNECTION_FAILED", message, state)
            return QueryError("QUERY_FAILED", message, state)
        if self.dialect == "mysql":
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            text = str(exc.args[1]) if len(exc.args) > 1 else message
            state = str(code) if code is not None else None
            if code == 1792:
                return QueryError("READ_ONLY_VIOLATION", text, state)
            if code in (1969, 3024, 1317):
                return QueryError("STATEMENT_TIMEOUT", text, state)
            if code in (1044, 1045, 1049):  # access denied, unknown database
                return QueryError("CONNECTION_FAILED", text, state, final=True)
            if connecting or code in (2002, 2003, 2006, 2013, 1040):
                return QueryError("CONNECTION_FAILED", text, state)
            return QueryError("QUERY_FAILED", text, state)
        lowered = message.lower()
        if "readonly" in lowered or "read-only" in lowered or "query_only" in lowered:
            return QueryError("READ_ONLY_VIOLATION", message)
        if "interrupted" in lowered:
            return QueryError("STATEMENT_TIMEOUT", message)
        if connecting or "unable to open" in lowered:
            return QueryError("CONNECTION_FAILED", message)
        return QueryError("QUERY_FAILED", message)


def _fetch(cur: Any, max_rows: int) -> QueryResult:
    if cur.description is None:
        return QueryResult([], [], False)
    columns = _unique([str(d[0]) for d in cur.description])
    rows = [tuple(r) for r in cur.fetchmany(max_rows + 1)]
    truncated = len(rows) > max_rows
    return QueryResult(columns, rows[:max_rows], truncated)


def _unique(names: list[str]) -> list[str]:
    """Duplicate column names (SELECT a.id, b.id) get #2, #3 so every row stays an object."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name}#{count}")
    return out
