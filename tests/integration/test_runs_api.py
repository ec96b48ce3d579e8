"""REST API for test runs and /metrics, against PostgreSQL with the in-process worker; every
parameter tried with bad values."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from executor import bootstrap
from executor.broker import start_in_process_worker
from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import Seeded, app_database, get_step, seed_suite, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture
def client(migrated_pg_engine, tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with app_database(migrated_pg_engine.url.render_as_string(hide_password=False), str(tmp_path)):
        bootstrap.wire()
        start_in_process_worker(threads=4)
        with TestClient(create_api()) as c:
            yield c


@pytest.fixture
def seeded(client: TestClient, loopback: LoopbackServer) -> Seeded:
    return seed_suite(
        get_engine(),
        base_url=loopback.base_url,
        scenarios={
            "ok": [get_step("a", "o-1"), get_step("b", "o-2")],
            "slow": [get_step(f"s{i}", f"slow-{i}", delay_ms=300) for i in range(10)],
        },
    )


def ended(client: TestClient, run_id: str) -> dict:  # type: ignore[type-arg]
    def check() -> dict | None:  # type: ignore[type-arg]
        body = client.get(f"/api/v1/testruns/{run_id}").json()
        return body if body["status"] in ("PASSED", "FAILED", "CANCELLED") else None

    return wait_for(check, timeout=120, interval=0.1, what=f"run {run_id} to end")


def test_create_list_get_cancel_over_http(client: TestClient, seeded: Seeded) -> None:
    r = client.post("/api/v1/testruns", json={"suiteId": str(seeded.suite_id), "triggeredBy": "ci"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["queued"] == 2 and len(body["runs"]) == 2
    runs = {run["scenarioKey"]: run for run in body["runs"]}
    assert runs["ok"]["status"] == "QUEUED" and runs["ok"]["batchId"] == body["batchId"]
    assert runs["ok"]["triggeredBy"] == "ci" and runs["ok"]["stepCount"] == 2

    done = ended(client, runs["ok"]["id"])
    assert done["status"] == "PASSED"
    assert [s["status"] for s in done["steps"]] == ["PASSED", "PASSED"]
    assert done["steps"][0]["actualStatusCode"] == 200 and done["steps"][0]["responseBody"]["id"] == "o-1"

    slow_id = runs["slow"]["id"]
    wait_for(
        lambda: client.get(f"/api/v1/testruns/{slow_id}").json()["counts"].get("PASSED", 0) >= 1,
        what="the slow run to record a step",
    )
    cancel = client.post(f"/api/v1/testruns/{slow_id}/cancel")
    assert cancel.status_code == 202 and cancel.json()["cancelRequested"] is True
    cancelled = ended(client, slow_id)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["steps"][-1]["status"] == "SKIPPED"
    again = client.post(f"/api/v1/testruns/{slow_id}/cancel")
    assert again.status_code == 409 and again.json()["error"]["field"] == "runId"

    listed = client.get("/api/v1/testruns", params={"batchId": body["batchId"], "limit": 1})
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1
    by_status = client.get("/api/v1/testruns?status=PASSED,CANCELLED").json()
    assert {i["status"] for i in by_status["items"]} == {"PASSED", "CANCELLED"}
    by_scenario = client.get(f"/api/v1/testruns?scenarioId={seeded.scenarios['ok']}").json()
    assert [i["scenarioKey"] for i in by_scenario["items"]] == ["ok"]
    by_suite = client.get(f"/api/v1/testruns?suiteId={seeded.suite_id}&offset=1").json()
    assert by_suite["total"] == 2 and len(by_suite["items"]) == 1

    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    tenant = str(seeded.principal.tenant_id)
    text = metrics.text
    assert f'orchestra_testrun_total{{status="PASSED",tenant="{tenant}"}}' in text
    assert f'orchestra_testrun_total{{status="CANCELLED",tenant="{tenant}"}}' in text
    assert "orchestra_step_duration_ms_bucket{" in text and 'channelType="HTTP_REST"' in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"suiteId": 5}', "suiteId"),
        (b'{"mode": "SOMETIMES", "suiteKey": "shop"}', "mode"),
        (b'{"suiteKey": "shop", "extra": true}', "extra"),
        (b'{"suiteKey": "shop", "startStepIndex": "two"}', "startStepIndex"),
        (b'{"suiteKey": "shop", "dataSetId": "x"}', "dataSetId"),
        (b'{"suiteKey": "shop", "environmentId": "x"}', "environmentId"),
        (b'{"suiteKey": "shop", "fromRunId": "x"}', "fromRunId"),
        (b'{"scenarioIds": ["x"]}', "scenarioIds.0"),
        (b'{"suiteKey": "shop", "variables": []}', "variables"),
        (b'{"suiteKey": "shop", "tag": ""}', "tag"),
    ],
)
def test_create_refuses_bad_bodies(client: TestClient, seeded: Seeded, body: bytes, field: str) -> None:
    r = client.post("/api/v1/testruns", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["field"] == field and error["text"]
    assert client.get("/api/v1/testruns").json()["total"] == 0


def test_create_not_found_is_404(client: TestClient, seeded: Seeded) -> None:
    r = client.post("/api/v1/testruns", json={"suiteId": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["error"]["field"] == "suiteId"


def test_body_size_is_limited(client: TestClient, seeded: Seeded) -> None:
    big = b'{"suiteKey": "shop", "variables": {"x": "' + b"a" * (1024 * 1024) + b'"}}'
    r = client.post("/api/v1/testruns", content=big)
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("status=DONE", "status"),
        ("suiteId=1", "suiteId"),
        ("scenarioId=zz", "scenarioId"),
        ("batchId=%20", "batchId"),
        ("sort=desc", "sort"),
    ],
)
def test_list_refuses_bad_parameters(client: TestClient, query: str, field: str) -> None:
    r = client.get(f"/api/v1/testruns?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_unknown_and_malformed_run_ids(client: TestClient) -> None:
    assert client.get("/api/v1/testruns/abc").json()["error"]["field"] == "id"
    assert client.get("/api/v1/testruns/abc").status_code == 400
    assert client.get(f"/api/v1/testruns/{uuid.uuid4()}").status_code == 404
    assert client.post(f"/api/v1/testruns/{uuid.uuid4()}/cancel").status_code == 404
    assert client.post("/api/v1/testruns/1/cancel").status_code == 400
    assert client.delete("/api/v1/testruns").status_code == 405
