"""The scenario editor without a browser: the form round trip, problems beside the right field, and
handlers that keep every service call (and the draft check) off the event loop."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orchestra_app.domain.errors import Conflict
from orchestra_app.domain.tenancy import DEV_TENANT_ID, DEV_USER_ID, Principal, Role
from orchestra_app.pages import scenario as scenario_page
from orchestra_app.services import scenario_editor
from orchestra_app.services import scenarios as scenario_service
from orchestra_app.services import session as svc
from state import scenario_form as form

pytestmark = pytest.mark.unit
PRINCIPAL = Principal(tenant_id=DEV_TENANT_ID, user_id=DEV_USER_ID, roles=frozenset({Role.ORG_ADMIN}))

STEPS: list[dict[str, Any]] = [
    {
        "alias": "create_order",
        "name": "Create order",
        "kind": "ACTION",
        "channelType": "HTTP_REST",
        "endpointRef": {"protocolId": "http", "serviceName": "orders", "endpointName": "createOrder"},
        "action": {"inputTemplate": {"body": {"sku": "{{data.sku}}"}}, "meta": {"nodeType": "serviceTask"}},
        "expectations": {
            "expectedStatusCode": [200, 201],
            "businessRules": [{"path": "$.body.id", "exists": True}],
        },
        "sourceNodeId": "Task_Create",
    },
    {
        "alias": "row_written",
        "name": "Row written",
        "kind": "ASSERTION",
        "channelType": "DB",
        "action": {
            "meta": {
                "dataSource": "orders",
                "sql": "SELECT id FROM orders WHERE id = {{step.create_order.response.body.id}}",
                "timeoutMs": 5000,
                "dataStore": "Orders table",
            }
        },
        "expectations": {},
    },
]


def test_form_round_trip_keeps_every_part() -> None:
    for index, step in enumerate(STEPS):
        fields = form.to_form(step)
        read = form.from_form(fields, index)
        assert read.problems == []
        assert scenario_service.StepDraft.model_validate(
            read.step
        ) == scenario_service.StepDraft.model_validate(step)
    db = form.to_form(STEPS[1])
    assert (db["m_dataSource"], db["m_timeoutMs"]) == ("orders", "5000")
    assert '"dataStore"' in db["meta"] and "sql" not in db["meta"]  # shown as its own field instead


def test_problems_land_beside_their_fields() -> None:
    forms = [form.to_form(s) for s in STEPS]
    forms[0]["input"] = '{"body": {"sku": "{{data.sku}}",}}'  # not JSON
    forms[0]["expected"] = "2XY"
    forms[1]["m_sql"] = "UPDATE orders SET paid = true"
    forms[1]["m_timeoutMs"] = "soon"
    check = form.check_form("Order", "happy, smoke", forms)
    first = form.step_field_messages(check.errors, 0)
    assert "not JSON" in first["input"] and "line 1" in first["input"]
    assert "2XY" in first["expected"]
    second = form.step_field_messages(check.errors, 1)
    assert "SELECT" in second["m_sql"] and "whole number" in second["m_timeoutMs"]
    assert check.count == 4
    forms[0]["input"] = '{"body": {"id": "{{step.row_written.response.rows}}"}}'
    forms[0]["expected"] = "201"
    forms[1]["m_sql"] = "SELECT 1"
    forms[1]["m_timeoutMs"] = ""
    check = form.check_form("Order", "", forms)
    assert form.step_field_messages(check.errors, 0) == {
        "input": "{{step.row_written.response.rows}}: 'row_written' is not an earlier step "
        "(earlier steps: none) (at /body/id)"
    }
    assert check.document["steps"][1]["action"]["meta"] == {
        "dataSource": "orders",
        "sql": "SELECT 1",
        "dataStore": "Orders table",
    }


def _on_loop(coro_fn: Callable[[], Any]) -> int:
    loop_thread: list[int] = []
    failure: list[BaseException] = []

    async def main() -> Any:
        loop_thread.append(threading.get_ident())
        result = coro_fn()
        if hasattr(result, "__anext__"):
            async for _ in result:
                pass
        else:
            await result

    def runner() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join(120)
    if failure:
        raise failure[0]
    return loop_thread[0]


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    seen: dict[str, int] = {}
    scenario_id = uuid.uuid4()
    monkeypatch.setattr(
        svc, "current_principal", lambda: seen.setdefault("principal", threading.get_ident()) and PRINCIPAL
    )

    def with_session(fn: Callable[[Any], Any]) -> Any:
        seen["load"] = threading.get_ident()
        detail = scenario_service.ScenarioDetail(
            id=scenario_id,
            key="S001",
            name="Order",
            version=2,
            status="DRAFT",
            active=True,
            tags=["happy"],
            suite_id=uuid.uuid4(),
            suite_name="Shop v1",
            process_key="shop",
            process_version=1,
            process_version_id=None,
            path={"nodes": ["Task_Create"], "flows": ["f1"]},
            decisions=[],
            steps=STEPS,
            latest_version=2,
            latest_id=scenario_id,
            updated_at="2026-11-29",
            updated_by="me",
        )
        return {
            "detail": detail,
            "context": scenario_editor.EditorContext(),
            "diagram": None,
            "environments": [],
            "data_sets": [],
            "past_runs": [],
        }

    monkeypatch.setattr(svc, "with_session", with_session)
    monkeypatch.setattr(scenario_page, "route_tail", lambda _state: str(scenario_id))
    original = form.check_form

    def check(*args: Any) -> Any:
        seen["check"] = threading.get_ident()
        return original(*args)

    monkeypatch.setattr(scenario_page, "check_form", check)
    yield seen


def test_load_edit_and_save_run_off_the_loop(
    threads: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = scenario_page.ScenarioState()
    loop = _on_loop(lambda: scenario_page.ScenarioState.load.fn(state))
    assert threads["load"] != loop and threads["principal"] != loop and threads["check"] != loop
    assert [s["alias"] for s in state.steps] == ["create_order", "row_written"] and not state.dirty
    assert state.path_elements == ["Task_Create", "f1"]

    threads.clear()
    loop = _on_loop(lambda: scenario_page.ScenarioState.set_field.fn(state, "input", '{"x": "{{uuid(x)}}"}'))
    assert threads["check"] != loop and state.dirty
    assert "function arguments are literals" in state.cur_errors["input"]
    _on_loop(lambda: scenario_page.ScenarioState.set_field.fn(state, "input", '{"x": "{{tenant.id}}"}'))
    assert "input" not in state.cur_errors and "run must supply it" in state.cur_warnings["input"]
    _on_loop(lambda: scenario_page.ScenarioState.set_field.fn(state, "input", '{"x": "{{data.y}}"}'))
    _on_loop(lambda: scenario_page.ScenarioState.move_step.fn(state, 0, 1))
    assert [s["alias"] for s in state.steps] == ["row_written", "create_order"] and state.selected == 1
    assert state.step_badges == ["1", ""]  # row_written now reads a step that comes after it
    _on_loop(lambda: scenario_page.ScenarioState.move_step.fn(state, 1, -1))

    def refuse(*_a: Any, **_k: Any) -> Any:
        threads["write"] = threading.get_ident()
        raise Conflict("scenario S001 was changed while you edited it: version 3 was saved by someone")

    monkeypatch.setattr(svc, "write", refuse)
    loop = _on_loop(lambda: scenario_page.ScenarioState.save.fn(state))
    assert threads["write"] != loop
    assert "version 3 was saved" in state.conflict and state.dirty and not state.saving
    saved_docs: list[Any] = []

    def accept(_use_case: Any, _principal: Any, **kwargs: Any) -> Any:
        saved_docs.append(kwargs)
        return scenario_service.SavedScenario(uuid.uuid4(), "S001", 3, uuid.uuid4())

    monkeypatch.setattr(svc, "write", accept)
    _on_loop(lambda: scenario_page.ScenarioState.save.fn(state))
    assert not state.dirty and saved_docs[0]["base_version"] == 2
    assert saved_docs[0]["document"]["steps"][0]["action"]["inputTemplate"] == {"x": "{{data.y}}"}


def test_an_invalid_draft_is_not_sent(threads: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    state = scenario_page.ScenarioState()
    _on_loop(lambda: scenario_page.ScenarioState.load.fn(state))
    monkeypatch.setattr(svc, "write", lambda *a, **k: pytest.fail("an invalid draft reached the service"))
    _on_loop(lambda: scenario_page.ScenarioState.select_step.fn(state, 1) or asyncio.sleep(0))
    _on_loop(lambda: scenario_page.ScenarioState.set_setting.fn(state, "sql", "DROP TABLE orders"))
    _on_loop(lambda: scenario_page.ScenarioState.select_step.fn(state, 0) or asyncio.sleep(0))
    _on_loop(lambda: scenario_page.ScenarioState.save.fn(state))
    assert state.selected == 1 and "1 problem(s)" in state.save_error
    assert "SELECT" in state.cur_errors["m_sql"]


def test_single_step_run_request_and_result(threads: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from orchestra_app.domain.runs import RunMode, RunStatus
    from orchestra_app.services import runs as run_service

    state = scenario_page.ScenarioState()
    _on_loop(lambda: scenario_page.ScenarioState.load.fn(state))
    run_id = uuid.uuid4()
    summary = run_service.TestRunSummary(
        id=run_id,
        scenario_id=uuid.UUID(state.info["id"]),
        scenario_version=2,
        mode=RunMode.SINGLE_STEP,
        status=RunStatus.QUEUED,
        created_at=datetime.now(UTC),
    )
    requests: list[Any] = []

    def create(_use_case: Any, _principal: Any, **kwargs: Any) -> Any:
        threads["create"] = threading.get_ident()
        requests.append(kwargs["request"])
        return run_service.CreateRunsResult(batch_id=uuid.uuid4(), runs=[summary])

    monkeypatch.setattr(svc, "write", create)
    _on_loop(
        lambda: (
            scenario_page.ScenarioState.set_run_option.fn(state, "context", "{not json") or asyncio.sleep(0)
        )
    )
    _on_loop(lambda: scenario_page.ScenarioState.run_step.fn(state))
    assert "not JSON" in state.run_error and not requests
    _on_loop(
        lambda: (
            scenario_page.ScenarioState.set_run_option.fn(state, "context", '{"a": {"responseBody": 1}}')
            or asyncio.sleep(0)
        )
    )
    loop = _on_loop(lambda: scenario_page.ScenarioState.run_step.fn(state))
    assert threads["create"] != loop and state.run_busy
    assert requests[0] == {
        "scenarioIds": [state.info["id"]],
        "mode": "SINGLE_STEP",
        "startStepIndex": 0,
        "triggeredBy": "editor",
        "stepResults": {"a": {"responseBody": 1}},
    }
    detail = run_service.TestRunDetail(
        **{**summary.model_dump(), "status": RunStatus.FAILED},
        steps=[
            run_service.StepResultView(
                order_index=0,
                alias="create_order",
                status="FAILED",
                duration_ms=12,
                actual_status_code=500,
                response_body={"error": "boom"},
                violations=[
                    {"type": "HTTP_ERROR", "code": "HTTP_SERVER_ERROR", "message": "server error 500"}
                ],
            )
        ],
    )
    monkeypatch.setattr(
        svc, "run", lambda *_a, **_k: threads.setdefault("poll", threading.get_ident()) and detail
    )
    loop = _on_loop(lambda: scenario_page.ScenarioState.follow_step_run.fn(state))
    assert threads["poll"] != loop and not state.run_busy
    assert state.run_result["status"] == "FAILED" and state.run_result["code"] == "500"
    assert "HTTP_SERVER_ERROR" in state.run_result["violations"] and '"boom"' in state.run_result["observed"]
