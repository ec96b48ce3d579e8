"""Shared fixtures: corpus location and service URLs from the services script."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = Path(os.environ.get("ORCHESTRA_CORPUS", ROOT.parent / "shared" / "corpus")).resolve()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """../shared/corpus; tests that need it skip with a reason when a user's clone lacks it."""
    if not (CORPUS / "bpmn" / "MANIFEST.tsv").is_file():
        pytest.skip(
            f"corpus not found at {CORPUS} (set ORCHESTRA_CORPUS); the repo fixtures cover the behaviour"
        )
    return CORPUS


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def _service_url(var: str) -> str:
    url = os.environ.get(var, "")
    if not url:
        if os.environ.get("ORCHESTRA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{var} is not set although scripts/test should have started the services")
        pytest.skip(
            f"{var} not set: run the suite with scripts/test (it starts PostgreSQL, Redis, RabbitMQ, "
            'Kafka and MariaDB), or eval "$(scripts/services up)"'
        )
    return url


@pytest.fixture(scope="session")
def pg_url() -> str:
    """Connection URL of the services script's PostgreSQL (a superuser, able to create databases)."""
    return _service_url("ORCHESTRA_TEST_PG_URL")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _service_url("ORCHESTRA_TEST_REDIS_URL")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """RabbitMQ of the services script (amqp://guest:guest@127.0.0.1:PORT/%2F)."""
    return _service_url("ORCHESTRA_TEST_AMQP_URL")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of the services script's Apache Kafka (KRaft, one node)."""
    return _service_url("ORCHESTRA_TEST_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """MariaDB of the services script (mysql+pymysql://orchestra:orchestra@127.0.0.1:PORT/orchestra)."""
    return _service_url("ORCHESTRA_TEST_MARIADB_URL")


@pytest.fixture
def fresh_mariadb_url(mariadb_url: str):  # type: ignore[no-untyped-def]
    """A new, empty MariaDB database for one test; dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(mariadb_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    base = mariadb_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _brokers_left_clean(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Session-end check: no test leaves a Kafka consumer group or a RabbitMQ queue behind."""
    yield
    from tests.brokers import leftover_consumer_groups, leftover_rabbitmq_queues

    problems = []
    bootstrap = os.environ.get("ORCHESTRA_TEST_KAFKA_BOOTSTRAP")
    if bootstrap:
        groups = leftover_consumer_groups(bootstrap)
        if groups:
            problems.append(f"Kafka consumer groups left behind: {groups}")
    amqp = os.environ.get("ORCHESTRA_TEST_AMQP_URL")
    if amqp:
        queues = leftover_rabbitmq_queues(amqp)
        if queues:
            problems.append(f"RabbitMQ queues left behind: {queues}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def fresh_pg_url(pg_url: str):  # type: ignore[no-untyped-def]
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = pg_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def migrated_pg_engine(fresh_pg_url: str):  # type: ignore[no-untyped-def]
    from orchestra_app.db.engine import make_engine
    from orchestra_app.db.migrate import upgrade

    upgrade(fresh_pg_url)
    engine = make_engine(fresh_pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    from orchestra_app.db.engine import make_engine
    from orchestra_app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'orchestra.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
