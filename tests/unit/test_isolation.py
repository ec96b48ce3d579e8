"""Import workers (services/isolation.py, issue 7 item 3): a budget that kills, a memory cap, errors
that keep their location, bugs that keep their traceback, BUSY when every worker is taken."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from orchestra_app.domain.errors import ErrorKind, ImportError_, OrchestraError
from orchestra_app.services import isolation
from orchestra_app.services.isolation import IsolatedFailure, run_isolated
from orchestra_app.settings import get_settings
from tests.fixtures import isolated_work as work

pytestmark = pytest.mark.unit


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ORCHESTRA_IMPORT_TIMEOUT_S", "1.5")
    monkeypatch.setenv("ORCHESTRA_IMPORT_MEMORY_MB", "1024")
    monkeypatch.setenv("ORCHESTRA_IMPORT_WORKERS", "2")
    monkeypatch.delenv("ORCHESTRA_IMPORT_ISOLATION", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_work_runs_in_a_reused_worker_process(budget: None) -> None:
    import os

    first = run_isolated(work.pid, what="probe")
    assert first != os.getpid()
    assert run_isolated(work.pid, what="probe") == first  # kept warm: the next task reuses it
    assert run_isolated(work.echo, b"x" * 3_000_000, what="echo") == 3_000_000


def test_a_task_past_its_budget_is_stopped_and_the_worker_replaced(budget: None) -> None:
    with pytest.raises(OrchestraError) as caught:
        run_isolated(work.spin_forever, what="importing the process", file="loop.bpmn")
    assert caught.value.kind is ErrorKind.TIMEOUT and caught.value.file == "loop.bpmn"
    assert "1.5 s budget" in str(caught.value)
    assert run_isolated(work.echo, b"ok", what="after") == 2  # a fresh worker answers


def test_memory_cap_and_abnormal_exit_are_too_large(budget: None) -> None:
    with pytest.raises(OrchestraError) as caught:
        run_isolated(work.hog_memory, 4096, what="importing the spec", file="huge.yaml")
    assert caught.value.kind is ErrorKind.TOO_LARGE and "1024 MB" in str(caught.value)
    with pytest.raises(OrchestraError) as caught:
        run_isolated(work.die, what="importing", file="x.bpmn")
    assert caught.value.kind is ErrorKind.TOO_LARGE and "ended abnormally" in str(caught.value)
    assert run_isolated(work.echo, b"abc", what="after") == 3


def test_errors_keep_kind_and_location_and_bugs_keep_their_traceback(budget: None) -> None:
    with pytest.raises(ImportError_) as caught:
        run_isolated(work.refuse, "bad.bpmn", what="importing")
    assert (caught.value.kind, caught.value.file, caught.value.line, caught.value.column) == (
        ErrorKind.SYNTAX,
        "bad.bpmn",
        7,
        3,
    )
    with pytest.raises(IsolatedFailure) as failure:
        run_isolated(work.crash, what="importing")
    assert "KeyError" in str(failure.value) and "isolated_work.py" in failure.value.child_traceback


def test_busy_when_every_worker_is_taken(budget: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_IMPORT_WORKERS", "1")
    monkeypatch.setenv("ORCHESTRA_IMPORT_QUEUE_S", "0.2")
    get_settings.cache_clear()
    outcome: list[BaseException] = []

    def hold() -> None:
        try:
            run_isolated(work.spin_forever, what="holding")
        except BaseException as exc:  # the expected TIMEOUT, recorded for the assertion
            outcome.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        deadline_slots = isolation._pool.semaphore(1)
        # wait until the holder has the only slot (polling, no fixed sleep)
        for _ in range(500):
            if not deadline_slots.acquire(blocking=False):
                break
            deadline_slots.release()
            threading.Event().wait(0.01)
        with pytest.raises(OrchestraError) as caught:
            run_isolated(work.echo, b"x", what="importing the process", file="late.bpmn")
        assert caught.value.kind is ErrorKind.BUSY and caught.value.file == "late.bpmn"
    finally:
        holder.join(30)
    assert outcome and getattr(outcome[0], "kind", None) is ErrorKind.TIMEOUT


def test_a_commit_allowed_within_the_budget_is_never_killed(budget: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The gate answers "go" inside the budget; storing may then outlast the budget and is not killed,
    so an import is never reported as timed out while its rows are committed."""
    marker = tmp_path / "stored"
    assert run_isolated(work.gated_store, str(marker), 2.5, what="storing") == "stored"
    assert marker.read_text() == "stored"


def test_a_commit_asked_after_the_budget_is_refused_and_nothing_stored(
    budget: None,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """The gate's question arrives once the budget is spent (the parent is made to notice it late):
    the worker is told to stop, raises TIMEOUT, and its 'store' never happens."""
    real_wait = isolation._Worker._wait_readable
    budget_s = get_settings().import_timeout_s

    def late(self: isolation._Worker, timeout: float) -> bool:
        ready = real_wait(self, timeout)
        if ready:
            threading.Event().wait(budget_s + 0.2)  # the question is read after the deadline
        return ready

    monkeypatch.setattr(isolation._Worker, "_wait_readable", late)
    marker = tmp_path / "stored"
    with pytest.raises(OrchestraError) as caught:
        run_isolated(work.gate_then_store, str(marker), what="storing", file="late.bpmn")
    assert caught.value.kind is ErrorKind.TIMEOUT and caught.value.file == "late.bpmn"
    assert "before anything was stored" in str(caught.value)
    assert not marker.exists()
    monkeypatch.setattr(isolation._Worker, "_wait_readable", real_wait)
    assert run_isolated(work.echo, b"ok", what="after") == 2  # the worker answered cleanly and is reused
