"""The README run command on the embedded default runs a suite: SQLite, the in-process worker and
event bus, the REST API and the Runs page.

(Named to run after the tests sharing the session app: `scripts/run` rebuilds `.web/`.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from orchestra_app.db.engine import make_engine
from tests.e2e.conftest import ARTIFACTS, ROOT, _free_port
from tests.fixtures.http.server import LoopbackServer, serve
from tests.fixtures.runs import get_step, seed_suite, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    with serve() as server:
        yield server


def test_embedded_default_runs_a_suite(tmp_path: Path, loopback: LoopbackServer, page: Page) -> None:
    """The README run command with no servers: SQLite, the in-process worker and event bus."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    env.update({"ORCHESTRA_PORT": str(port), "ORCHESTRA_DATA_DIR": str(tmp_path)})
    log_path = ARTIFACTS / "run-command-engine.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert proc.poll() is None, f"scripts/run exited:\n{log_path.read_text()[-3000:]}"
            try:
                return httpx.get(f"{base}/api/v1/health", timeout=2).json().get("mode") == "embedded"
            except (httpx.HTTPError, ValueError):
                return False

        wait_for(healthy, timeout=420, interval=0.5, what="scripts/run to answer")
        engine = make_engine(f"sqlite:///{tmp_path / 'orchestra.db'}")
        try:
            seed_suite(
                engine,
                base_url=loopback.base_url,
                process_key="embedded",
                scenarios={
                    "ok": [get_step("a", "e-1"), get_step("b", "e-2")],
                    "bad": [get_step("c", "x", mode="server_error")],
                },
            )
        finally:
            engine.dispose()
        created = httpx.post(
            f"{base}/api/v1/testruns",
            json={"suiteKey": "embedded", "environmentName": "loopback"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        ids = {r["scenarioKey"]: r["id"] for r in created.json()["runs"]}

        def status(run_id: str) -> str | None:
            body = httpx.get(f"{base}/api/v1/testruns/{run_id}", timeout=10).json()
            return body["status"] if body["status"] in ("PASSED", "FAILED", "CANCELLED") else None

        assert wait_for(lambda: status(ids["ok"]), timeout=120, what="embedded run") == "PASSED"
        assert wait_for(lambda: status(ids["bad"]), timeout=120, what="embedded run") == "FAILED"
        # the demo shop scripts/run started and seeded: S001 (HTTP + SQLite tables) passes; S002 needs
        # Kafka and RabbitMQ profiles the embedded environment does not have: it fails before any step,
        # naming them (docs/demo.md)
        seeded = json.loads((tmp_path / "shop" / "seed.json").read_text())
        demo = httpx.post(
            f"{base}/api/v1/testruns",
            json={
                "suiteId": seeded["suiteId"],
                "environmentId": seeded["environmentId"],
                "dataSetTag": "demo",
            },
            timeout=30,
        )
        assert demo.status_code == 201, demo.text
        demo_ids = {r["scenarioKey"]: r["id"] for r in demo.json()["runs"]}
        assert wait_for(lambda: status(demo_ids["S001"]), timeout=180, what="demo run") == "PASSED"
        assert wait_for(lambda: status(demo_ids["S002"]), timeout=180, what="demo run") == "FAILED"
        s002 = httpx.get(f"{base}/api/v1/testruns/{demo_ids['S002']}", timeout=10).json()
        assert {step["status"] for step in s002["steps"]} == {"SKIPPED"}
        assert "no kafka profile 'shop-kafka'" in str(s002) and "no queue profile 'shop-rabbitmq'" in str(
            s002
        )
        metrics = httpx.get(f"{base}/metrics", timeout=10)
        assert metrics.status_code == 200 and 'orchestra_testrun_total{status="PASSED"' in metrics.text
        page.goto(base + "/runs")
        expect(page.locator("#runs-table tr", has_text="scenario ok").locator(".run-status")).to_have_text(
            "PASSED", timeout=60_000
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
