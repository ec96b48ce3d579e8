"""Shared CLI plumbing for the database-backed commands: one unit of work, errors as one clean line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import sqlalchemy as sa
import typer
from sqlmodel import Session

from orchestra_app.domain.errors import OrchestraError
from orchestra_app.domain.tenancy import Principal

T = TypeVar("T")
EXIT_FAILED = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def redact_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@contextmanager
def unit_of_work(db_url: str | None) -> Iterator[tuple[Session, Principal]]:
    """A session on ``db_url`` (default DB_URL or the embedded SQLite file) and the caller's principal."""
    from orchestra_app.db.engine import get_engine, session_scope
    from orchestra_app.services.tenancy import ensure_dev_principal
    from orchestra_app.settings import get_settings

    url = db_url or get_settings().database_url
    try:
        engine = get_engine(url)
        with session_scope(engine) as session:
            yield session, ensure_dev_principal(session=session)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        text = str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0]
        if "no such table" in text or "does not exist" in text:
            fail(f"the database at {redact_url(url)} is not migrated: run `orchestra migrate` first ({text})")
        fail(f"database error at {redact_url(url)}: {text}")
    except sa.exc.ArgumentError as exc:
        fail(f"--db {redact_url(url)!r} is not a database URL: {exc}")


def run_use_case(db_url: str | None, use_case: Callable[..., T], /, **kwargs: Any) -> T:
    """``use_case(session=, principal=, **kwargs)`` in one unit of work; OrchestraErrors exit 2 cleanly."""
    try:
        with unit_of_work(db_url) as (session, principal):
            return use_case(session=session, principal=principal, **kwargs)
    except OrchestraError as exc:
        fail(str(exc))


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str))


DbOption = typer.Option("--db", help="Database URL (default: DB_URL or the embedded SQLite file).")
