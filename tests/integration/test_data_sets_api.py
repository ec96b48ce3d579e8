"""REST API for data sets on PostgreSQL: every route and parameter, with bad values answered as JSON
errors naming the field, and nothing stored on a refusal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from tests.fixtures.runs import Seeded, app_database, get_step, seed_suite

pytestmark = pytest.mark.integration
BASE = "/api/v1/data-sets"


@pytest.fixture
def client(migrated_pg_engine, tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    url = migrated_pg_engine.url.render_as_string(hide_password=False)
    with app_database(url, str(tmp_path)), TestClient(create_api(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def seeded(client: TestClient) -> Seeded:
    return seed_suite(
        get_engine(), base_url="http://127.0.0.1:9", scenarios={"a": [get_step("one")]}, process_key="api"
    )


def _error(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) >= {"kind", "message", "file", "line", "column", "pointer", "field", "text"}
    assert body["field"] == field, body
    return body  # type: ignore[no-any-return]


def _total(client: TestClient) -> int:
    return int(client.get(BASE).json()["total"])


def test_create_read_edit_clone_delete(client: TestClient, seeded: Seeded) -> None:
    r = client.post(BASE, json={"name": "orders", "tags": ["smoke"], "data": {"sku": "a-1", "qty": 2}})
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["name"], made["scope"], made["data"], made["runs"], made["origin"]) == (
        "orders",
        "GLOBAL",
        {"sku": "a-1", "qty": 2},
        0,
        "MANUAL",
    )
    got = client.get(f"{BASE}/{made['id']}").json()
    assert got["revision"] == made["revision"] and got["variables"] == 2
    patched = client.patch(f"{BASE}/{made['id']}", json={"data": {"sku": "b"}, "revision": made["revision"]})
    assert patched.status_code == 200 and patched.json()["data"] == {"sku": "b"}
    stale = client.patch(f"{BASE}/{made['id']}", json={"name": "x", "revision": made["revision"]})
    assert _error(stale, 409, "revision")["kind"] == "conflict"
    copy = client.post(f"{BASE}/{made['id']}/clone")
    assert copy.status_code == 201 and copy.json()["name"] == "orders (copy)"
    placed = client.post(
        f"{BASE}/{made['id']}/clone",
        json={"name": "suite orders", "scope": "SUITE", "suiteId": str(seeded.suite_id)},
    )
    assert placed.status_code == 201 and placed.json()["suiteName"] == "api v1"
    assert client.get(f"{BASE}/tags").json() == {"items": ["smoke"]}
    listing = client.get(BASE, params={"q": "ORDERS", "limit": 2})
    assert listing.status_code == 200
    page = listing.json()
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (3, 2, 2, 0)
    assert page["next"] and "offset=2" in page["next"]
    assert "data" not in page["items"][0]  # lists carry no data
    assert client.get(BASE, params={"scope": "SUITE"}).json()["total"] == 1
    assert client.get(BASE, params={"suiteId": str(seeded.suite_id)}).json()["total"] == 1
    assert client.get(BASE, params={"tag": "smoke"}).json()["total"] == 3
    stale_delete = client.delete(f"{BASE}/{made['id']}", params={"revision": made["revision"]})
    _error(stale_delete, 409, "revision")
    gone = client.delete(f"{BASE}/{made['id']}", params={"revision": patched.json()["revision"]})
    assert gone.status_code == 200 and gone.json() == {"id": made["id"], "name": "orders", "detachedRuns": 0}
    _error(client.get(f"{BASE}/{made['id']}"), 404, "id")
    _error(client.delete(f"{BASE}/{made['id']}"), 404, "id")


BAD_POSTS: list[tuple[Any, int, str | None]] = [
    (b"", 400, "body"),
    (b"not json", 400, "body"),
    (b"[1, 2]", 400, "body"),
    (b'{"name": "n", "data": {"x": NaN}}', 400, "body"),
    (b'{"name": "n", "data": [1]}', 400, "data"),
    (b'{"name": "n", "data": {"x": 1}, "id": "x"}', 400, "id"),
    (b'{"name": ""}', 400, "name"),
    (b'{"name": "n", "scope": "EVERYWHERE"}', 400, "scope"),
    (b'{"name": "n", "scope": "SUITE", "suiteId": "12"}', 400, "suiteId"),
    (b'{"name": "n", "scope": "SUITE", "suiteId": "00000000-0000-4000-8000-00000000dead"}', 404, "suiteId"),
    (b'{"name": "n", "scope": "SCENARIO", "scenarioId": null}', 400, "scenarioId"),
    (b'{"name": "n", "tags": [["nested"]]}', 400, "tags.0"),
    (b'{"name": "n", "tags": ["a,b"]}', 400, "tags.0"),
]


@pytest.mark.parametrize(("raw", "status", "field"), BAD_POSTS, ids=[str(i) for i in range(len(BAD_POSTS))])
def test_bad_create_bodies(
    client: TestClient, seeded: Seeded, raw: bytes, status: int, field: str | None
) -> None:
    before = _total(client)
    _error(client.post(BASE, content=raw, headers={"content-type": "application/json"}), status, field)
    assert _total(client) == before


def test_oversized_body_is_refused_before_reading_it_all(client: TestClient, seeded: Seeded) -> None:
    big = b'{"name": "n", "data": {"x": "' + b"y" * (2 * 1024 * 1024 + 10) + b'"}}'
    body = _error(client.post(BASE, content=big), 413, "body")
    assert body["kind"] == "too_large"
    assert _total(client) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"scope": "NONE"}, "scope"),
        ({"tag": "x" * 101}, "tag"),
        ({"tag": "a\x01"}, "tag"),
        ({"q": "q" * 201}, "q"),
        ({"suiteId": "abc"}, "suiteId"),
        ({"scenarioId": "abc"}, "scenarioId"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_list_parameters(client: TestClient, params: dict[str, str], field: str) -> None:
    _error(client.get(BASE, params=params), 400, field)


def test_repeated_parameter_and_bad_ids_and_methods(client: TestClient, seeded: Seeded) -> None:
    _error(client.get(f"{BASE}?limit=1&limit=2"), 400, "limit")
    for method, path in (
        ("GET", f"{BASE}/not-a-uuid"),
        ("PATCH", f"{BASE}/not-a-uuid"),
        ("DELETE", f"{BASE}/not-a-uuid"),
        ("POST", f"{BASE}/not-a-uuid/clone"),
    ):
        _error(client.request(method, path, json={}), 400, "id")
    missing = str(uuid.uuid4())
    _error(client.get(f"{BASE}/{missing}"), 404, "id")
    _error(client.patch(f"{BASE}/{missing}", json={"name": "x"}), 404, "id")
    _error(client.post(f"{BASE}/{missing}/clone"), 404, "id")
    put = client.put(BASE)
    assert put.status_code == 405 and put.json()["error"]["kind"] == "method_not_allowed"
    made = client.post(BASE, json={"name": "m"}).json()
    _error(client.get(f"{BASE}/{made['id']}", params={"x": "1"}), 400, "x")
    _error(client.delete(f"{BASE}/{made['id']}", params={"revision": "r" * 65}), 400, "revision")
    _error(client.patch(f"{BASE}/{made['id']}", json={"revision": ["x"]}), 400, "revision")
    _error(client.patch(f"{BASE}/{made['id']}", content=b""), 400, "body")
    _error(client.post(f"{BASE}/{made['id']}/clone", json={"data": {}}), 400, "data")
    _error(client.post(f"{BASE}/{made['id']}/clone", json={"name": "m"}), 409, "name")
    _error(client.get(f"{BASE}/tags", params={"q": "x"}), 400, "q")
    assert client.get(f"{BASE}/{made['id']}").json()["name"] == "m"
