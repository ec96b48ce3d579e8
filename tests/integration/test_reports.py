"""Run reports over REST (issue 12 item 5) from real runs on PostgreSQL with the in-process worker
against a loopback HTTP server: the JSON document, the self-contained HTML, JUnit XML, the suite
trend, the curl reproducer (runs as pasted, secrets as variable references), bad values refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from executor import bootstrap
from executor.broker import start_in_process_worker
from orchestra_app.api.v1 import create_api
from orchestra_app.db.engine import get_engine
from orchestra_app.db.tables import Environment
from tests.fixtures.http.server import TOKEN, LoopbackServer, serve
from tests.fixtures.runs import Seeded, app_database, get_step, seed_suite, wait_for

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-Body-Value-9931"  # a known secret: it must never appear in any report


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


@pytest.fixture
def client(migrated_pg_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ORCHESTRA_SECRET_SHOP_TOKEN", TOKEN)
    monkeypatch.setenv("ORCHESTRA_SECRET_BODY_SECRET", SECRET)
    with app_database(migrated_pg_engine.url.render_as_string(hide_password=False), str(tmp_path)):
        bootstrap.wire()
        start_in_process_worker(threads=2)
        with TestClient(create_api()) as c:
            yield c


@pytest.fixture
def seeded(client: TestClient, loopback: LoopbackServer) -> Seeded:
    seeded = seed_suite(
        get_engine(),
        base_url=loopback.base_url,
        scenarios={
            "ok": [get_step("a", "o-1"), get_step("b", "o-2")],
            "broken": [
                get_step("first", "o-1"),
                {
                    "alias": "post_secret",
                    "inputTemplate": {
                        "method": "POST",
                        "path": "/echo",
                        "headers": {"X-Trace": "t-1"},
                        "body": {"note": "it's {{secret:BODY_SECRET}}", "n": 1},
                    },
                    "expectations": {"expectedStatusCode": 201},
                },
                {
                    "alias": "bearer",
                    "inputTemplate": {"method": "GET", "path": "/secure/bearer"},
                    "expectations": {"expectedStatusCode": 200},  # the token from the secret works
                },
                get_step("after", "o-3"),
            ],
        },
    )
    with Session(get_engine()) as session:
        env = session.exec(select(Environment).where(Environment.id == seeded.environment_id)).one()
        env.services = {
            "shop": {
                "baseUrl": loopback.base_url,
                "timeoutS": 30,
                "auth": {"type": "bearer", "token": {"secret": "SHOP_TOKEN"}},
            }
        }
        session.add(env)
        session.commit()
    return seeded


def _run_suite(client: TestClient, seeded: Seeded) -> dict[str, str]:
    r = client.post(
        "/api/v1/testruns",
        json={
            "suiteId": str(seeded.suite_id),
            "environmentId": str(seeded.environment_id),
            "mode": "RUN_ALL_STEPS",
        },
    )
    assert r.status_code == 201, r.text
    runs = {run["scenarioKey"]: run["id"] for run in r.json()["runs"]}
    for run_id in runs.values():
        wait_for(
            lambda run_id=run_id: (
                client.get(f"/api/v1/testruns/{run_id}").json()["status"] in ("PASSED", "FAILED", "CANCELLED")
            ),
            timeout=120,
            interval=0.1,
            what=f"run {run_id} to end",
        )
    return runs


def test_report_exports_trend_and_reproducer(client: TestClient, seeded: Seeded, tmp_path: Path) -> None:
    runs = _run_suite(client, seeded)
    report = client.get(f"/api/v1/testruns/{runs['broken']}/report").json()
    assert report["schema"] == "orchestra-report/1"
    assert report["run"]["status"] == "FAILED" and report["run"]["suiteName"] == "shop v1 [shop]"
    assert report["run"]["environment"]["name"] == "loopback"
    summary = report["summary"]
    assert summary["steps"] == 4 and summary["passed"] == 3 and summary["failed"] == 1
    assert summary["passRate"] == 0.75
    steps = {s["alias"]: s for s in report["steps"]}
    failed = steps["post_secret"]
    assert failed["status"] == "FAILED" and failed["statusCode"] == 200 and failed["violations"]
    assert steps["bearer"]["status"] == "PASSED" and steps["after"]["status"] == "PASSED"
    types = {r["type"] for r in report["violations"]["byType"]}
    assert types and sum(r["count"] for r in report["violations"]["byEndpoint"]) == summary["violations"]
    assert report["violations"]["byEndpoint"][0]["endpoint"] == "POST /echo"
    assert all(s["reproducer"] is None for s in report["steps"] if s["status"] == "PASSED")

    # the reproducer is a working shell command once the variables are exported
    command = failed["reproducer"]["command"]
    assert failed["reproducer"]["tool"] == "curl"
    assert '"Authorization: Bearer ${ORCHESTRA_SECRET_SHOP_TOKEN}"' in command
    assert "${ORCHESTRA_REDACTED_BODY}" in command and SECRET not in command and TOKEN not in command
    if shutil.which("curl"):
        out = subprocess.run(
            ["bash", "-c", command],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "ORCHESTRA_REDACTED_BODY": "replayed"},
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("HTTP/1.1 200") and '\\"note\\": \\"it\'s replayed\\"' in out.stdout

    # exports: the known secrets never appear, in any format
    html = client.get(f"/api/v1/testruns/{runs['broken']}/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert 'filename="orchestra-run-' in html.headers["content-disposition"]
    as_json = client.get(f"/api/v1/testruns/{runs['broken']}/report.json")
    assert as_json.json()["summary"] == summary
    xml = client.get(f"/api/v1/testruns/{runs['broken']}/report.xml")
    assert xml.headers["content-type"].startswith("application/xml")
    suites = ET.fromstring(xml.content)
    assert suites.get("tests") == "4" and suites.get("failures") == "1"
    for body in (html.text, as_json.text, xml.text, client.get(f"/api/v1/testruns/{runs['broken']}").text):
        assert SECRET not in body and TOKEN not in body
    for marker in ("<script", "<link", "src=", "url(", 'http-equiv="refresh"'):
        assert marker not in html.text.lower().replace('http-equiv="content-security-policy"', "")
    assert "POST /echo" in html.text and "Reproduce with curl" in html.text

    # trend: one point per suite run (a batch), oldest first
    _run_suite(client, seeded)
    trend = client.get(f"/api/v1/suites/{seeded.suite_id}/trend").json()
    assert trend["suiteName"] == "shop v1 [shop]" and len(trend["points"]) == 2
    for point in trend["points"]:
        assert (
            point["runs"] == 2 and point["passed"] == 1 and point["failed"] == 1 and point["passRate"] == 0.5
        )
        assert point["durationMs"] is not None and point["durationMs"] >= 0
    assert trend["points"][0]["createdAt"] <= trend["points"][1]["createdAt"]
    one = client.get(f"/api/v1/suites/{seeded.suite_id}/trend?limit=1").json()
    assert len(one["points"]) == 1 and one["points"][0]["batchId"] == trend["points"][1]["batchId"]

    listed = client.get("/api/v1/reports?limit=2").json()
    assert (
        listed["total"] == 4 and len(listed["items"]) == 2 and listed["items"][0]["suite"] == "shop v1 [shop]"
    )


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/v1/testruns/not-a-uuid/report", 422, "id"),
        ("/api/v1/testruns/not-a-uuid/report.html", 422, "id"),
        ("/api/v1/testruns/{run}/report.pdf", 422, "format"),
        ("/api/v1/testruns/{run}/report.", 404, None),  # no route: a JSON 404 naming the path
        ("/api/v1/testruns/{run}/report?format=html", 400, "format"),
        ("/api/v1/testruns/{missing}/report", 404, "runId"),
        ("/api/v1/testruns/{missing}/report.xml", 404, "runId"),
        ("/api/v1/suites/{suite}/trend?limit=0", 400, "limit"),
        ("/api/v1/suites/{suite}/trend?limit=201", 400, "limit"),
        ("/api/v1/suites/{suite}/trend?limit=ten", 400, "limit"),
        ("/api/v1/suites/{suite}/trend?limit=1&limit=2", 400, "limit"),
        ("/api/v1/suites/{suite}/trend?since=1", 400, "since"),
        ("/api/v1/suites/{missing}/trend", 404, "suiteId"),
        ("/api/v1/suites/x/trend", 422, "id"),
    ],
)
def test_bad_values_are_refused(
    client: TestClient, seeded: Seeded, path: str, status: int, field: str
) -> None:
    r = client.post("/api/v1/testruns", json={"scenarioIds": [str(seeded.scenarios["ok"])]})
    run_id = r.json()["runs"][0]["id"]
    wait_for(  # ended before the database goes away with the test
        lambda: client.get(f"/api/v1/testruns/{run_id}").json()["status"] == "PASSED",
        timeout=120,
        what=f"run {run_id} to pass",
    )
    url = path.format(run=run_id, missing=uuid.uuid4(), suite=seeded.suite_id)
    answer = client.get(url)
    assert answer.status_code in (status, 400 if status == 422 else status), answer.text
    error = answer.json()["error"]
    assert error["field"] == field, error
    assert error["message"]
    put = client.put(f"/api/v1/testruns/{run_id}/report.html")
    assert put.status_code == 405 and "error" in put.json()


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql client not installed")
def test_psql_reproducer_runs_with_bound_values(pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    from orchestra_app.domain.runs import PinnedEnvironment
    from orchestra_app.reporting.reproducers import db_reproducer

    url = make_url(pg_url)
    env = PinnedEnvironment(
        profiles={
            "db": {
                "main": {
                    "url": f"postgresql://{url.host}:{url.port}/{url.database}",
                    "username": url.username,
                    "password": {"secret": "PG_PW"},
                }
            }
        }
    )
    found = db_reproducer(
        {
            "dataSource": "main",
            "dialect": "postgresql",
            "sql": "select %s::text as a, %s::int + 1 as b",
            "parameters": [{"from": "data.id", "value": "o'1; drop table x"}, {"from": "n", "value": 5}],
        },
        {},
        env,
    )
    assert found is not None and 'PGPASSWORD="${ORCHESTRA_SECRET_PG_PW}" psql' in found.command
    out = subprocess.run(
        ["bash", "-c", found.command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ORCHESTRA_SECRET_PG_PW": str(url.password)},
    )
    assert out.returncode == 0, out.stderr
    assert "o'1; drop table x | 6" in out.stdout
