"""Unit-of-work hooks: work that must wait for COMMIT, and locks held until the transaction ends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_AFTER_COMMIT = "orchestra.after_commit"
_LOCKS = "orchestra.locks"


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Runs ``fn`` once the session's transaction has committed (never after a rollback).

    Used for side effects that must not happen for rows that were never stored: enqueueing a run
    message, publishing its event.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(fn)


def hold_until_end(session: Session, lock: threading.Lock) -> None:
    """Acquires ``lock`` (once per session) and releases it when the transaction ends either way."""
    held: list[threading.Lock] = session.info.setdefault(_LOCKS, [])
    if any(existing is lock for existing in held):
        return
    lock.acquire()
    held.append(lock)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for fn in session.info.pop(_AFTER_COMMIT, []):
        try:
            fn()
        except Exception:  # the data is committed; a failed side effect is logged and repaired later
            log.exception("after-commit hook failed")


@event.listens_for(Session, "after_transaction_end")
def _release(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    if transaction.parent is not None:
        return  # a nested transaction or savepoint; the outer one is still open
    session.info.pop(_AFTER_COMMIT, None)  # rolled back (or already run): never for unstored rows
    for lock in session.info.pop(_LOCKS, []):
        lock.release()
