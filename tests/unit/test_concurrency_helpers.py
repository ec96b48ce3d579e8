"""services/concurrency.py: which failures are retried, how often, and what a caller finally sees."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from orchestra_app.domain.errors import Conflict, ErrorKind
from orchestra_app.services.concurrency import is_retryable, retrying

pytestmark = pytest.mark.unit


def _integrity() -> IntegrityError:
    return IntegrityError("INSERT ...", {}, Exception("duplicate key value violates unique constraint"))


def _locked() -> OperationalError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))


def test_retryable_failures() -> None:
    assert is_retryable(_integrity()) and is_retryable(_locked())
    assert not is_retryable(OperationalError("SELECT", {}, Exception("no such table: process")))
    assert not is_retryable(ValueError("x"))


def test_a_collision_is_retried_until_it_passes() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def once() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _integrity()
        return "stored"

    assert retrying(once, sleep=sleeps.append) == "stored"
    assert len(calls) == 3 and len(sleeps) == 2 and all(s >= 0 for s in sleeps)


def test_a_collision_that_never_ends_becomes_conflict_after_the_bound() -> None:
    calls: list[int] = []

    def always() -> None:
        calls.append(1)
        raise _locked()

    with pytest.raises(Conflict) as caught:
        retrying(always, attempts=4, what="import process", sleep=lambda _s: None)
    assert len(calls) == 4 and caught.value.kind is ErrorKind.CONFLICT
    assert "import process" in str(caught.value) and "nothing was stored" in str(caught.value)


def test_other_database_errors_are_not_retried() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise OperationalError("SELECT", {}, Exception("no such table: process"))

    with pytest.raises(OperationalError):
        retrying(broken, sleep=lambda _s: None)
    assert len(calls) == 1
