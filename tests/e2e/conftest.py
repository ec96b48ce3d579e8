"""Runs the real app (`reflex run --env prod`) on PostgreSQL + Redis and a Chromium for browser tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def app_db_url(pg_url: str) -> Iterator[str]:
    from orchestra_app.db.migrate import upgrade

    name = f"e2e_{os.getpid()}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def private_web_dir(target: Path) -> Path:
    """A Reflex web workdir for the harness's app, away from the checkout's ``.web``.

    tests/e2e/test_run_command*.py run ``scripts/run`` in the checkout, which rebuilds ``.web`` with
    its own port baked into the frontend: an app serving from that same ``.web`` would then talk to
    the wrong backend. With its own workdir (REFLEX_WEB_WORKDIR), the harness's app is unaffected,
    whatever order the tests run in. Seeded from ``.web`` (sources only; the installed packages are
    shared read-only through a symlink) so it does not reinstall them.
    """
    source = ROOT / ".web"
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(
            source,
            target,
            symlinks=True,
            ignore=shutil.ignore_patterns("node_modules", "build", ".react-router"),
        )
        if (source / "node_modules").is_dir():
            (target / "node_modules").symlink_to(source / "node_modules", target_is_directory=True)
    return target


@pytest.fixture(scope="session")
def app_url(app_db_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = ARTIFACTS / "e2e-app.log"
    ARTIFACTS.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DB_URL": app_db_url,
        "REDIS_URL": redis_url,
        "ORCHESTRA_PORT": str(port),
        "ORCHESTRA_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "REFLEX_CHECK_LATEST_VERSION": "0",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_WEB_WORKDIR": str(private_web_dir(tmp_path_factory.mktemp("reflex") / "web")),
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/reflex"),
                "run",
                "--env",
                "prod",
                "--frontend-port",
                str(port),
                "--backend-port",
                str(port),
                "--loglevel",
                "info",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 420
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"app exited with {proc.returncode}; see {log_path}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                if (
                    httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200
                    and httpx.get(f"{base}/", timeout=5).status_code == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app did not answer within 420 s; see {log_path}")
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: scripts/setup --browser installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()
