"""The README run command (scripts/run) serves the app on the embedded default: SQLite + in-process worker."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, ROOT, _free_port

pytestmark = pytest.mark.e2e


def test_scripts_run_serves_embedded_app(tmp_path: Path, page: Page) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    # ORCHESTRA_DEMO=0: the bare app (empty lists); the demo seeding is tested in test_run_command_engine
    env.update({"ORCHESTRA_PORT": str(port), "ORCHESTRA_DATA_DIR": str(tmp_path), "ORCHESTRA_DEMO": "0"})
    log_path = ARTIFACTS / "run-command.log"
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
        deadline = time.monotonic() + 420
        body = None
        while body is None:
            assert proc.poll() is None, (
                f"scripts/run exited {proc.returncode}:\n{log_path.read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, f"no answer within 420 s; see {log_path}"
            try:
                r = httpx.get(f"{base}/api/v1/health", timeout=2)
                if r.status_code == 200 and httpx.get(base + "/", timeout=5).status_code == 200:
                    body = r.json()
            except httpx.HTTPError:
                time.sleep(0.5)
        assert body == {
            "status": "ok",
            "db": "ok",
            "redis": "not configured",
            "mode": "embedded",
            "database": "sqlite",
        }
        assert (tmp_path / "orchestra.db").is_file()  # migrated by scripts/run
        page.goto(base + "/processes")
        expect(page.locator("#page-title")).to_have_text("Processes", timeout=60_000)
        expect(page.locator("#processes-table-empty")).to_be_visible()
        expect(page.locator("#dev-identity-badge")).to_be_visible()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
