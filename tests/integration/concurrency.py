"""Many concurrent callers of one use case, each in its own unit of work, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from orchestra_app.db.engine import make_engine

T = TypeVar("T")


def wide_engine(url: str, callers: int) -> sa.Engine:
    """An engine whose pool lets every caller hold a connection at once (so they really race)."""
    import orchestra_app.db.validation  # noqa: F401  (the same before-flush validation as the app)

    if url.startswith("sqlite"):
        return make_engine(url)
    return sa.create_engine(url, pool_size=callers + 2, max_overflow=0, pool_timeout=120)


def hammer(engine: sa.Engine, callers: int, call: Callable[[Session, int], T]) -> list[T | BaseException]:
    """Runs ``call(session, i)`` in ``callers`` threads that start together; each commits on success.

    Returns each caller's result or the exception it raised (in caller order).
    """
    barrier = threading.Barrier(callers)

    def one(i: int) -> Any:
        barrier.wait(timeout=120)
        with Session(engine, expire_on_commit=False) as session:
            try:
                result = call(session, i)
                session.commit()
                return result
            except BaseException as exc:  # the test inspects every outcome
                session.rollback()
                return exc

    with ThreadPoolExecutor(max_workers=callers) as pool:
        return list(pool.map(one, range(callers)))
