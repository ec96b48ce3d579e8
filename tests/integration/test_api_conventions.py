"""REST API conventions (issue 7 items 6-8): JSON errors everywhere under /api/, named parameters,
pagination, detail routes, tenant isolation of ids. Against PostgreSQL through Starlette's TestClient."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from orchestra_app.db.tables import Process, ProcessVersion, ProtocolSpec, ScenarioSuite, Tenant
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import processes
from orchestra_app.settings import get_settings

pytestmark = pytest.mark.integration
APP = Path(__file__).resolve().parents[1] / "fixtures" / "app"
ORDER = (APP / "order.bpmn").read_bytes()
ERROR_KEYS = {"kind", "message", "file", "line", "column", "pointer", "field", "text"}


async def _boom(_request: Request) -> None:
    raise RuntimeError("secret internal detail")


async def _collide(_request: Request) -> None:
    raise IntegrityError("INSERT INTO process ...", {}, Exception("duplicate key (secret)"))


@pytest.fixture
def engine(
    migrated_pg_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[sa.Engine]:
    monkeypatch.setenv("DB_URL", migrated_pg_engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield migrated_pg_engine
    get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def client(engine: sa.Engine) -> Iterator[TestClient]:
    api = create_api(extra_routes=[Route("/v1/boom", _boom), Route("/v1/collide", _collide)])
    with TestClient(api, raise_server_exceptions=False) as c:
        yield c


def _error(response: object, status: int) -> dict[str, object]:
    r = response
    assert r.status_code == status, (r.status_code, r.text[:500])  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/json"), r.text[:200]  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) >= ERROR_KEYS, body
    return body["error"]  # type: ignore[no-any-return]


def _count(engine: sa.Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


# ---------------------------------------------------------------------------------- errors are JSON


def test_unknown_routes_methods_and_long_paths_answer_json(client: TestClient) -> None:
    for path in ("/api/v1/nothing-here", "/api/v2/processes", "/api/", "/api", "/api/v1/processes/x/y"):
        error = _error(client.get(path), 404)
        assert error["kind"] == "not_found"
    error = _error(client.delete("/api/v1/processes"), 405)
    assert error["kind"] == "method_not_allowed" and "GET" in str(error["message"])
    assert "POST" in str(error["message"])
    _error(client.put("/api/v1/health"), 405)
    long_path = "/api/v1/" + "a" * 10_000
    r = client.get(long_path)
    error = _error(r, 404)
    assert len(r.text) < 1_000 and "a" * 100 not in r.text


def test_unexpected_exception_is_json_500_with_logged_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="orchestra"):
        r = client.get("/api/v1/boom")
    error = _error(r, 500)
    assert error["kind"] == "internal" and error["id"] and str(error["id"]) in str(error["message"])
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if getattr(rec, "errorId", None) == error["id"]]
    assert logged and logged[0].exc_info is not None and "secret internal detail" in logged[0].getMessage()


def test_an_integrity_error_that_escapes_is_409_conflict(client: TestClient) -> None:
    r = client.get("/api/v1/collide")
    error = _error(r, 409)
    assert error["kind"] == "conflict" and "retry" in str(error["message"]) and "secret" not in r.text


# ---------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("strategy=bogus", "strategy", "edges, paths"),
        ("strategy=bogus&max_loop=x", "strategy", "bogus"),
        ("max_loop=0", "max_loop", "at least 1"),
        ("max_loop=-3", "max_loop", "at least 1"),
        ("max_loop=1000000000", "max_loop", "at most 20"),
        ("max_loop=2.5", "max_loop", "integer"),
        ("max_loop=abc", "max_loop", "integer"),
        ("max_scenarios=0", "max_scenarios", "at least 1"),
        ("max_scenarios=10001", "max_scenarios", "at most 10000"),
        ("parallel=all", "parallel", "pairwise, product"),
        ("key=%E2%80%AEevil", "key", "control characters"),
        ("key=" + "k" * 200, "key", "longer than"),
        ("key=---", "key", "letter or digit"),
        ("stratgy=paths", "stratgy", "unknown query parameter"),
        ("max_loop=2&max_loop=3", "max_loop", "more than once"),
        ("filename=" + "f" * 300, "filename", "longer than"),
    ],
)
def test_import_parameter_errors_name_the_parameter(
    client: TestClient, engine: sa.Engine, query: str, field: str, words: str
) -> None:
    sep = "&" if "filename=" not in query else ""
    url = f"/api/v1/processes?{query}{sep}{'filename=order.bpmn' if sep else ''}"
    error = _error(client.post(url, content=ORDER), 400)
    assert error["field"] == field and words in str(error["message"]), error
    assert _count(engine, ProcessVersion) == 0


def test_upload_over_the_limit_is_refused_before_reading(
    client: TestClient, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRA_MAX_UPLOAD_BYTES", "1000")
    get_settings.cache_clear()
    error = _error(client.post("/api/v1/processes?filename=big.bpmn", content=b"<" * 5000), 413)
    assert error["kind"] == "too_large" and error["file"] == "big.bpmn"
    assert _count(engine, ProcessVersion) == 0


# ---------------------------------------------------------------------------------- pagination


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=1e3", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=99999999999999999999999", "offset"),
        ("page=2", "page"),
    ],
)
def test_bad_pagination_is_refused_naming_the_parameter(client: TestClient, query: str, field: str) -> None:
    for collection in ("processes", "specs", "suites", "audit"):
        error = _error(client.get(f"/api/v1/{collection}?{query}"), 400)
        assert error["field"] == field, error


def test_lists_page_with_total_and_next_link(client: TestClient, engine: sa.Engine) -> None:
    for i in range(7):
        r = client.post(f"/api/v1/processes?filename=order.bpmn&key=proc-{i}", content=ORDER)
        assert r.status_code == 201, r.text
    first = client.get("/api/v1/processes?limit=3").json()
    assert (first["total"], first["limit"], first["offset"], len(first["items"])) == (7, 3, 0, 3)
    assert first["next"] == "/api/v1/processes?limit=3&offset=3"
    seen = [p["key"] for p in first["items"]]
    page = first
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [p["key"] for p in page["items"]]
    assert sorted(seen) == [f"proc-{i}" for i in range(7)] and len(set(seen)) == 7
    assert page["offset"] == 6 and page["next"] is None
    default = client.get("/api/v1/processes").json()
    assert (default["limit"], default["total"], default["next"]) == (50, 7, None)
    past = client.get("/api/v1/processes?offset=100").json()
    assert past["items"] == [] and past["total"] == 7 and past["next"] is None
    suites = client.get("/api/v1/suites?limit=500").json()
    assert suites["total"] == 7 and suites["items"][0]["label"].endswith(f"[{suites['items'][0]['process']}]")


# ---------------------------------------------------------------------------------- detail routes


def test_detail_routes_with_versions_scenarios_and_steps(client: TestClient) -> None:
    for _ in range(2):
        assert client.post("/api/v1/processes?filename=order.bpmn", content=ORDER).status_code == 201
    spec = client.post(
        "/api/v1/specs",
        content=(APP / "orders-api.yaml").read_bytes(),
        headers={"X-Filename": "orders-api.yaml"},
    ).json()
    listed = client.get("/api/v1/processes").json()["items"][0]
    process = client.get(f"/api/v1/processes/{listed['id']}").json()
    assert process["key"] == "order" and [v["version"] for v in process["versions"]] == [2, 1]
    suite_id = process["versions"][0]["suite_ids"][0]
    suite = client.get(f"/api/v1/suites/{suite_id}").json()
    assert suite["process"]["key"] == "order" and suite["process_version"] == 2
    assert suite["label"] == "Order fulfilment v2 [order]" or suite["label"].endswith("[order]")
    assert suite["scenarios"] and all(s["steps"] for s in suite["scenarios"])
    first_steps = suite["scenarios"][0]["steps"]
    assert [s["order"] for s in first_steps] == list(range(len(first_steps)))
    assert {"alias", "kind", "action", "expectations"} <= set(first_steps[0])
    detail = client.get(f"/api/v1/specs/{spec['spec_id']}").json()
    assert detail["service"] == "orders-api" and {o["id"] for o in detail["operations"]} == {
        "createOrder",
        "getOrder",
    }


def test_detail_routes_refuse_bad_ids_and_hide_other_tenants(client: TestClient, engine: sa.Engine) -> None:
    for collection in ("processes", "specs", "suites"):
        error = _error(client.get(f"/api/v1/{collection}/not-a-uuid"), 400)
        assert error["field"] == "id" and "UUID" in str(error["message"])
        error = _error(client.get(f"/api/v1/{collection}/{uuid.uuid4()}"), 404)
        assert error["kind"] == "not_found"
        _error(client.get(f"/api/v1/{collection}/{'9' * 5000}"), 400)
    # Another tenant's process, suite and spec: their ids answer 404 to the development tenant.
    other_tenant = uuid.uuid4()
    with Session(engine) as session:
        session.add(Tenant(id=other_tenant, name="other", settings={}))
        session.commit()
        other = Principal(tenant_id=other_tenant, user_id=uuid.uuid4(), roles=frozenset({Role.ORG_ADMIN}))
        result = processes.import_process(session=session, principal=other, data=ORDER, filename="order.bpmn")
        from orchestra_app.services import specs

        spec = specs.import_spec(
            session=session,
            principal=other,
            data=(APP / "orders-api.yaml").read_bytes(),
            filename="orders-api.yaml",
        )
        session.commit()
    for path in (
        f"/api/v1/processes/{result.process_id}",
        f"/api/v1/suites/{result.suite_id}",
        f"/api/v1/specs/{spec.spec_id}",
    ):
        _error(client.get(path), 404)
    assert client.get("/api/v1/processes").json()["total"] == 0
    assert (
        _count(engine, Process) == 1
        and _count(engine, ScenarioSuite) == 1
        and _count(engine, ProtocolSpec) == 1
    )


def test_extra_routes_inside_and_outside_the_api_mount(engine: sa.Engine) -> None:
    from starlette.responses import PlainTextResponse

    async def plain(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    api = create_api(
        extra_routes=[
            Route("/v1/things", plain, methods=["GET"]),  # relative: inside /api
            Route("/api/v1/legacy", plain, methods=["GET"]),  # a full path: served as written
            Route("/metrics", plain, methods=["GET"]),  # outside /api
        ]
    )
    with TestClient(api, raise_server_exceptions=False) as c:
        assert [c.get(p).text for p in ("/api/v1/things", "/api/v1/legacy", "/metrics")] == ["ok"] * 3
        assert _error(c.post("/api/v1/things"), 405)["kind"] == "method_not_allowed"
        assert c.get("/api/v1/processes").json()["total"] == 0  # the generic route still answers
