"""db plugin against real PostgreSQL, MariaDB and SQLite: polling, rules, read-only fences, secrets."""

from __future__ import annotations

import concurrent.futures
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from orchestra_app.domain.steps import ChannelType, StepResultData, StepStatus
from orchestra_app.plugins.db import plugin
from tests.sideeffect_helpers import assertion, codes, dumped, environment, later, run_context

pytestmark = pytest.mark.integration


def db_step(sql: str, rules: Any = None, **meta: Any):  # type: ignore[no-untyped-def]
    return assertion(ChannelType.DB, {"dataSource": "main", "sql": sql, **meta}, rules)


def split_url(url: str) -> tuple[str, str, str]:
    """(url without credentials, user, password) of a test service URL."""
    parsed = sa.engine.make_url(url)
    bare = sa.engine.URL.create(
        parsed.get_backend_name(), host=parsed.host, port=parsed.port, database=parsed.database
    )
    return bare.render_as_string(hide_password=False), parsed.username or "", parsed.password or ""


@pytest.fixture
def pg(fresh_pg_url: str):  # type: ignore[no-untyped-def]
    engine = sa.create_engine(fresh_pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (id int PRIMARY KEY, status text, amount numeric(10,2))"))
        conn.execute(sa.text("CREATE TABLE audit (note text)"))
        conn.execute(sa.text("CREATE SEQUENCE order_seq"))
        conn.execute(sa.text("INSERT INTO orders VALUES (1, 'PAID', 10.50), (2, 'NEW', 3)"))
        # A function that looks like a read but writes: only the read-only transaction can stop it.
        conn.execute(
            sa.text(
                "CREATE FUNCTION sneaky() RETURNS int VOLATILE LANGUAGE plpgsql AS "
                "$$ BEGIN INSERT INTO audit VALUES ('written'); UPDATE orders SET status = 'HACKED'; "
                "RETURN 1; END $$"
            )
        )
    url, user, password = split_url(fresh_pg_url)
    env = environment(
        {"db": {"main": {"url": url, "username": user, "password": {"secret": "PG_PASSWORD"}}}},
        {"PG_PASSWORD": password},
    )
    yield engine, env, password
    env.close()
    engine.dispose()


def snapshot(engine: sa.Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        orders = conn.execute(sa.text("SELECT id, status, amount FROM orders ORDER BY id")).all()
        audit = conn.execute(sa.text("SELECT count(*) FROM audit")).scalar()
        seq = conn.execute(sa.text("SELECT last_value, is_called FROM order_seq")).one()
    return tuple(orders), audit, tuple(seq)


def test_rows_satisfy_rules_and_are_kept_in_db_result(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, _ = pg
    step = db_step(
        "SELECT id, status, amount FROM orders WHERE id = {{data.orderId}}",
        [{"path": "$.rows[0].status", "equals": "PAID"}, {"path": "$.rowCount", "equals": 1}],
    )
    result = plugin.execute(step, run_context(env, {"orderId": 1}))
    assert result.status == StepStatus.PASSED, codes(result)
    assert result.db_result["rows"] == [{"id": 1, "status": "PAID", "amount": 10.5}]
    assert result.db_result["columns"] == ["id", "status", "amount"]
    assert result.db_result["parameters"] == [{"from": "{{data.orderId}}", "value": 1}]
    assert result.db_result["attempts"] == 1
    # Keys other parts of Orchestra write (engine retries, generation, binding) are accepted.
    retried = db_step(
        "SELECT 1 AS one",
        retries=2,
        retryDelayMs=100,
        description="x",
        nodeType="dataStoreReference",
        placeholder=True,
        dataStore={"id": "orders"},
        operationId="o",
        chaining={},
    )
    assert plugin.execute(retried, run_context(env)).status == StepStatus.PASSED


def test_polls_until_a_row_appears(pg) -> None:  # type: ignore[no-untyped-def]
    engine, env, _ = pg

    def insert() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO orders VALUES (7, 'SHIPPED', 1)"))

    writer = later(0.4, insert)
    step = db_step(
        "SELECT status FROM orders WHERE id = :id",
        [{"path": "$.rows[0].status", "equals": "SHIPPED"}],
        params={"id": "{{data.orderId}}"},
        timeoutMs=60_000,
        pollIntervalMs=50,
    )
    result = plugin.execute(step, run_context(env, {"orderId": 7}))
    writer.join()
    assert result.status == StepStatus.PASSED, codes(result)
    assert result.db_result["attempts"] > 1  # it did not pass on the first look


def test_rules_never_hold_gives_timeout_and_db_assertion_failed_with_last_rows(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, _ = pg
    step = db_step(
        "SELECT status FROM orders WHERE id = 2",
        [{"path": "$.rows[0].status", "equals": "PAID"}],
        timeoutMs=300,
        pollIntervalMs=50,
    )
    result = plugin.execute(step, run_context(env))
    assert result.status == StepStatus.FAILED
    assert codes(result) == [("TIMEOUT", "ASSERTION_TIMEOUT"), ("DB_ASSERTION_FAILED", "RULE_EQUALS")]
    failed = result.violations[1]
    assert failed.details["lastRows"] == [{"status": "NEW"}]
    assert failed.details["actual"] == "NEW"
    assert result.violations[0].details["attempts"] >= 2


def test_single_look_without_rows_is_db_assertion_failed_only(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, _ = pg
    result = plugin.execute(db_step("SELECT * FROM orders WHERE id = 99", timeoutMs=0), run_context(env))
    assert codes(result) == [("DB_ASSERTION_FAILED", "NO_ROWS")]
    assert result.db_result["rows"] == [] and result.db_result["attempts"] == 1


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("UPDATE orders SET status = 'X'", "READ_ONLY_VIOLATION"),
        ("DELETE FROM orders", "READ_ONLY_VIOLATION"),
        ("INSERT INTO audit VALUES ('x')", "READ_ONLY_VIOLATION"),
        ("SET statement_timeout = 0", "READ_ONLY_VIOLATION"),
        ("SELECT 1; DELETE FROM orders", "READ_ONLY_VIOLATION"),
        ("SELECT 1;\n-- fine\nUPDATE orders SET status = 'X';", "READ_ONLY_VIOLATION"),
        ("SELECT * INTO stolen FROM orders", "READ_ONLY_VIOLATION"),
        ("SELECT sneaky()", "READ_ONLY_VIOLATION"),
        ("SELECT * FROM orders WHERE sneaky() = 1", "READ_ONLY_VIOLATION"),
        ("WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone", "READ_ONLY_VIOLATION"),
        ("SELECT nextval('order_seq')", "READ_ONLY_VIOLATION"),
        ("SELECT * FROM orders FOR UPDATE", "READ_ONLY_VIOLATION"),
    ],
)
def test_writes_are_refused_and_change_nothing(pg, sql: str, code: str) -> None:  # type: ignore[no-untyped-def]
    engine, env, _ = pg
    before = snapshot(engine)
    result = plugin.execute(db_step(sql, timeoutMs=2000, pollIntervalMs=50), run_context(env))
    assert result.status == StepStatus.FAILED
    assert [v.code for v in result.violations] == [code], codes(result)
    assert result.violations[0].type == "VALIDATION_ERROR"
    assert "nothing" in result.violations[0].message
    assert snapshot(engine) == before


def test_template_values_are_bound_never_spliced(pg) -> None:  # type: ignore[no-untyped-def]
    engine, env, _ = pg
    before = snapshot(engine)
    evil = "1 OR 1=1; DELETE FROM orders; --"
    result = plugin.execute(
        db_step("SELECT * FROM orders WHERE status = {{data.status}}", timeoutMs=0),
        run_context(env, {"status": evil}),
    )
    assert codes(result) == [("DB_ASSERTION_FAILED", "NO_ROWS")]
    assert result.db_result["parameters"][0]["value"] == evil
    assert snapshot(engine) == before
    quoted = plugin.execute(
        db_step("SELECT * FROM orders WHERE status = '{{data.status}}'"), run_context(env, {"status": "PAID"})
    )
    assert codes(quoted) == [("VALIDATION_ERROR", "PLACEHOLDER_IN_TEXT")]


def test_statement_timeout_stops_a_slow_query(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, password = pg
    url = env.profiles["db"]["main"].url
    slow_env = environment(
        {
            "db": {
                "main": {"url": url, "username": "orchestra", "password": password, "statementTimeoutMs": 200}
            }
        }
    )
    try:
        result = plugin.execute(db_step("SELECT pg_sleep(30)", timeoutMs=60_000), run_context(slow_env))
    finally:
        slow_env.close()
    assert codes(result) == [("TIMEOUT", "STATEMENT_TIMEOUT")]


def test_the_password_never_appears_and_a_wrong_one_fails_at_once(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, password = pg
    ok = plugin.execute(db_step("SELECT current_user AS who"), run_context(env))
    assert ok.status == StepStatus.PASSED
    assert password not in dumped(ok)
    url = env.profiles["db"]["main"].url
    bad_env = environment(
        {"db": {"main": {"url": url, "username": "orchestra", "password": {"secret": "BAD"}}}},
        {"BAD": "not-the-password-123"},
    )
    try:
        bad = plugin.execute(db_step("SELECT 1", timeoutMs=60_000), run_context(bad_env))
    finally:
        bad_env.close()
    assert codes(bad) == [("DB_ASSERTION_FAILED", "CONNECTION_FAILED")]
    assert "not-the-password-123" not in dumped(bad)
    assert bad.db_result["attempts"] == 1  # bad credentials are not retried until the timeout


def test_cancellation_stops_polling(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, _ = pg
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    result = plugin.execute(
        db_step("SELECT * FROM orders WHERE id = 99", timeoutMs=600_000, pollIntervalMs=20),
        run_context(env, cancelled=cancelled),
    )
    assert codes(result) == [("TIMEOUT", "CANCELLED")]


def test_fifty_concurrent_assertions_share_one_pool(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, _ = pg
    step = db_step("SELECT status FROM orders WHERE id = {{data.id}}", [{"path": "$.rowCount", "equals": 1}])

    def one(i: int) -> StepResultData:
        return plugin.execute(step, run_context(env, {"id": 1 + i % 2}))

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(60)))
    assert [r.status for r in results] == [StepStatus.PASSED] * 60
    assert {r.db_result["rows"][0]["status"] for r in results} == {"PAID", "NEW"}


@pytest.mark.parametrize(
    ("meta", "code", "pointer"),
    [
        ({"sql": "SELECT 1"}, "INVALID_STEP_META", "/action/meta/dataSource"),
        ({"dataSource": "main"}, "INVALID_STEP_META", "/action/meta/sql"),
        (
            {"dataSource": "main", "sql": "SELECT 1", "timeoutMs": -1},
            "INVALID_STEP_META",
            "/action/meta/timeoutMs",
        ),
        (
            {"dataSource": "main", "sql": "SELECT 1", "pollIntervalMs": 0},
            "INVALID_STEP_META",
            "/action/meta/pollIntervalMs",
        ),
        ({"dataSource": "main", "sql": "SELECT 1", "sqll": "x"}, "INVALID_STEP_META", "/action/meta/sqll"),
        ({"dataSource": "main", "sql": "SELECT :nope"}, "UNKNOWN_PARAMETER", "/action/meta/sql"),
        ({"dataSource": "main", "sql": "SELECT {{data.missing}}"}, "TEMPLATE_ERROR", "/action/meta/sql"),
        ({"dataSource": "main", "sql": "  "}, "EMPTY_SQL", "/action/meta/sql"),
    ],
)
def test_bad_step_meta_is_a_clear_violation(pg, meta: dict[str, Any], code: str, pointer: str) -> None:  # type: ignore[no-untyped-def]
    _, env, _ = pg
    result = plugin.execute(assertion(ChannelType.DB, meta), run_context(env))
    assert [v.code for v in result.violations] == [code]
    assert result.violations[0].details["pointer"] == pointer


def test_unknown_data_source_names_the_alias(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, _ = pg
    result = plugin.execute(
        assertion(ChannelType.DB, {"dataSource": "orders-db", "sql": "SELECT 1"}), run_context(env)
    )
    assert codes(result) == [("VALIDATION_ERROR", "CONFIGURATION_ERROR")]
    assert "'orders-db'" in result.violations[0].message and "main" in result.violations[0].message


def test_bad_rules_and_action_kind_are_refused(pg) -> None:  # type: ignore[no-untyped-def]
    _, env, _ = pg
    bad_rule = plugin.execute(db_step("SELECT 1", [{"path": "rows", "equals": 1}]), run_context(env))
    assert [v.code for v in bad_rule.violations] == ["INVALID_BUSINESS_RULE"]
    step = db_step("SELECT 1").model_copy(update={"kind": "ACTION"})
    assert [v.code for v in plugin.execute(step, run_context(env)).violations] == ["UNSUPPORTED_STEP_KIND"]


# ---- SQLite (read-only file, the embedded demo) ----------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT)")
    conn.execute("INSERT INTO orders VALUES (1, 'PAID')")
    conn.commit()
    conn.close()
    env = environment({"db": {"main": {"url": f"sqlite:///{path}", "statementTimeoutMs": 300}}})
    yield path, env
    env.close()


def test_sqlite_reads_and_never_writes(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    path, env = sqlite_db
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ok = plugin.execute(
        db_step(
            "SELECT status FROM orders WHERE id = {{data.id}}",
            [{"path": "$.rows[0].status", "equals": "PAID"}],
        ),
        run_context(env, {"id": 1}),
    )
    assert ok.status == StepStatus.PASSED, codes(ok)
    refused = plugin.execute(db_step("DELETE FROM orders"), run_context(env))
    assert [v.code for v in refused.violations] == ["READ_ONLY_VIOLATION"]
    slow = plugin.execute(
        db_step("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"),
        run_context(env),
    )
    assert codes(slow) == [("TIMEOUT", "STATEMENT_TIMEOUT")]
    marker = plugin.execute(db_step("SELECT * FROM orders WHERE id = ?"), run_context(env))
    assert [v.code for v in marker.violations] == ["RAW_PARAMETER_MARKER"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_sqlite_missing_file_is_a_connection_failure(tmp_path: Path) -> None:
    env = environment({"db": {"main": {"url": f"sqlite:///{tmp_path / 'absent.db'}"}}})
    try:
        result = plugin.execute(db_step("SELECT 1", timeoutMs=100, pollIntervalMs=20), run_context(env))
    finally:
        env.close()
    assert ("DB_ASSERTION_FAILED", "CONNECTION_FAILED") in codes(result)
    assert not (tmp_path / "absent.db").exists()  # read-only mode never creates the file


# ---- MariaDB --------------------------------------------------------------------------------------


@pytest.fixture
def maria(fresh_mariadb_url: str):  # type: ignore[no-untyped-def]
    engine = sa.create_engine(fresh_mariadb_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE orders (id int PRIMARY KEY, status varchar(20), amount decimal(10,2))")
        )
        conn.execute(sa.text("INSERT INTO orders VALUES (1, 'PAID', 10.50)"))
        conn.execute(
            sa.text(
                "CREATE FUNCTION sneaky() RETURNS INT MODIFIES SQL DATA "
                "BEGIN UPDATE orders SET status = 'HACKED'; RETURN 1; END"
            )
        )
    url, user, password = split_url(fresh_mariadb_url)
    env = environment(
        {
            "db": {
                "main": {
                    "url": "jdbc:" + url.replace("mysql://", "mariadb://"),
                    "username": user,
                    "password": {"secret": "M"},
                    "statementTimeoutMs": 300,
                }
            }
        },
        {"M": password},
    )
    yield engine, env
    env.close()
    engine.dispose()


def test_mariadb_assertion_and_read_only_fences(maria) -> None:  # type: ignore[no-untyped-def]
    engine, env = maria
    ok = plugin.execute(
        db_step(
            "SELECT `status`, amount FROM orders WHERE id = {{data.id}} AND status LIKE 'P%' # trailing",
            [{"path": "$.rows[0].amount", "equals": 10.5}],
        ),
        run_context(env, {"id": 1}),
    )
    assert ok.status == StepStatus.PASSED, codes(ok)
    sneaky = plugin.execute(db_step("SELECT sneaky()"), run_context(env))
    assert [v.code for v in sneaky.violations] == ["READ_ONLY_VIOLATION"]
    slow = plugin.execute(db_step("SELECT SLEEP(20)"), run_context(env))
    assert codes(slow) == [("TIMEOUT", "STATEMENT_TIMEOUT")]
    several = plugin.execute(db_step("SELECT 1; UPDATE orders SET status = 'X'"), run_context(env))
    assert [v.code for v in several.violations] == ["READ_ONLY_VIOLATION"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM orders")).scalars().all() == ["PAID"]
