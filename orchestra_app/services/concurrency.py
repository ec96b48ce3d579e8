"""Writes that can race, decided by the database: insert-or-ignore, row and advisory locks, bounded retry.

* ``insert_ignore`` is ``INSERT ... ON CONFLICT DO NOTHING`` on PostgreSQL and SQLite: two callers
  creating the same row both succeed, one row is stored (Django's get_or_create, without the race).
* ``locked`` adds ``FOR UPDATE`` on PostgreSQL: the caller holds the parent row until commit, so a
  ``max(version) + 1`` read after it cannot be taken by someone else meanwhile.
* ``advisory_lock`` serialises callers that have no parent row to lock (PostgreSQL transaction-level
  advisory lock keyed by a hash of the parts).
* On SQLite the unit of work opens with ``BEGIN IMMEDIATE`` (``session_scope(write=True)``), which
  serialises writers for the whole transaction; the two locks above are then no-ops.
* ``retrying`` re-runs a whole unit of work a few times when a conflict still escapes (unique violation,
  serialisation failure, deadlock, SQLite "database is locked") and then raises ``Conflict`` (409).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, SQLModel
from sqlmodel.sql.expression import SelectOfScalar

from orchestra_app.domain.errors import Conflict
from orchestra_app.observability.logging import log

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)

DEFAULT_ATTEMPTS = 8
_RETRY_PGCODES = {"40001", "40P01", "55P03"}  # serialization_failure, deadlock_detected, lock_not_available


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_ignore(session: Session, model: type[SQLModel], values: Mapping[str, Any]) -> bool:
    """INSERT the row unless a unique constraint already holds one like it; True when inserted."""
    table = model.__table__  # type: ignore[attr-defined]
    name = dialect_name(session)
    if name == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif name == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported databases exist
        raise NotImplementedError(name)
    # RETURNING, not rowcount: psycopg 3 reports rowcount -1 for INSERT ... ON CONFLICT DO NOTHING
    result = session.exec(stmt.returning(*table.primary_key.columns))
    return result.first() is not None


def locked(session: Session, stmt: SelectOfScalar[M]) -> SelectOfScalar[M]:
    """``stmt`` with ``FOR UPDATE`` on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    return stmt.with_for_update() if dialect_name(session) == "postgresql" else stmt


def advisory_lock(session: Session, *parts: object) -> None:
    """Hold a transaction-scoped lock named by ``parts`` (PostgreSQL); released at commit/rollback."""
    if dialect_name(session) != "postgresql":
        return
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    session.exec(sa.text("SELECT pg_advisory_xact_lock(:key)"), params={"key": key})  # type: ignore[call-overload]


def is_retryable(exc: BaseException) -> bool:
    """A conflict that another attempt of the same unit of work can get past."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if code in _RETRY_PGCODES:
            return True
        return "database is locked" in str(exc.orig).lower()
    return False


def retrying(
    unit_of_work: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    what: str = "write",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``unit_of_work`` (which opens and commits its own transaction) until it stops colliding."""
    for attempt in range(1, attempts + 1):
        try:
            return unit_of_work()
        except (IntegrityError, OperationalError) as exc:
            if not is_retryable(exc):
                raise
            if attempt == attempts:
                log.warning("%s still conflicts after %d attempts: %s", what, attempts, type(exc).__name__)
                raise Conflict(
                    f"{what} kept colliding with concurrent changes ({attempts} attempts); nothing was "
                    "stored, retry it"
                ) from exc
            log.info("%s conflicted (attempt %d of %d), retrying", what, attempt, attempts)
            sleep(random.uniform(0, 0.02 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
