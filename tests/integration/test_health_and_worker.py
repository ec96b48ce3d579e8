"""/api/v1/health reports real checks; the Dramatiq worker consumes from Redis and in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from orchestra_app.db.engine import make_engine
from orchestra_app.services.health import check_health
from orchestra_app.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_health_ok_on_postgres_and_redis(migrated_pg_engine, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        DB_URL=str(migrated_pg_engine.url.render_as_string(hide_password=False)), REDIS_URL=redis_url
    )
    body = check_health(engine=migrated_pg_engine, settings=settings)
    assert body == {"status": "ok", "db": "ok", "redis": "ok", "mode": "servers", "database": "postgresql"}


def test_health_degraded_when_redis_is_down(migrated_pg_engine) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(DB_URL="postgresql://x@127.0.0.1:1/x", REDIS_URL="redis://127.0.0.1:1/0")
    body = check_health(engine=migrated_pg_engine, settings=settings)
    assert body["status"] == "degraded" and body["redis"].startswith("error: ")
    dead = make_engine("postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    assert check_health(engine=dead, settings=settings)["db"].startswith("error: ")


def test_health_endpoint_embedded(tmp_path: Path) -> None:
    env = {**os.environ, "ORCHESTRA_DATA_DIR": str(tmp_path), "DB_URL": "", "REDIS_URL": ""}
    code = textwrap.dedent("""
        import json
        from starlette.testclient import TestClient
        from orchestra_app.db.migrate import upgrade
        from orchestra_app.api.v1 import create_api
        upgrade()
        with TestClient(create_api()) as client:
            r = client.get("/api/v1/health")
            print(r.status_code, json.dumps(r.json(), sort_keys=True))
    """)
    out = (
        subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out == (
        '200 {"database": "sqlite", "db": "ok", "mode": "embedded", '
        '"redis": "not configured", "status": "ok"}'
    )
    assert (tmp_path / "orchestra.db").is_file()


def test_worker_command_consumes_from_redis(redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url}
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/orchestra"), "worker", "-p", "1", "-t", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        token = uuid.uuid4().hex
        code = textwrap.dedent(f"""
            import executor.actors as a
            print(a.ping.send({token!r}).get_result(block=True, timeout=60000)["token"])
        """)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=90
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == token
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_worker_command_refuses_without_redis() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/orchestra"), "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "REDIS_URL is not set" in proc.stderr


def test_in_process_worker_drains_stub_broker() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    code = textwrap.dedent("""
        import executor.actors as a
        from executor.broker import start_in_process_worker, is_in_process
        assert is_in_process()
        w = start_in_process_worker()
        print(a.ping.send("emb").get_result(block=True, timeout=30000)["token"])
        w.stop()
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "emb"
