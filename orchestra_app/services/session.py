"""Entry points for the UI and API: open a unit of work, resolve the principal, call a use case."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestra_app.db.engine import session_scope
from orchestra_app.domain.tenancy import Principal
from orchestra_app.services import catalog, reports
from orchestra_app.services.concurrency import retrying
from orchestra_app.services.tenancy import ensure_dev_principal

T = TypeVar("T")

SECTION_QUERIES: dict[str, Callable[..., catalog.Listing]] = {
    "processes": catalog.list_processes,
    "specs": catalog.list_specs,
    "suites": catalog.list_suites,
    "data_sets": catalog.list_data_sets,
    "environments": catalog.list_environments,
    "runs": catalog.list_runs,
    "reports": reports.list_run_reports,  # ended runs: each has its report
    "members": catalog.list_members,
    "audit": catalog.list_audit,
}


def current_principal() -> Principal:
    """The embedded default's development principal (OIDC replaces this in the security issue).

    Blocking (database): async callers run it in a thread.
    """
    return retrying(_dev_principal, what="development sign-in")


def _dev_principal() -> Principal:
    with session_scope() as session:
        return ensure_dev_principal(session=session)


def run(use_case: Callable[..., T], /, principal: Principal, **kwargs: object) -> T:
    """Runs ``use_case(session=..., principal=..., **kwargs)`` in one unit of work."""
    with session_scope() as session:
        return use_case(session=session, principal=principal, **kwargs)


def write(use_case: Callable[..., T], /, principal: Principal, **kwargs: Any) -> T:
    """Like ``run`` for use cases that read and then write what they read (versions, get-or-create).

    The unit of work holds the write lock on SQLite from its first statement and is retried a few
    times when a concurrent caller still wins a race (then ``Conflict``); see services/concurrency.py.
    """
    return write_on(None, use_case, principal, **kwargs)


def write_on(
    engine: Engine | None,
    use_case: Callable[..., T],
    /,
    principal: Principal,
    *,
    before_commit: Callable[[], None] | None = None,
    **kwargs: object,
) -> T:
    """``write`` on a given engine (an import worker uses a short-lived one of its own); ``before_commit``
    runs after the use case and before the commit (raising there rolls everything back)."""

    def once() -> T:
        with session_scope(engine, write=True) as session:
            result = use_case(session=session, principal=principal, **kwargs)
            if before_commit is not None:
                before_commit()
            return result

    return retrying(once, what=getattr(use_case, "__name__", "write").replace("_", " "))


def section_rows(
    section: str,
    principal: Principal,
    *,
    limit: int = catalog.DEFAULT_LIMIT,
    offset: int = 0,
    search: str | None = None,
    filter: str | None = None,
) -> catalog.Listing:
    """One page of a section, optionally narrowed by a search text and the section's filter value."""
    query = SECTION_QUERIES[section]
    with session_scope() as session:
        return query(
            session=session,
            principal=principal,
            limit=limit,
            offset=offset,
            search=search or None,
            filter=filter or None,
        )


def with_session(fn: Callable[[Session], T]) -> T:
    with session_scope() as session:
        return fn(session)
