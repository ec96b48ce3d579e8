"""Flaky steps across real runs (PostgreSQL, in-process worker, a real DB assertion): a step whose
outcome differs from recent runs of the same scenario version, data and environment is flagged, the
run detail says which and why, and the Prometheus counters move."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from executor import bootstrap
from executor.broker import start_in_process_worker
from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import app_database, get_step, seed_suite, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture
def client(migrated_pg_engine, tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with app_database(migrated_pg_engine.url.render_as_string(hide_password=False), str(tmp_path)):
        bootstrap.wire()
        start_in_process_worker(threads=2)
        with TestClient(create_api()) as c:
            yield c


def metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_step_that_changes_outcome_across_runs_is_flaky(
    client: TestClient, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE flaky_probe (id int)"))
        conn.execute(sa.text("INSERT INTO flaky_probe VALUES (1)"))
    seeded = seed_suite(
        engine,
        base_url=loopback.base_url,
        scenarios={
            "probe": [
                get_step("order"),
                {
                    "alias": "rowThere",
                    "kind": "ASSERTION",
                    "channelType": "DB",
                    "meta": {
                        "dataSource": "app",
                        "sql": "SELECT count(*) AS n FROM flaky_probe",
                        "timeoutMs": 300,
                        "pollIntervalMs": 100,
                    },
                    "expectations": {"businessRules": [{"path": "$.rows[0].n", "equals": 1}]},
                },
            ]
        },
    )
    url = engine.url
    monkeypatch.setenv("FLAKY_TEST_DB_PASSWORD", url.password or "")
    bare = sa.engine.URL.create("postgresql", host=url.host, port=url.port, database=url.database)
    settings = {
        "url": bare.render_as_string(),
        "username": url.username,
        "password": {"secret": "DB_PASSWORD"},
    }
    assert (
        client.post("/api/v1/profiles/db", json={"name": "app-db", "settings": settings}).status_code == 201
    )
    body = {
        "name": "probe-env",
        "services": {"shop": {"baseUrl": loopback.base_url}},
        "secrets": {"DB_PASSWORD": {"env": "FLAKY_TEST_DB_PASSWORD"}},
        "profiles": {"db": {"app": "app-db"}},
    }
    env = client.post("/api/v1/environments", json=body)
    assert env.status_code == 201, env.text
    env_id = env.json()["id"]
    tenant = {"tenant": str(seeded.principal.tenant_id)}
    flaky_before = metric("orchestra_flaky_steps_total", tenant)
    timeouts_before = metric("orchestra_assertion_timeouts_total", {**tenant, "channelType": "DB"})

    def run(environment_id: str) -> dict[str, Any]:
        created = client.post(
            "/api/v1/testruns",
            json={"scenarioIds": [str(seeded.scenarios["probe"])], "environmentId": environment_id},
        )
        assert created.status_code == 201, created.text
        run_id = created.json()["runs"][0]["id"]

        def ended() -> dict[str, Any] | None:
            detail = client.get(f"/api/v1/testruns/{run_id}").json()
            return detail if detail["status"] not in ("PENDING", "QUEUED", "IN_PROGRESS") else None

        return wait_for(ended, timeout=120, what=f"run {run_id} to end")

    def steps(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {s["alias"]: s for s in detail["steps"]}

    first = run(env_id)
    assert first["status"] == "PASSED" and first["flakySteps"] == []
    assert steps(first)["rowThere"]["status"] == "PASSED" and steps(first)["rowThere"].get("flaky") is None

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM flaky_probe"))
    second = run(env_id)
    probe = steps(second)["rowThere"]
    # it fails (the failure stays visible) and says it passed before
    assert second["status"] == "FAILED" and probe["status"] == "FAILED"
    assert {v["type"] for v in probe["violations"]} == {"TIMEOUT", "DB_ASSERTION_FAILED"}
    assert probe["flaky"].startswith("passed in 1 of the last 1 runs") and first["id"] in probe["flaky"]
    assert [(f["alias"], f["status"]) for f in second["flakySteps"]] == [("rowThere", "FAILED")]

    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO flaky_probe VALUES (1)"))
    third = run(env_id)
    probe = steps(third)["rowThere"]
    assert third["status"] == "PASSED" and probe["status"] == "FLAKY"
    assert probe["flaky"] == (
        "failed in 1 of the last 2 runs of this scenario version with the same data "
        f"(latest: run {second['id']})"
    )
    assert [(f["alias"], f["status"], f["reason"]) for f in third["flakySteps"]] == [
        ("rowThere", "FLAKY", probe["flaky"])
    ]
    assert steps(third)["order"]["status"] == "PASSED"  # the steady step is not flagged

    # the counters: two flagged steps (runs 2 and 3), one assertion TIMEOUT (run 2)
    assert metric("orchestra_flaky_steps_total", tenant) == flaky_before + 2
    assert (
        metric("orchestra_assertion_timeouts_total", {**tenant, "channelType": "DB"}) == timeouts_before + 1
    )

    # another environment is another history: the same passing step there is not flaky
    clone = client.post(f"/api/v1/environments/{env_id}/clone", json={"name": "probe-env-2"})
    assert clone.status_code == 201
    elsewhere = run(clone.json()["id"])
    assert elsewhere["status"] == "PASSED" and elsewhere["flakySteps"] == []
