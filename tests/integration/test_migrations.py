"""Migrations round-trip on PostgreSQL and SQLite and match the SQLModel tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import orchestra_app.db.tables  # noqa: F401
from orchestra_app.db.engine import make_engine
from orchestra_app.db.migrate import downgrade, upgrade

pytestmark = pytest.mark.integration

SEED_TABLES = {
    "tenant",
    "user",
    "user_tenant_role",
    "process",
    "process_version",
    "protocol_spec",
    "scenario_suite",
    "suite_spec",
    "test_scenario",
    "scenario_step",
    "test_data_set",
    "environment",
    "db_connection_profile",
    "kafka_cluster_profile",
    "queue_broker_profile",
    "test_run",
    "test_step_result",
    "test_run_report",
    "audit_log",
}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _diff(url: str) -> list:  # type: ignore[type-arg]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()


def test_postgres_round_trip_and_no_drift(fresh_pg_url: str) -> None:
    upgrade(fresh_pg_url)
    assert _tables(fresh_pg_url) == SEED_TABLES
    downgrade(fresh_pg_url, "base")
    assert _tables(fresh_pg_url) == set()
    upgrade(fresh_pg_url)
    assert _tables(fresh_pg_url) == SEED_TABLES
    assert _diff(fresh_pg_url) == []


def test_postgres_jsonb_and_indexes(migrated_pg_engine: sa.Engine) -> None:
    insp = sa.inspect(migrated_pg_engine)
    cols = {c["name"]: c for c in insp.get_columns("process_version")}
    assert str(cols["control_flow_graph"]["type"]) == "JSONB"
    run_indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("test_run")}
    assert run_indexes["ix_test_run_tenant_scenario_started"] == ["tenant_id", "scenario_id", "started_at"]
    with migrated_pg_engine.connect() as conn:
        method = conn.execute(
            sa.text(
                "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'ix_test_step_result_payload_gin'"
            )
        ).scalar_one()
    assert method == "gin"
    # tenant_id is mandatory on every tenant-owned table
    for table in SEED_TABLES - {"tenant", "user", "user_tenant_role"}:
        tenant_col = {c["name"]: c for c in insp.get_columns(table)}["tenant_id"]
        assert tenant_col["nullable"] is False, table


def test_sqlite_round_trip_and_no_drift(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'o.db'}"
    upgrade(url)
    assert _tables(url) == SEED_TABLES
    downgrade(url, "base")
    assert _tables(url) == set()
    upgrade(url)
    assert _diff(url) == []
