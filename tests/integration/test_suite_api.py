"""REST API: suite specs, binding, chaining, data scaffold, YAML export/import; bad values everywhere."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from orchestra_app.settings import get_settings

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


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


@pytest.fixture
def suite(client: TestClient) -> dict[str, Any]:
    bpmn = FIXTURES / "binding" / "onboarding.bpmn"
    assert (
        client.post(f"/api/v1/processes?filename={bpmn.name}", content=bpmn.read_bytes()).status_code == 201
    )
    ids = {}
    for name in ("onboarding-api.yaml", "backfill-api.yaml"):
        r = client.post(
            "/api/v1/specs", content=(FIXTURES / "binding" / name).read_bytes(), headers={"X-Filename": name}
        )
        ids[r.json()["service_name"]] = r.json()["spec_id"]
    [row] = client.get("/api/v1/suites").json()["items"]
    return {"id": row["id"], "specs": ids}


def _err(response: Any, status: int, field: str | None, fragment: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert fragment in error["message"], error
    if field is not None:
        assert error.get("field") == field, error


def test_specs_scope_and_bind(client: TestClient, suite: dict[str, Any]) -> None:
    base = f"/api/v1/suites/{suite['id']}"
    assert client.get(f"{base}/specs").json() == {"items": []}
    _err(client.post(f"{base}/bind"), 400, "spec_ids", "has no specs chosen")
    for body, field, fragment in [
        (b"", "body", "JSON object body"),
        (b"{oops", "body", "not JSON"),
        (b"[1]", "body", "JSON object"),
        (b'{"specs": []}', "specs", "unknown field"),
        (b"{}", "specIds", "required"),
        (b'{"specIds": "x"}', "specIds", "list of UUIDs"),
        (b'{"specIds": ["nope"]}', "specIds[0]", "must be a UUID"),
    ]:
        _err(client.put(f"{base}/specs", content=body), 400, field, fragment)
    _err(client.put(f"{base}/specs", json={"specIds": [str(uuid.uuid4())]}), 404, "spec_ids", "not found")
    _err(client.get("/api/v1/suites/not-a-uuid/specs"), 400, "suite_id", "must be a UUID")
    _err(client.get(f"/api/v1/suites/{uuid.uuid4()}/specs"), 404, "suite_id", "not found")
    assert client.get(f"{base}/specs").json() == {"items": []}  # refusals stored nothing

    chosen = client.put(f"{base}/specs", json={"specIds": [suite["specs"]["onboarding-api"]]})
    assert chosen.status_code == 200 and chosen.json()["items"][0]["service"] == "onboarding-api"
    for body, field, fragment in [
        ({"overrides": ["x"]}, "overrides", "service:operationId"),
        ({"environmentId": "prod"}, "environmentId", "must be a UUID"),
        ({"specIds": [1]}, "specIds[0]", "must be a UUID"),
        ({"mode": "fast"}, "mode", "unknown field"),
    ]:
        _err(client.post(f"{base}/bind", json=body), 400, field, fragment)
    _err(
        client.post(f"{base}/bind", json={"environmentId": str(uuid.uuid4())}),
        404,
        "environment_id",
        "not found",
    )
    bound = client.post(f"{base}/bind")
    assert bound.status_code == 200, bound.text
    verdicts = {b["node_id"]: (b["status"], b["operation"]) for b in bound.json()["bindings"]}
    assert verdicts["cancel"] == ("MATCHED", "cancelApplication")
    assert any(
        c["step"] == "cancel_application" and c["sourceStep"] == "submit_application"
        for c in bound.json()["chaining"]
    )


def test_chaining_scaffold_export_import(client: TestClient, suite: dict[str, Any]) -> None:
    base = f"/api/v1/suites/{suite['id']}"
    client.put(f"{base}/specs", json={"specIds": [suite["specs"]["onboarding-api"]]})
    assert client.post(f"{base}/bind").status_code == 200
    chaining = client.get(f"{base}/chaining").json()["items"]
    assert chaining and all(not c["overridden"] for c in chaining)
    for body, field, fragment in [
        ({"overrides": []}, "overrides", "non-empty list"),
        ({"overrides": [{"step": "ghost", "pointer": "/a"}]}, "overrides[0].step", "no step 'ghost'"),
        (
            {
                "overrides": [
                    {"step": "cancel_application", "pointer": "/pathParams/applicationId", "source": 5}
                ]
            },
            "overrides[0].source",
            "placeholder string",
        ),
    ]:
        _err(client.put(f"{base}/chaining", json=body), 400, field, fragment)
    changed = client.put(
        f"{base}/chaining",
        json={
            "overrides": [
                {"step": "cancel_application", "pointer": "/pathParams/applicationId", "source": None}
            ]
        },
    )
    assert changed.status_code == 200
    assert all(c["overridden"] for c in changed.json()["items"] if c["step"] == "cancel_application")

    for body, field, fragment in [
        ({"store": "yes"}, "store", "true or false"),
        ({"name": 5}, "name", "is text"),
        ({"store": True, "name": ""}, "name", "1 to 300"),
        ({"size": 1}, "size", "unknown field"),
    ]:
        _err(client.post(f"{base}/data-scaffold", json=body), 400, field, fragment)
    preview = client.post(f"{base}/data-scaffold")
    assert preview.status_code == 200 and preview.json()["data_set_id"] is None
    assert preview.json()["data"]["applicationId"]  # the override made it a data variable again
    stored = client.post(f"{base}/data-scaffold", json={"store": True, "name": "default"})
    assert stored.status_code == 201 and stored.json()["data_set_id"]
    assert client.post(f"{base}/data-scaffold", json={"store": True, "name": "default"}).status_code == 200
    assert [d["name"] for d in client.get("/api/v1/data-sets").json()["items"]] == ["default"]

    exported = client.get(f"{base}/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/yaml")
    text = exported.text
    assert yaml.safe_load(text)["suite"]["specs"][0]["service"] == "onboarding-api"
    _err(client.post("/api/v1/suites/import", content=text.encode()), 400, "filename", "name the file")
    broken = text.replace("kind: ACTION", "kind: NOPE", 1)
    bad = client.post("/api/v1/suites/import?filename=suite.yaml", content=broken.encode())
    _err(bad, 400, None, "'ACTION' or 'ASSERTION'")
    assert bad.json()["error"]["file"] == "suite.yaml" and bad.json()["error"]["line"] > 1
    same = client.post("/api/v1/suites/import?filename=suite.yaml", content=text.encode())
    assert same.status_code == 200 and same.json()["scenarios_unchanged"] == 2
    assert client.get(f"{base}/export").text == text
    _err(client.get(f"/api/v1/suites/{uuid.uuid4()}/export"), 404, "suite_id", "not found")
