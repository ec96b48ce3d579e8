"""`orchestra run` from files stores its suite (services/file_store.py): 50 concurrent callers
storing the same files on PostgreSQL end with one process, one suite, each spec and scenario once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import (
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioSuite,
    SuiteSpec,
    TestScenario,
)
from orchestra_app.services.file_store import StoredSuite, runnable, store_file_suite
from orchestra_app.services.file_suite import suite_from_files
from orchestra_app.services.tenancy import ensure_dev_principal
from tests.fixtures.shop import ROOT
from tests.integration.concurrency import hammer, wide_engine

pytestmark = pytest.mark.integration
SHOP = ROOT / "examples" / "shop"
CALLERS = 50


def count(session: Session, table: type) -> int:
    return int(session.exec(select(func.count()).select_from(table)).one())


def test_fifty_callers_store_one_suite(migrated_pg_engine: sa.Engine) -> None:
    process_file = SHOP / "order-process.bpmn"
    suite = suite_from_files(
        process_file, [SHOP / "specs" / name for name in ("orders.yaml", "payments.yaml", "inventory.yaml")]
    )
    suite.scenarios = [runnable(s)[0] for s in suite.scenarios]
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        session.commit()
    engine = wide_engine(migrated_pg_engine.url.render_as_string(hide_password=False), CALLERS)

    def store(session: Session, _: int) -> StoredSuite:
        return store_file_suite(session=session, principal=principal, suite=suite, process_file=process_file)

    for wave in range(2):  # the first wave races to create; the second finds everything unchanged
        outcomes = hammer(engine, CALLERS, store)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert not errors, errors[:3]
        stored = [o for o in outcomes if isinstance(o, StoredSuite)]
        assert len({s.suite_id for s in stored}) == 1
        created = [s for s in stored if s.created_version]
        assert len(created) == (1 if wave == 0 else 0)
        assert all(
            s.scenarios_created == 0 and s.scenarios_updated == 0 for s in stored if not s.created_version
        )
        with Session(engine) as session:
            assert count(session, Process) == 1
            assert count(session, ProcessVersion) == 1
            assert count(session, ScenarioSuite) == 1
            assert count(session, ProtocolSpec) == 3
            assert count(session, SuiteSpec) == 3
            keys = session.exec(select(TestScenario.key).order_by(col(TestScenario.key))).all()
            assert keys == ["S001", "S002", "S003", "S004", "S005"]  # each once, version 1
    engine.dispose()
