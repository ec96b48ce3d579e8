"""REST API for environments and connection profiles against PostgreSQL: the whole life cycle, every
parameter tried with bad values (nothing stored on refusal), 50+ concurrent writers, and a known secret
that a real run uses but no response, export or log line ever shows."""

from __future__ import annotations

import concurrent.futures
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from executor import bootstrap
from executor.broker import start_in_process_worker
from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from tests.fixtures.http.server import TOKEN, LoopbackServer, serve
from tests.fixtures.runs import app_database, seed_suite, wait_for

pytestmark = pytest.mark.integration

BASE = "/api/v1/environments"


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture
def client(migrated_pg_engine, tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with app_database(migrated_pg_engine.url.render_as_string(hide_password=False), str(tmp_path)):
        bootstrap.wire()
        start_in_process_worker(threads=4)
        with TestClient(create_api(), raise_server_exceptions=False) as c:
            yield c


def db_profile(url: str = "postgresql://127.0.0.1:5432/shop") -> dict[str, Any]:
    return {"url": url, "username": "shop", "password": {"secret": "DB_PASSWORD"}}


def env_body(name: str = "staging", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "the staging shop",
        "services": {
            "shop": {
                "baseUrl": "http://127.0.0.1:8080",
                "auth": {"type": "bearer", "token": {"secret": "SHOP_TOKEN"}},
            }
        },
        "variables": {"region": "eu"},
        "secrets": {"SHOP_TOKEN": {"env": "STAGING_SHOP_TOKEN"}, "DB_PASSWORD": {"file": "/run/secrets/db"}},
        **extra,
    }


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


def counts(client: TestClient) -> tuple[int, int]:
    envs = client.get(BASE, params={"limit": 500}).json()["total"]
    profiles = client.get("/api/v1/profiles", params={"limit": 500}).json()["total"]
    return envs, profiles


def test_life_cycle_create_get_update_clone_export_import_delete(client: TestClient) -> None:
    profile = client.post("/api/v1/profiles/db", json={"name": "shop-pg", "settings": db_profile()})
    assert profile.status_code == 201, profile.text
    assert profile.json()["settings"]["password"] == {"secret": "DB_PASSWORD"}
    created = client.post(BASE, json=env_body(profiles={"db": {"main": "shop-pg"}}))
    assert created.status_code == 201, created.text
    env = created.json()
    assert env["version"] == 1 and env["profiles"]["db"]["main"]["name"] == "shop-pg"
    assert env["secrets"]["SHOP_TOKEN"] == {"env": "STAGING_SHOP_TOKEN"}
    env_id = env["id"]

    got = client.get(f"{BASE}/{env_id}").json()
    assert got["services"]["shop"]["auth"]["token"] == {"secret": "SHOP_TOKEN"}
    listing = client.get(BASE, params={"q": "STAG"}).json()
    assert [item["name"] for item in listing["items"]] == ["staging"] and listing["total"] == 1
    assert listing["items"][0]["profiles"]["db"] == ["main"]

    # update with the version edited; a second writer still holding version 1 gets a 409
    changed = client.put(f"{BASE}/{env_id}", json=env_body(description="v2", version=1))
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and not any(changed.json()["profiles"].values())
    stale = client.put(f"{BASE}/{env_id}", json=env_body(description="lost", version=1))
    assert stale.status_code == 409 and error(stale)["field"] == "version"
    assert client.get(f"{BASE}/{env_id}").json()["description"] == "v2"

    clone = client.post(f"{BASE}/{env_id}/clone", json={"name": "staging-2"})
    assert clone.status_code == 201, clone.text
    assert clone.json()["services"] == changed.json()["services"] and clone.json()["id"] != env_id
    again = client.post(f"{BASE}/{env_id}/clone", json={"name": "staging-2"})
    assert again.status_code == 409 and error(again)["field"] == "name"

    exported = client.get(f"{BASE}/{env_id}/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/yaml")
    assert "format: orchestra-environment/1" in exported.text and "SHOP_TOKEN" in exported.text
    imported = client.post(
        f"{BASE}/import", params={"filename": "staging.yaml", "name": "from-file"}, content=exported.text
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["environment"]["services"] == changed.json()["services"]
    same = client.post(f"{BASE}/import", params={"name": "from-file"}, content=exported.text)
    assert same.status_code == 200 and same.json()["changed"] is False

    gone = client.delete(f"{BASE}/{env_id}", params={"version": 2})
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert client.get(f"{BASE}/{env_id}").status_code == 404
    # a profile still mapped cannot go; once free it can
    profile_id = profile.json()["id"]
    mapped = client.post(BASE, json=env_body("uses-pg", profiles={"db": {"main": profile_id}}))
    assert mapped.status_code == 201
    busy = client.delete(f"/api/v1/profiles/db/{profile_id}")
    assert busy.status_code == 409 and "uses-pg" in error(busy)["message"]
    assert client.delete(f"{BASE}/{mapped.json()['id']}").status_code == 200
    assert client.delete(f"/api/v1/profiles/db/{profile_id}").status_code == 200
    assert client.get(f"/api/v1/profiles/db/{profile_id}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        ("get", BASE, {"params": {"limit": "0"}}, 400, "limit"),
        ("get", BASE, {"params": {"limit": "501"}}, 400, "limit"),
        ("get", BASE, {"params": {"limit": "ten"}}, 400, "limit"),
        ("get", BASE, {"params": {"offset": "-1"}}, 400, "offset"),
        ("get", BASE, {"params": {"q": "x" * 201}}, 400, "q"),
        ("get", BASE, {"params": {"q": "a\x00b"}}, 400, "q"),
        ("get", BASE, {"params": {"sort": "name"}}, 400, "sort"),
        ("get", f"{BASE}/not-a-uuid", {}, 400, "id"),
        ("get", f"{BASE}/{uuid.uuid4()}", {}, 404, "id"),
        ("get", f"{BASE}/{uuid.uuid4()}/export", {}, 404, "id"),
        ("post", BASE, {"content": b""}, 400, "body"),
        ("post", BASE, {"content": b"{nope"}, 400, "body"),
        ("post", BASE, {"json": ["a list"]}, 400, "body"),
        ("post", BASE, {"json": {"name": "x", "colour": "red"}}, 400, "colour"),
        ("post", BASE, {"json": {"description": "no name"}}, 400, "name"),
        ("post", BASE, {"json": {"name": "   "}}, 400, "name"),
        ("post", BASE, {"json": {"name": "x" * 201}}, 400, "name"),
        (
            "post",
            BASE,
            {"json": {"name": "x", "services": {"shop": {"baseUrl": 5}}}},
            400,
            "services.shop.baseUrl",
        ),
        (
            "post",
            BASE,
            {"json": {"name": "x", "services": {"shop": {"baseUrl": "http://u:pw@h"}}}},
            400,
            "services.shop.baseUrl",
        ),
        ("post", BASE, {"json": {"name": "x", "secrets": {"bad name": {"env": "X"}}}}, 400, "secrets"),
        ("post", BASE, {"json": {"name": "x", "profiles": {"mongo": {"m": "p"}}}}, 400, "profiles"),
        (
            "post",
            BASE,
            {"json": {"name": "x", "profiles": {"db": {"main": "no-such-profile"}}}},
            404,
            "profiles.db.main",
        ),
        ("post", BASE, {"params": {"dry": "1"}, "json": {"name": "x"}}, 400, "dry"),
        ("put", f"{BASE}/{uuid.uuid4()}", {"json": {"name": "x"}}, 404, "id"),
        ("put", f"{BASE}/bad", {"json": {"name": "x"}}, 400, "id"),
        ("delete", f"{BASE}/{uuid.uuid4()}", {"params": {"version": "zero"}}, 400, "version"),
        ("delete", f"{BASE}/{uuid.uuid4()}", {"params": {"version": "0"}}, 400, "version"),
        ("post", f"{BASE}/{uuid.uuid4()}/clone", {"json": {}}, 400, "name"),
        ("post", f"{BASE}/{uuid.uuid4()}/clone", {"json": {"name": "c", "x": 1}}, 400, "x"),
        ("post", f"{BASE}/{uuid.uuid4()}/clone", {"json": {"name": "c"}}, 404, "id"),
        ("post", f"{BASE}/import", {"content": b""}, 400, "body"),
        ("post", f"{BASE}/import", {"content": b"format: orchestra-environment/1\nname: [x\n"}, 400, None),
        ("post", f"{BASE}/import", {"content": b"format: other/9\nname: x\n"}, 400, None),
        ("post", f"{BASE}/import", {"params": {"filename": "f" * 256}, "content": b"x: 1"}, 400, "filename"),
        ("post", f"{BASE}/import", {"params": {"overwrite": "1"}, "content": b"x: 1"}, 400, "overwrite"),
        ("post", f"{BASE}/import", {"params": {"name": "n" * 201}, "content": b"x: 1"}, 400, "name"),
        ("post", f"{BASE}/import", {"params": {"name": "a\x07b"}, "content": b"x: 1"}, 400, "name"),
        ("put", f"{BASE}/{uuid.uuid4()}", {"json": {"name": "x", "version": "two"}}, 400, "version"),
        ("post", f"{BASE}/{uuid.uuid4()}/clone", {"json": ["c"]}, 400, "body"),
        ("get", "/api/v1/profiles", {"params": {"kind": "mongo"}}, 400, "kind"),
        ("get", "/api/v1/profiles", {"params": {"kind": "db", "sort": "x"}}, 400, "sort"),
        (
            "put",
            f"/api/v1/profiles/db/{uuid.uuid4()}",
            {"json": {"name": "k", "settings": [1]}},
            400,
            "settings",
        ),
        ("get", "/api/v1/profiles", {"params": {"limit": "-3"}}, 400, "limit"),
        ("post", "/api/v1/profiles/mongo", {"json": {"name": "m", "settings": {}}}, 400, "kind"),
        ("post", "/api/v1/profiles/db", {"json": {"name": "m"}}, 400, "settings"),
        ("post", "/api/v1/profiles/db", {"json": {"name": "m", "settings": {"url": 3}}}, 400, None),
        (
            "post",
            "/api/v1/profiles/db",
            {"json": {"name": "m", "settings": {"url": "postgresql://h/d", "poolSize": 0}}},
            400,
            None,
        ),
        (
            "post",
            "/api/v1/profiles/queue",
            {"json": {"name": "q", "settings": {"kind": "zeromq", "endpoint": "x"}}},
            400,
            None,
        ),
        ("get", f"/api/v1/profiles/db/{uuid.uuid4()}", {}, 404, "id"),
        ("get", "/api/v1/profiles/db/123", {}, 400, "id"),
        (
            "put",
            f"/api/v1/profiles/kafka/{uuid.uuid4()}",
            {"json": {"name": "k", "settings": {"bootstrapServers": "h:1"}}},
            404,
            "id",
        ),
        ("delete", f"/api/v1/profiles/queue/{uuid.uuid4()}", {}, 404, "id"),
    ],
)
def test_bad_values_are_refused_with_the_field_and_store_nothing(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int, field: str | None
) -> None:
    before = counts(client)
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    err = error(response)
    assert err["message"]
    if field is not None:
        assert (err.get("field") or "").startswith(field), err
    assert "Traceback" not in response.text
    assert counts(client) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "services": {
                    "shop": {"baseUrl": "http://h", "auth": {"type": "bearer", "token": "s3cr3t-value"}}
                }
            },
            "services.shop.auth.token",
        ),
        (
            {
                "services": {
                    "shop": {"baseUrl": "http://h", "headers": {"Authorization": "Bearer s3cr3t-value"}}
                }
            },
            "services.shop.headers.Authorization",
        ),
        (
            {"services": {"shop": {"baseUrl": "http://h", "options": {"apiToken": "s3cr3t-value"}}}},
            "services.shop.options.apiToken",
        ),
    ],
)
def test_literal_secrets_are_refused_and_never_echoed(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post(BASE, json={"name": "leaky", **body})
    assert response.status_code == 400 and error(response)["field"] == field
    assert "s3cr3t-value" not in response.text
    literal = client.post(
        "/api/v1/profiles/db",
        json={"name": "leaky", "settings": {"url": "postgresql://h/d", "password": "s3cr3t-value"}},
    )
    assert literal.status_code == 400 and "s3cr3t-value" not in literal.text
    in_url = client.post(
        "/api/v1/profiles/db", json={"name": "leaky", "settings": {"url": "postgresql://u:s3cr3t-value@h/d"}}
    )
    assert in_url.status_code == 400 and "s3cr3t-value" not in in_url.text
    assert counts(client) == (0, 0)


def test_fifty_concurrent_writers_on_postgresql(client: TestClient) -> None:
    created = client.post(BASE, json=env_body("shared"))
    env_id, version = created.json()["id"], created.json()["version"]

    def create(i: int) -> int:
        # 30 distinct names and 30 callers racing for one name: exactly one of those wins
        name = f"env-{i}" if i < 30 else "contended"
        return client.post(BASE, json=env_body(name)).status_code

    def update(i: int) -> int:
        return client.put(
            f"{BASE}/{env_id}", json=env_body("shared", description=f"d{i}", version=version)
        ).status_code

    def clone(i: int) -> int:
        return client.post(f"{BASE}/{env_id}/clone", json={"name": f"copy-{i % 10}"}).status_code

    def profile(i: int) -> int:
        return client.post(
            "/api/v1/profiles/kafka", json={"name": f"k{i % 5}", "settings": {"bootstrapServers": "h:9092"}}
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        creates = list(pool.map(create, range(60)))
        updates = list(pool.map(update, range(50)))
        clones = list(pool.map(clone, range(50)))
        profiles = list(pool.map(profile, range(50)))
    assert sorted(set(creates)) == [201, 409] and creates.count(201) == 31
    # optimistic versions: exactly one writer of version 1 wins, the others are told to reload
    assert updates.count(200) == 1 and updates.count(409) == 49
    assert clones.count(201) == 10 and clones.count(409) == 40
    assert profiles.count(201) == 5 and profiles.count(409) == 45
    listing = client.get(BASE, params={"limit": 500}).json()
    names = [item["name"] for item in listing["items"]]
    assert len(names) == len(set(names)) == 1 + 31 + 10
    assert client.get(f"{BASE}/{env_id}").json()["version"] == 2
    # concurrent deletes of one environment: one 200, the rest 404, nothing left half-deleted
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        deletes = list(pool.map(lambda _i: client.delete(f"{BASE}/{env_id}").status_code, range(50)))
    assert deletes.count(200) == 1 and deletes.count(404) == 49


def test_a_known_secret_is_used_by_a_run_but_never_shown_or_logged(
    client: TestClient,
    loopback: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seeded = seed_suite(
        get_engine(),
        base_url=loopback.base_url,
        scenarios={
            "secure": [
                {
                    "alias": "callSecure",
                    "inputTemplate": {"method": "GET", "path": "/secure/bearer"},
                    "expectations": {"expectedStatusCode": 200},
                },
                {
                    "alias": "rowThere",
                    "kind": "ASSERTION",
                    "channelType": "DB",
                    "meta": {"dataSource": "main", "sql": "SELECT count(*) AS n FROM tenant"},
                    "expectations": {"businessRules": [{"path": "$.rows[0].n", "equals": 1}]},
                },
            ]
        },
    )
    url = sa.engine.make_url(get_engine().url.render_as_string(hide_password=False))
    db_password = url.password or ""
    bare = sa.engine.URL.create("postgresql", host=url.host, port=url.port, database=url.database)
    token_file = tmp_path / "shop-token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("INT_TEST_DB_PASSWORD", db_password)
    profile = client.post(
        "/api/v1/profiles/db",
        json={
            "name": "app-db",
            "settings": {
                "url": bare.render_as_string(),
                "username": url.username,
                "password": {"secret": "DB_PASSWORD"},
            },
        },
    )
    assert profile.status_code == 201, profile.text
    body = {
        "name": "secured",
        "services": {
            "shop": {
                "baseUrl": loopback.base_url,
                "auth": {"type": "bearer", "token": {"secret": "SHOP_TOKEN"}},
            }
        },
        "secrets": {"SHOP_TOKEN": {"file": str(token_file)}, "DB_PASSWORD": {"env": "INT_TEST_DB_PASSWORD"}},
        "profiles": {"db": {"main": "app-db"}},
    }
    env = client.post(BASE, json=body)
    assert env.status_code == 201, env.text
    runs = client.post(
        "/api/v1/testruns",
        json={"scenarioIds": [str(seeded.scenarios["secure"])], "environmentId": env.json()["id"]},
    )
    assert runs.status_code == 201, runs.text
    run_id = runs.json()["runs"][0]["id"]

    def finished() -> dict[str, Any] | None:
        detail = client.get(f"/api/v1/testruns/{run_id}").json()
        return detail if detail["status"] not in ("QUEUED", "IN_PROGRESS") else None

    detail = wait_for(finished, timeout=120, what="the run to end")
    # the secrets were really used: the bearer endpoint answered 200 and the DB step logged in
    assert detail["status"] == "PASSED", detail
    texts = [
        client.get(f"/api/v1/testruns/{run_id}").text,
        client.get("/api/v1/testruns").text,
        client.get(f"{BASE}/{env.json()['id']}").text,
        client.get(BASE).text,
        client.get(f"{BASE}/{env.json()['id']}/export").text,
        client.get("/api/v1/profiles").text,
        client.get(f"/api/v1/profiles/db/{profile.json()['id']}").text,
        client.post(f"{BASE}/{env.json()['id']}/clone", json={"name": "secured-copy"}).text,
        caplog.text,
    ]
    for text in texts:
        assert TOKEN not in text
    assert any(str(token_file) in text for text in texts)  # the reference is shown, not the value
