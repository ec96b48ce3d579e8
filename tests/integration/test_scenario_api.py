"""REST routes of scenarios against the real API (uvicorn) on PostgreSQL: reads, saves, clones, checks,
and every parameter tried with bad values (JSON errors naming the field, nothing stored on refusal)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from orchestra_app.db.engine import make_engine
from orchestra_app.db.migrate import upgrade
from orchestra_app.db.tables import TestScenario
from tests.fixtures.api_server import serve_api

pytestmark = pytest.mark.integration
SHOP_BPMN = Path(__file__).resolve().parents[2] / "examples" / "shop" / "order-process.bpmn"


@pytest.fixture(scope="module")
def api(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, sa.Engine, dict[str, Any]]]:
    """One server and database for the module: the refusals store nothing, so the cases can share it."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    upgrade(url)
    engine = make_engine(url)
    tmp = tmp_path_factory.mktemp("scenario_api")
    env = {"DB_URL": url, "ORCHESTRA_DATA_DIR": str(tmp / "data")}
    try:
        with serve_api(env, tmp / "api.log") as base, httpx.Client(base_url=base, timeout=60) as client:
            imported = client.post(
                "/api/v1/processes?filename=order-process.bpmn", content=SHOP_BPMN.read_bytes()
            )
            assert imported.status_code == 201, imported.text
            suite = client.get(f"/api/v1/suites/{imported.json()['suite_id']}").json()
            s001 = next(s for s in suite["scenarios"] if s["key"] == "S001")
            yield client, engine, {"suite": suite, "s001": s001["id"]}
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _count(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(TestScenario)).one())


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) >= {"kind", "message", "field", "pointer", "line", "column", "text"}
    return body  # type: ignore[no-any-return]


def test_read_save_clone_check(api: Any) -> None:
    client, _engine, ids = api
    detail = client.get(f"/api/v1/scenarios/{ids['s001']}")
    assert detail.status_code == 200
    body = detail.json()
    assert (body["key"], body["version"], body["isLatest"]) == ("S001", 1, True)
    assert body["decisions"][0]["text"].startswith("Items in stock? →")
    draft = {"name": "Edited", "tags": body["tags"], "steps": body["steps"]}
    saved = client.put(f"/api/v1/scenarios/{ids['s001']}", json={"baseVersion": 1, "scenario": draft})
    assert saved.status_code == 201, saved.text
    assert saved.json()["version"] == 2 and saved.json()["previousId"] == ids["s001"]
    again = client.put(f"/api/v1/scenarios/{ids['s001']}", json={"baseVersion": 1, "scenario": draft})
    err = _error(again, 409)
    assert (
        err["kind"] == "conflict"
        and err["field"] == "baseVersion"
        and "version 2 was saved" in err["message"]
    )
    clone = client.post(f"/api/v1/scenarios/{saved.json()['id']}/clone", json={"key": "mine"})
    assert clone.status_code == 201 and clone.json()["key"] == "mine"
    plain_clone = client.post(f"/api/v1/scenarios/{saved.json()['id']}/clone")
    assert plain_clone.status_code == 201 and plain_clone.json()["key"] == "S001-copy"
    draft["steps"][0]["alias"] = "no spaces allowed"
    check = client.post(f"/api/v1/scenarios/{ids['s001']}/check", json=draft)
    assert check.status_code == 200
    assert {"field": "steps.0.alias", "severity": "error"}.items() <= check.json()["problems"][0].items()


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field", "text"),
    [
        ("GET", "/api/v1/scenarios/not-a-uuid", {}, 400, "id", "UUID"),
        ("GET", "/api/v1/scenarios/00000000-0000-4000-8000-00000000abcd", {}, 404, "scenario", "not found"),
        ("GET", "/api/v1/scenarios/{s001}?verbose=1", {}, 400, "verbose", "unknown query parameter"),
        ("DELETE", "/api/v1/scenarios/{s001}", {}, 405, None, "PUT"),
        ("PUT", "/api/v1/scenarios/{s001}", {}, 400, "body", "empty"),
        ("PUT", "/api/v1/scenarios/{s001}", {"content": b'{"baseVersion": 1,'}, 400, "body", "invalid JSON"),
        ("PUT", "/api/v1/scenarios/{s001}", {"content": b"\xff\xfe"}, 400, "body", "UTF-8"),
        ("PUT", "/api/v1/scenarios/{s001}", {"json": [1]}, 400, "body", "JSON object"),
        ("PUT", "/api/v1/scenarios/{s001}", {"json": {"scenario": {}}}, 400, "baseVersion", "required"),
        (
            "PUT",
            "/api/v1/scenarios/{s001}",
            {"json": {"baseVersion": "one", "scenario": {}}},
            400,
            "baseVersion",
            "integer",
        ),
        (
            "PUT",
            "/api/v1/scenarios/{s001}",
            {"json": {"baseVersion": True, "scenario": {}}},
            400,
            "baseVersion",
            "integer",
        ),
        (
            "PUT",
            "/api/v1/scenarios/{s001}",
            {"json": {"baseVersion": 0, "scenario": {}}},
            400,
            "baseVersion",
            "at least 1",
        ),
        (
            "PUT",
            "/api/v1/scenarios/{s001}",
            {"json": {"baseVersion": 1.5, "scenario": {}}},
            400,
            "baseVersion",
            "integer",
        ),
        ("PUT", "/api/v1/scenarios/{s001}", {"json": {"baseVersion": 1}}, 400, "scenario", "required"),
        (
            "PUT",
            "/api/v1/scenarios/{s001}",
            {"json": {"baseVersion": 1, "scenario": [], "x": 1}},
            400,
            "x",
            "unknown field",
        ),
        (
            "PUT",
            "/api/v1/scenarios/{s001}",
            {"json": {"baseVersion": 1, "scenario": "text"}},
            400,
            "",
            "JSON object",
        ),
        (
            "PUT",
            "/api/v1/scenarios/{s001}",
            {"json": {"baseVersion": 1, "scenario": {"steps": []}}},
            400,
            "name",
            "required",
        ),
        (
            "PUT",
            "/api/v1/scenarios/{s001}",
            {"json": {"baseVersion": 9, "scenario": {"name": "x"}}},
            409,
            "baseVersion",
            "not 9",
        ),
        ("POST", "/api/v1/scenarios/{s001}/clone", {"json": {"key": 7}}, 400, "key", "string"),
        ("POST", "/api/v1/scenarios/{s001}/clone", {"json": {"key": "../etc"}}, 400, "key", "letters"),
        (
            "POST",
            "/api/v1/scenarios/{s001}/clone",
            {"json": {"key": "k", "owner": "me"}},
            400,
            "owner",
            "unknown",
        ),
        ("POST", "/api/v1/scenarios/{s001}/clone", {"json": {"name": "\u202e"}}, 400, "name", "visible"),
        ("POST", "/api/v1/scenarios/{s001}/clone", {"json": {"key": "S002"}}, 409, "key", "already has"),
        ("GET", "/api/v1/scenarios/{s001}/clone", {}, 405, None, "POST"),
        ("POST", "/api/v1/scenarios/{s001}/check", {"content": b"nope"}, 400, "body", "invalid JSON"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(
    api: Any, method: str, path: str, kwargs: dict[str, Any], status: int, field: str | None, text: str
) -> None:
    client, engine, ids = api
    before = _count(engine)
    response = client.request(method, path.format(s001=ids["s001"]), **kwargs)
    err = _error(response, status)
    if field is not None:
        assert err["field"] == field, err
    assert text in err["message"], err
    assert _count(engine) == before


def test_invalid_scenario_lists_every_problem(api: Any) -> None:
    client, engine, ids = api
    body = client.get(f"/api/v1/scenarios/{ids['s001']}").json()
    steps = body["steps"]
    steps[0]["action"]["inputTemplate"] = {"q": "{{step.unknown.response.body.id}}"}
    steps[1]["expectations"]["expectedStatusCode"] = 999
    before = _count(engine)
    response = client.put(
        f"/api/v1/scenarios/{ids['s001']}",
        json={"baseVersion": 1, "scenario": {"name": "x", "tags": [], "steps": steps}},
    )
    err = _error(response, 400)
    assert err["field"] == "steps.0.action.inputTemplate" and err["pointer"] == "/q"
    assert "and 1 more problem" in err["message"]
    fields = [p["field"] for p in err["problems"]]
    assert fields == ["steps.0.action.inputTemplate", "steps.1.expectations.expectedStatusCode"]
    assert _count(engine) == before
