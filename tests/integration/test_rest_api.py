"""REST API v1 against PostgreSQL: import a process and a spec by POSTing the file, list, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from orchestra_app.settings import get_settings

pytestmark = pytest.mark.integration
APP = Path(__file__).resolve().parents[1] / "fixtures" / "app"


@pytest.fixture
def client(migrated_pg_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DB_URL", migrated_pg_engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    get_engine.cache_clear()
    with TestClient(create_api()) as c:
        yield c
    get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


def test_import_process_then_list(client: TestClient) -> None:
    r = client.post(
        "/api/v1/processes?filename=order.bpmn&strategy=paths", content=(APP / "order.bpmn").read_bytes()
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["process_key"] == "order" and body["version"] == 1 and body["scenario_count"] >= 4
    assert body["coverage"]["flowsCovered"] == 9
    listed = client.get("/api/v1/processes").json()["items"]
    assert [p["key"] for p in listed] == ["order"]
    suites = client.get("/api/v1/suites").json()["items"]
    assert suites[0]["process"] == "order" and suites[0]["tags"] == "paths"


def test_import_spec_idempotent(client: TestClient) -> None:
    data = (APP / "orders-api.yaml").read_bytes()
    first = client.post("/api/v1/specs", content=data, headers={"X-Filename": "orders-api.yaml"})
    again = client.post("/api/v1/specs", content=data, headers={"X-Filename": "orders-api.yaml"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["spec_id"] == again.json()["spec_id"] and first.json()["operations"] == 2
    assert [s["service"] for s in client.get("/api/v1/specs").json()["items"]] == ["orders-api"]


def test_errors_are_json_with_location(client: TestClient) -> None:
    bad = client.post("/api/v1/processes?filename=garbage.txt", content=b"hello\nworld\n")
    assert bad.status_code == 400
    assert bad.json()["error"]["file"] == "garbage.txt" and "garbage.txt" in bad.json()["error"]["text"]
    unnamed = client.post("/api/v1/processes", content=b"<x/>")
    assert unnamed.status_code == 400 and unnamed.json()["error"]["field"] == "filename"
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert client.get("/api/v1/processes").json()["items"] == []  # nothing stored by the failures
