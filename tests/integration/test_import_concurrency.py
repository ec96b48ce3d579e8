"""Many callers importing at once: every accepted import stored exactly once, versions distinct and
contiguous, no 5xx (issue 7 item 1). PostgreSQL through the real API served by uvicorn, SQLite too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from orchestra_app.db.engine import get_engine, make_engine
from orchestra_app.db.migrate import upgrade
from orchestra_app.db.tables import (
    AuditLog,
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioSuite,
    Tenant,
    User,
    UserTenantRole,
)
from orchestra_app.generation.params import GenerationParams
from orchestra_app.services import processes, specs
from orchestra_app.services import session as svc
from orchestra_app.settings import get_settings
from tests.fixtures.api_server import serve_api

pytestmark = pytest.mark.integration
APP = Path(__file__).resolve().parents[1] / "fixtures" / "app"
ORDER = (APP / "order.bpmn").read_bytes()
SPEC = (APP / "orders-api.yaml").read_bytes()


def _count(engine: sa.Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _versions(engine: sa.Engine, key: str) -> list[int]:
    with Session(engine) as session:
        return sorted(
            session.exec(
                select(ProcessVersion.version)
                .join(Process, col(Process.id) == col(ProcessVersion.process_id))
                .where(Process.key == key)
            ).all()
        )


def _post_all(base: str, path: str, bodies: list[tuple[bytes, str]], workers: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(base_url=base, timeout=300, limits=limits, trust_env=False) as client:

        def post(item: tuple[bytes, str]) -> httpx.Response:
            data, query = item
            return client.post(path + query, content=data)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(post, bodies))


@pytest.fixture
def pg_api(migrated_pg_engine: sa.Engine, tmp_path: Path) -> Iterator[tuple[str, sa.Engine]]:
    env = {
        "DB_URL": migrated_pg_engine.url.render_as_string(hide_password=False),
        "ORCHESTRA_DATA_DIR": str(tmp_path / "data"),
    }
    with serve_api(env, tmp_path / "api.log") as base:
        yield base, migrated_pg_engine


def test_200_concurrent_process_imports_same_key_on_postgres(pg_api: tuple[str, sa.Engine]) -> None:
    base, engine = pg_api
    n = 200
    responses = _post_all(
        base, "/api/v1/processes", [(ORDER, "?filename=order.bpmn&key=order")] * n, workers=n
    )
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [201], [r.text[:300] for r in responses if r.status_code != 201][:3]
    numbers = sorted(r.json()["version"] for r in responses)
    assert numbers == list(range(1, n + 1))
    assert _versions(engine, "order") == list(range(1, n + 1))
    assert _count(engine, Process) == 1
    assert _count(engine, ScenarioSuite) == n
    with Session(engine) as session:
        audited = session.exec(select(func.count()).where(AuditLog.action == "process.import")).one()
    assert audited == n
    # The first requests raced to create the development tenant as well: one of each row.
    assert (_count(engine, Tenant), _count(engine, User), _count(engine, UserTenantRole)) == (1, 1, 1)


def test_concurrent_spec_imports_store_once_or_as_distinct_revisions(pg_api: tuple[str, sa.Engine]) -> None:
    base, engine = pg_api
    same = _post_all(base, "/api/v1/specs", [(SPEC, "?filename=orders-api.yaml")] * 60, workers=60)
    assert sorted(r.status_code for r in same).count(201) == 1, [r.text[:200] for r in same][:3]
    assert {r.status_code for r in same} == {200, 201}
    assert len({r.json()["spec_id"] for r in same}) == 1
    changed = [
        (SPEC.replace(b"Create an order", f"Create order number {i}".encode()), "?filename=orders-api.yaml")
        for i in range(50)
    ]
    revised = _post_all(base, "/api/v1/specs", changed, workers=50)
    assert {r.status_code for r in revised} == {201}, [r.text[:200] for r in revised if r.status_code >= 300]
    versions = sorted(r.json()["version"] for r in revised)
    assert len(set(versions)) == 50
    assert set(versions) == {f"1.2.0+r{i}" for i in range(2, 52)}
    assert _count(engine, ProtocolSpec) == 51


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'orchestra.db'}"
    upgrade(url)
    monkeypatch.delenv("DB_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield get_engine()
    get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


def test_concurrent_imports_on_sqlite_wait_for_the_write_lock(sqlite_env: sa.Engine) -> None:
    n = 30

    def one(i: int) -> int:
        principal = svc.current_principal()
        prepared = processes.prepare_process(ORDER, "order.bpmn", GenerationParams())
        result = svc.write(
            processes.import_process,
            principal,
            data=ORDER,
            filename="order.bpmn",
            key="order",
            prepared=prepared,
        )
        specs_result = svc.write(
            specs.import_spec,
            principal,
            data=SPEC.replace(b"Create an order", f"Create order {i % 3}".encode()),
            filename="orders-api.yaml",
        )
        assert specs_result.service_name == "orders-api"
        return result.version

    with ThreadPoolExecutor(max_workers=n) as pool:
        numbers = sorted(pool.map(one, range(n)))
    assert numbers == list(range(1, n + 1))
    assert _versions(sqlite_env, "order") == list(range(1, n + 1))
    assert _count(sqlite_env, ProtocolSpec) == 3  # three distinct contents, each stored once
    assert (_count(sqlite_env, Tenant), _count(sqlite_env, UserTenantRole)) == (1, 1)


def test_dev_principal_created_once_by_50_concurrent_first_requests(fresh_pg_url: str) -> None:
    upgrade(fresh_pg_url)
    engine = make_engine(fresh_pg_url)
    try:
        from orchestra_app.db.engine import session_scope
        from orchestra_app.services.tenancy import ensure_dev_principal

        def once(_: int) -> uuid.UUID:
            with session_scope(engine) as session:
                return ensure_dev_principal(session=session).tenant_id

        with ThreadPoolExecutor(max_workers=50) as pool:
            tenants = set(pool.map(once, range(50)))
        assert len(tenants) == 1
        assert (_count(engine, Tenant), _count(engine, User), _count(engine, UserTenantRole)) == (1, 1, 1)
    finally:
        engine.dispose()
