"""Reflex handlers keep the event loop free (issue 7 item 11): every blocking call (principal, imports,
lists, details, binding) runs in a worker thread, never on the loop's own thread; an unexpected
failure shows an id to quote, never the exception."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orchestra_app.domain.tenancy import DEV_TENANT_ID, DEV_USER_ID, Principal, Role
from orchestra_app.pages import processes as processes_page
from orchestra_app.pages import specs as specs_page
from orchestra_app.pages import suites as suites_page
from orchestra_app.services import catalog
from orchestra_app.services import session as svc
from state import base

pytestmark = pytest.mark.unit
PRINCIPAL = Principal(tenant_id=DEV_TENANT_ID, user_id=DEV_USER_ID, roles=frozenset({Role.ORG_ADMIN}))


class _Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.filename = name
        self._data = data

    async def read(self) -> bytes:
        return self._data


class Calls:
    def __init__(self) -> None:
        self.threads: dict[str, int] = {}

    def spy(self, name: str, result: Callable[..., Any]) -> Callable[..., Any]:
        def fake(*args: Any, **kwargs: Any) -> Any:
            self.threads[name] = threading.get_ident()
            return result(*args, **kwargs)

        return fake


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    spy = Calls()
    monkeypatch.setattr(svc, "current_principal", spy.spy("principal", lambda: PRINCIPAL))
    monkeypatch.setattr(
        svc, "section_rows", spy.spy("section_rows", lambda *a, **k: catalog.Listing([{"id": "1"}], 250, 0))
    )

    def fake_run(use_case: Callable[..., Any], principal: Principal, **kwargs: Any) -> Any:
        spy.threads[f"run:{use_case.__name__}"] = threading.get_ident()
        if use_case.__name__ == "list_versions":
            return [{"id": str(uuid.uuid4())}]
        if use_case.__name__ == "version_detail":
            return {"summary": {"nodes": 1}, "version": 1, "suite": {}, "warnings": [], "scenarios": []}
        return []

    monkeypatch.setattr(svc, "run", fake_run)
    monkeypatch.setattr(svc, "write", spy.spy("write", lambda *a, **k: []))
    yield spy


def _on_loop(coro_fn: Callable[[], Any]) -> int:
    """Run the handler on a fresh event loop in a thread of its own (other tests may have left a loop
    running in this one); returns the loop thread's id."""
    loop_thread: list[int] = []
    failure: list[BaseException] = []

    async def main() -> Any:
        loop_thread.append(threading.get_ident())
        return await coro_fn()

    def runner() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # re-raised below, in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join(120)
    if failure:
        raise failure[0]
    return loop_thread[0]


def test_section_loads_and_identity_run_off_the_loop(calls: Calls) -> None:
    state = base.SectionState()
    loop = _on_loop(lambda: base.SectionState.load_processes.fn(state))
    assert calls.threads["principal"] != loop and calls.threads["section_rows"] != loop
    assert (
        state.rows["processes"] == [{"id": "1"}] and state.more["processes"] == "showing the newest 1 of 250"
    )
    identity = base.AppState()
    calls.threads.clear()
    loop = _on_loop(lambda: base.AppState.load_identity.fn(identity))
    assert calls.threads["principal"] != loop


def test_process_upload_and_selection_run_off_the_loop(calls: Calls, monkeypatch: pytest.MonkeyPatch) -> None:
    def imported(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("boom inside the import")

    monkeypatch.setattr(processes_page.process_service, "import_file", calls.spy("import_file", imported))
    state = processes_page.ProcessesState()
    loop = _on_loop(
        lambda: processes_page.ProcessesState.handle_upload.fn(state, [_Upload("order.bpmn", b"<x/>")])
    )
    assert calls.threads["import_file"] != loop and calls.threads["principal"] != loop
    # An unexpected failure: an id to quote, not the exception's text or type.
    assert "unexpected error (id " in state.import_error and "boom" not in state.import_error
    loop = _on_loop(lambda: processes_page.ProcessesState.select_process.fn(state, str(uuid.uuid4())))
    assert calls.threads["run:list_versions"] != loop
    loop = _on_loop(lambda: processes_page.ProcessesState.select_version.fn(state, str(uuid.uuid4())))
    assert calls.threads["run:version_detail"] != loop
    state.import_error = ""
    _on_loop(lambda: processes_page.ProcessesState.select_process.fn(state, "not-a-uuid"))
    assert "process must be a UUID" in state.import_error


def test_spec_upload_and_suite_binding_run_off_the_loop(
    calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        specs_page.spec_service,
        "import_file",
        calls.spy("spec_import", lambda *a, **k: (_ for _ in ()).throw(ValueError("x"))),
    )
    specs = specs_page.SpecsState()
    loop = _on_loop(
        lambda: specs_page.SpecsState.handle_upload.fn(specs, [_Upload("a.yaml", b"openapi: 3.0.0")])
    )
    assert calls.threads["spec_import"] != loop
    loop = _on_loop(lambda: specs_page.SpecsState.select_spec.fn(specs, str(uuid.uuid4())))
    assert calls.threads["run:spec_operations"] != loop
    suites = suites_page.SuitesState()
    suites.selected_suite = str(uuid.uuid4())
    loop = _on_loop(lambda: suites_page.SuitesState.bind.fn(suites))
    assert calls.threads["write"] != loop
