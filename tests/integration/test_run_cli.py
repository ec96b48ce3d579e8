"""`orchestra run` as a user runs it: a subprocess against the demo shop (`python -m examples.shop`,
real loopback HTTP servers on SQLite), from files with no server and from a database, in the four
modes, with fault switches turning the right step red, and every option tried with bad values.

The server path (PostgreSQL + Redis + two `orchestra worker` processes) is the last test.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.fixtures.runs import wait_for
from tests.fixtures.shop import CARD_OK, ROOT, RunningShop, start_shop

pytestmark = pytest.mark.integration

SHOP = ROOT / "examples" / "shop"
PROCESS = str(SHOP / "order-process.bpmn")
SPECS = [str(SHOP / "specs" / name) for name in ("orders.yaml", "payments.yaml", "inventory.yaml")]
ENV_FILE = str(SHOP / "environment.yaml")
DATA_FILE = str(SHOP / "data.yaml")
FILES = [
    PROCESS,
    *[arg for spec in SPECS for arg in ("--spec", spec)],
    "--env",
    ENV_FILE,
    "--data",
    DATA_FILE,
]
S001 = [
    "create_order",
    "authorise_payment",
    "capture_payment",
    "confirm_stock_reservation",
    "mark_order_as_paid",
    "get_order",
]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def document(self) -> dict[str, Any]:
        return dict(json.loads(self.stdout))

    def run(self, key: str = "S001") -> dict[str, Any]:
        return next(r for r in self.document["runs"] if r["scenarioKey"] == key)

    def steps(self, key: str = "S001") -> dict[str, dict[str, Any]]:
        return {s["alias"]: s for s in self.run(key)["steps"]}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    tmp = tmp_path_factory.mktemp("shop")
    running = start_shop(["--port", "0", "--data-dir", str(tmp / "data")], tmp)
    yield running
    assert running.stop() == 0


@pytest.fixture(autouse=True)
def no_faults(shop: RunningShop) -> Iterator[None]:
    shop.reset_faults()
    yield
    shop.reset_faults()


def shop_env(shop: RunningShop, tmp: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL") and not k.startswith("SHOP_")
    }
    url = str(shop.ready["services"]["orders"]["url"])  # one port serves the three services
    env.update(
        SHOP_ORDERS_URL=url,
        SHOP_PAYMENTS_URL=url,
        SHOP_INVENTORY_URL=url,
        ORCHESTRA_DATA_DIR=str(tmp),
        PYTHONUNBUFFERED="1",
    )
    return env


def orchestra(args: list[str], env: dict[str, str], timeout: float = 600) -> Result:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "orchestra"), "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


def count_rows(db_file: Path, table: str) -> int:
    with sqlite3.connect(db_file) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# ---- from files, the four modes -------------------------------------------------------------------


def test_every_scenario_passes_from_files_with_json_and_junit(shop: RunningShop, tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    result = orchestra([*FILES, "--json", "--junit", str(junit)], shop_env(shop, tmp_path))
    assert result.code == 0, result.stderr
    doc = result.document  # stdout holds the JSON document and nothing else
    assert doc["format"] == "orchestra-run/1"
    assert doc["status"] == "PASSED" and doc["exitCode"] == 0 and doc["error"] is None
    assert doc["source"]["kind"] == "files"
    assert doc["suite"]["processKey"] == "order-process"
    assert [r["scenarioKey"] for r in doc["runs"]] == ["S001", "S002", "S003", "S004", "S005"]
    assert {r["status"] for r in doc["runs"]} == {"PASSED"}
    assert doc["totals"]["runs"] == 5 and doc["totals"]["passed"] == 5
    assert [s["alias"] for s in doc["runs"][0]["steps"]] == S001
    assert all(s["status"] == "PASSED" and s["violations"] == [] for r in doc["runs"] for s in r["steps"])
    assert doc["runs"][0]["steps"][0]["actualStatusCode"] == 201
    assert doc["runs"][0]["environment"] == "shop-local" and doc["runs"][0]["dataSet"] == "data.yaml"
    # the placeholder assertions the diagram implies are left out, and said so
    assert any("placeholder assertion" in note for note in doc["notes"])
    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 5
    assert sum(int(s.get("tests", "0")) for s in suites) == sum(len(r["steps"]) for r in doc["runs"])
    assert all(s.get("failures") == "0" and s.get("errors") == "0" for s in suites)


def test_live_progress_prints_a_line_per_step_and_a_summary(shop: RunningShop, tmp_path: Path) -> None:
    result = orchestra([*FILES, "--scenario", "S001"], shop_env(shop, tmp_path))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    step_lines = [line for line in lines if line.startswith("S001  PASS ")]
    assert [line.split()[3] for line in step_lines] == S001  # in order, each once
    assert [line.split()[2] for line in step_lines] == [f"{i}/6" for i in range(1, 7)]
    assert any(line.startswith("S001  PASSED  6 passed") for line in lines)
    assert lines[-1].startswith("1 run(s): 1 passed, 0 not passed")


def test_stop_on_first_failure_with_a_wrong_status(shop: RunningShop, tmp_path: Path) -> None:
    shop.fault("payments", "wrong_status", operation="authorisePayment", status=500)
    junit = tmp_path / "report.xml"
    args = [*FILES, "--scenario", "S001", "--mode", "STOP_ON_FIRST_FAILURE", "--json", "--junit", str(junit)]
    result = orchestra(args, shop_env(shop, tmp_path))
    assert result.code == 1, result.stderr
    assert result.document["status"] == "FAILED"
    steps = result.steps()
    assert steps["create_order"]["status"] == "PASSED"
    assert steps["authorise_payment"]["status"] == "FAILED"
    assert steps["authorise_payment"]["actualStatusCode"] == 500
    assert {v["type"] for v in steps["authorise_payment"]["violations"]} >= {"HTTP_ERROR"}
    assert [steps[a]["status"] for a in S001[2:]] == ["SKIPPED"] * 4
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "4")


def test_run_all_steps_with_a_missing_field_goes_on_after_the_red_step(
    shop: RunningShop, tmp_path: Path
) -> None:
    shop.fault("orders", "missing_field", operation="createOrder", field="totalAmount")
    result = orchestra([*FILES, "--scenario", "S001", "--json"], shop_env(shop, tmp_path))
    assert result.code == 1, result.stderr
    steps = result.steps()
    red = steps["create_order"]
    assert red["status"] == "FAILED"
    assert {(v["type"], v["code"]) for v in red["violations"]} == {
        ("CONTRACT_VIOLATION", "RESPONSE_SCHEMA_MISMATCH")
    }
    assert "totalAmount" in json.dumps(red["violations"])
    # RUN_ALL_STEPS: every later step was run (none skipped), and they are not the ones to blame
    assert all(steps[a]["status"] != "SKIPPED" for a in S001[1:])
    assert steps["authorise_payment"]["status"] == "PASSED"


def test_single_step_with_a_supplied_context(shop: RunningShop, tmp_path: Path) -> None:
    env = shop_env(shop, tmp_path)
    # the step alone: only that step is run and recorded
    alone = orchestra(
        [*FILES, "--scenario", "S001", "--mode", "SINGLE_STEP", "--from-step", "0", "--json"], env
    )
    assert alone.code == 0, alone.stderr
    assert [(s["alias"], s["status"]) for s in alone.run()["steps"]] == [("create_order", "PASSED")]

    # a later step reads the earlier one's response: it comes from --context
    with httpx.Client(timeout=30, trust_env=False) as client:
        created = client.post(
            shop.url("orders", "/orders"),
            json={"customerId": "cust-ctx", "items": [{"sku": "SKU-1001", "quantity": 2}]},
        )
    assert created.status_code == 201, created.text
    context = tmp_path / "context.yaml"
    context.write_text(
        json.dumps({"create_order": {"responseBody": created.json(), "actualStatusCode": 201}})
    )
    args = [*FILES, "--scenario", "S001", "--mode", "SINGLE_STEP", "--from-step", "authorise_payment"]
    single = orchestra([*args, "--context", str(context), "--json"], env)
    assert single.code == 0, single.stderr
    assert [(s["alias"], s["status"]) for s in single.run()["steps"]] == [("authorise_payment", "PASSED")]
    payments = httpx.get(
        shop.url("payments", "/payments"), params={"orderId": created.json()["id"]}, timeout=30
    )
    assert payments.status_code == 200 and payments.json()["items"], payments.text  # the real order was paid

    # without the context the run is refused before anything is sent, naming what is missing
    refused = orchestra([*args, "--json"], env)
    assert refused.code == 2
    assert "{{step.create_order...}}" in refused.stderr and "--context" in refused.stderr
    assert refused.document["status"] == "ERROR" and refused.document["runs"] == []

    # a wrong status on that one step turns it red
    shop.fault("payments", "wrong_status", operation="authorisePayment", status=200)
    red = orchestra([*args, "--context", str(context), "--json"], env)
    assert red.code == 1, red.stderr
    step = red.steps()["authorise_payment"]
    assert step["status"] == "FAILED" and step["actualStatusCode"] == 200
    # 200 is a success (the generated expectation is 2XX) but not what the spec declares
    assert ("CONTRACT_VIOLATION", "UNDECLARED_STATUS") in {(v["type"], v["code"]) for v in step["violations"]}


def test_from_step_reuses_the_stored_run(shop: RunningShop, tmp_path: Path) -> None:
    env = shop_env(shop, tmp_path)
    db_file = tmp_path / "ci.db"
    db = ["--db", f"sqlite:///{db_file}"]
    first = orchestra([*FILES, *db, "--scenario", "S001", "--json"], env)  # an empty --db is migrated
    assert first.code == 0, first.stderr
    source_run = first.run()["id"]

    # no --from-run: the newest run of the scenario in --db whose earlier steps passed
    later = orchestra(
        [*FILES, *db, "--scenario", "S001", "--mode", "FROM_STEP", "--from-step", "2", "--json"], env
    )
    assert later.code == 0, later.stderr
    run = later.run()
    assert run["mode"] == "FROM_STEP" and run["fromRunId"] == source_run and run["startStepIndex"] == 2
    steps = run["steps"]
    assert [s.get("reusedFromRunId") for s in steps[:2]] == [source_run, source_run]
    assert all("reusedFromRunId" not in s for s in steps[2:])
    assert {s["status"] for s in steps} == {"PASSED"}
    assert count_rows(db_file, "scenario_suite") == 1  # the same files reuse one stored suite

    # an explicit --from-run and a fault on a later step: that step turns red, the reused ones stay
    shop.fault("orders", "wrong_status", operation="markOrderPaid", status=500)
    args = ["--mode", "FROM_STEP", "--from-step", "mark_order_as_paid", "--from-run", source_run, "--json"]
    red = orchestra([*FILES, *db, "--scenario", "S001", *args], env)
    assert red.code == 1, red.stderr
    steps_by_alias = red.steps()
    assert steps_by_alias["mark_order_as_paid"]["status"] == "FAILED"
    assert "HTTP_ERROR" in {v["type"] for v in steps_by_alias["mark_order_as_paid"]["violations"]}
    assert steps_by_alias["create_order"]["reusedFromRunId"] == source_run
    assert steps_by_alias["get_order"]["status"] == "PASSED"  # FROM_STEP runs all the rest


# ---- from the database ----------------------------------------------------------------------------


def test_database_suite_by_key_with_stored_environment_and_data(shop: RunningShop, tmp_path: Path) -> None:
    from sqlmodel import Session, select

    from orchestra_app.db.tables import Environment, TestDataSet, TestScenario
    from orchestra_app.services.tenancy import ensure_dev_principal

    env = shop_env(shop, tmp_path)
    db_file = tmp_path / "stored.db"
    db = ["--db", f"sqlite:///{db_file}"]
    stored = orchestra([*FILES, *db, "--scenario", "S001", "--json"], env)
    assert stored.code == 0, stored.stderr
    url = str(shop.ready["services"]["orders"]["url"])
    data = {
        "customerId": "cust-db",
        "items": [{"sku": "SKU-1001", "quantity": 2}],
        "Idempotency-Key": "db-attempt",
        "amount": 54.7,
        "card": CARD_OK,
    }
    engine = sa.create_engine(f"sqlite:///{db_file}")
    with Session(engine) as session:
        principal = ensure_dev_principal(session=session)
        services = {
            name: {"baseUrl": url, "timeoutS": 10}
            for name in ("shop-order-service", "shop-payment-service", "shop-inventory-service")
        }
        session.add(Environment(tenant_id=principal.tenant_id, name="shop-stored", services=services))
        session.add(
            TestDataSet(
                tenant_id=principal.tenant_id, scope="GLOBAL", name="shop-data", tags=["smoke"], data=data
            )
        )
        scenario_ids = {s.key: str(s.id) for s in session.exec(select(TestScenario)).all()}
        session.commit()
    engine.dispose()
    runs_before = count_rows(db_file, "test_run")

    by_key = orchestra(
        ["order-process", *db, "--scenario", "S001", "--env", "shop-stored", "--data", "shop-data", "--json"],
        env,
    )
    assert by_key.code == 0, by_key.stderr
    run = by_key.run()
    assert run["status"] == "PASSED" and run["environment"] == "shop-stored" and run["dataSet"] == "shop-data"
    assert by_key.document["source"]["kind"] == "database"

    # by tag (the loop scenarios), data by tag, a scenario by its name
    tagged = orchestra(
        ["order-process", *db, "--tag", "loop", "--env", "shop-stored", "--data-tag", "smoke", "--json"], env
    )
    assert tagged.code == 0, tagged.stderr
    assert sorted(r["scenarioKey"] for r in tagged.document["runs"]) == ["S003", "S004"]
    named = orchestra(
        [
            "order-process",
            *db,
            "--scenario",
            "items in stock: in stock",
            "--env",
            "shop-stored",
            "--data",
            "shop-data",
            "--json",
        ],
        env,
    )
    assert named.code == 0, named.stderr
    assert [r["scenarioKey"] for r in named.document["runs"]] == ["S001"]
    # a scenario id as the target; STOP_ON_FIRST_FAILURE with a fault
    shop.fault("inventory", "wrong_status", operation="confirmStockReservation", status=500)
    by_id = orchestra(
        [
            scenario_ids["S001"],
            *db,
            "--env",
            "shop-stored",
            "--data",
            "shop-data",
            "--mode",
            "STOP_ON_FIRST_FAILURE",
            "--json",
        ],
        env,
    )
    assert by_id.code == 1, by_id.stderr
    steps = by_id.steps()
    assert steps["confirm_stock_reservation"]["status"] == "FAILED"
    assert [steps[a]["status"] for a in ("mark_order_as_paid", "get_order")] == ["SKIPPED", "SKIPPED"]
    assert count_rows(db_file, "test_run") == runs_before + 1 + 2 + 1 + 1

    # refusals against the database: clear, exit 2, nothing stored
    bad = [
        (["no-such-suite", "--env", "shop-stored"], "no suite"),
        (
            ["order-process", "--scenario", "S999", "--env", "shop-stored", "--data", "shop-data"],
            "--scenario 'S999'",
        ),
        (["order-process", "--env", "nowhere", "--data", "shop-data"], "--env"),
        (["order-process", "--env", "shop-stored", "--data", "no-such-data"], "--data 'no-such-data'"),
        (["order-process", "--env", "shop-stored", "--data-tag", "no-such-tag"], "--data-tag"),
        (["order-process", "--tag", "no-such-tag", "--env", "shop-stored"], "--tag"),
        (["order-process", "--spec", SPECS[0], "--env", "shop-stored"], "--spec"),
        (
            [
                "order-process",
                "--scenario",
                "S001",
                "--env",
                "shop-stored",
                "--data",
                "shop-data",
                "--mode",
                "FROM_STEP",
                "--from-step",
                "2",
                "--from-run",
                str(uuid.uuid4()),
            ],
            "--from-run",
        ),
        (
            [
                "order-process",
                "--scenario",
                "S001",
                "--env",
                "shop-stored",
                "--data",
                "shop-data",
                "--mode",
                "SINGLE_STEP",
                "--from-step",
                "no_such_step",
            ],
            "--from-step 'no_such_step'",
        ),
    ]
    check_refusals(bad, env, extra=db)
    assert count_rows(db_file, "test_run") == runs_before + 5


# ---- refusals --------------------------------------------------------------------------------------


def check_refusals(
    cases: list[tuple[list[str], str]], env: dict[str, str], extra: Sequence[str] = ()
) -> None:
    """Each case exits 2 with ``needle`` in its message, no traceback. The cases run through the real
    command in one `python -m tests.fixtures.run_cli_driver` process (an interpreter start per case
    costs more than the case under load); the success paths above are separate processes."""
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "tests.fixtures.run_cli_driver"],
        cwd=ROOT,
        env=env,
        input=json.dumps([[*args, *extra] for args, _ in cases]),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    failures = []
    for (args, needle), result in zip(cases, results, strict=True):
        stderr = result["stderr"]
        if (
            result["crash"]
            or "Traceback" in stderr
            or result["code"] != 2
            or needle not in stderr
            or (not stderr.startswith("orchestra run: ") and "Usage:" not in stderr)
        ):
            failures.append(
                f"{args}: exit {result['code']}, wanted 2 with {needle!r}; stderr:\n{stderr[-1500:]}"
                + (f"\n{result['crash']}" if result["crash"] else "")
            )
    assert not failures, "\n\n".join(failures)


def test_every_option_refuses_bad_values(shop: RunningShop, tmp_path: Path) -> None:
    env = shop_env(shop, tmp_path)
    broken_bpmn = tmp_path / "broken.bpmn"
    broken_bpmn.write_text(
        '<?xml version="1.0"?>\n<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">\n'
        '<process id="p">\n</definitions>\n'
    )
    garbage_spec = tmp_path / "garbage.yaml"
    garbage_spec.write_text("just: [a, list\n")
    bad_env = tmp_path / "env.yaml"
    bad_env.write_text(
        "format: orchestra-environment/1\nname: x\nservices:\n  shop-order-service:\n    timeoutS: 10\n"
    )
    bad_data = tmp_path / "data.yaml"
    bad_data.write_text("customerId: [unclosed\n")
    thin_data = tmp_path / "thin.yaml"
    thin_data.write_text("customerId: cust-1\n")
    files_no_data = [PROCESS, *[a for s in SPECS for a in ("--spec", s)], "--env", ENV_FILE]
    cases: list[tuple[list[str], str]] = [
        ([], "name what to run"),
        ([str(tmp_path / "nope.bpmn"), "--spec", SPECS[0], "--env", ENV_FILE], "nope.bpmn"),
        ([str(broken_bpmn), "--spec", SPECS[0], "--env", ENV_FILE], "broken.bpmn"),
        ([PROCESS, "--env", ENV_FILE], "--spec"),
        ([PROCESS, "--spec", str(tmp_path / "missing.yaml"), "--env", ENV_FILE], "missing.yaml"),
        ([PROCESS, "--spec", str(garbage_spec), "--env", ENV_FILE], "garbage.yaml"),
        ([PROCESS, "--spec", SPECS[0]], "--env"),
        ([*files_no_data[:-1], str(bad_env)], "env.yaml"),
        ([*files_no_data, "--data", str(bad_data)], "data.yaml"),
        ([*files_no_data, "--data", str(thin_data), "--scenario", "S001"], "data.card"),
        ([*FILES, "--data-tag", "smoke"], "--data"),
        ([*FILES, "--mode", "SOMETIMES"], "--mode"),
        ([*FILES, "--mode", "SINGLE_STEP", "--scenario", "S001"], "--from-step"),
        ([*FILES, "--mode", "SINGLE_STEP", "--from-step", "0"], "--scenario"),
        ([*FILES, "--mode", "SINGLE_STEP", "--scenario", "S001", "--from-step", "99"], "99"),
        (
            [*FILES, "--mode", "SINGLE_STEP", "--scenario", "S001", "--from-step", "nope"],
            "--from-step 'nope'",
        ),
        ([*FILES, "--mode", "FROM_STEP", "--scenario", "S001", "--from-step", "2"], "--db"),
        (
            [
                *FILES,
                "--mode",
                "FROM_STEP",
                "--scenario",
                "S001",
                "--from-step",
                "2",
                "--from-run",
                "yesterday",
            ],
            "--from-run",
        ),
        ([*FILES, "--from-step", "2"], "--from-step"),
        ([*FILES, "--context", DATA_FILE], "--context"),
        (
            [
                *FILES,
                "--mode",
                "SINGLE_STEP",
                "--scenario",
                "S001",
                "--from-step",
                "1",
                "--context",
                str(bad_data),
            ],
            "--context",
        ),
        ([*FILES, "--scenario", "S999"], "--scenario 'S999'"),
        ([*FILES, "--tag", "no-such-tag"], "--tag 'no-such-tag'"),
        ([*FILES, "--junit", str(tmp_path / "no" / "such" / "dir" / "r.xml")], "--junit"),
        ([*FILES, "--db", "not a url"], "--db"),
        ([*FILES, "--db", "postgresql://orchestra@127.0.0.1:1/nothing"], "--db"),
        ([*FILES, "--var", "novalue"], "--var"),
        ([*FILES, "--override", "just-a-node"], "--override"),
        ([*FILES, "--step-timeout", "0"], "--step-timeout"),
        ([*FILES, "--run-timeout", "-5"], "--run-timeout"),
        ([*FILES, "--workers", "0"], "--workers"),
    ]
    check_refusals(cases, env)


def test_refusals_after_reading_the_database_store_nothing(shop: RunningShop, tmp_path: Path) -> None:
    env = shop_env(shop, tmp_path)
    db_file = tmp_path / "refused.db"
    db = ["--db", f"sqlite:///{db_file}"]
    # a service that does not answer: named with the setting to fix, before any step
    closed = {**env, "SHOP_PAYMENTS_URL": "http://127.0.0.1:9"}
    unreachable = orchestra([*FILES, *db, "--json"], closed)
    assert unreachable.code == 2
    assert "shop-payment-service" in unreachable.stderr and "127.0.0.1:9" in unreachable.stderr
    assert "environment.yaml" in unreachable.stderr
    assert unreachable.document["status"] == "ERROR" and unreachable.document["error"]["problems"]
    # a secret whose environment variable is not set: named with the variable
    secret_env = tmp_path / "secret-env.yaml"
    url = str(shop.ready["services"]["orders"]["url"])
    secret_env.write_text(
        "format: orchestra-environment/1\nname: with-token\nsecrets:\n  ORDERS_TOKEN: RUN_TEST_ORDERS_TOKEN\n"
        "services:\n"
        f"  shop-order-service:\n    baseUrl: '{url}'\n"
        "    auth: {type: bearer, token: {secret: ORDERS_TOKEN}}\n"
        f"  shop-payment-service: {{baseUrl: '{url}'}}\n"
        f"  shop-inventory-service: {{baseUrl: '{url}'}}\n"
    )
    args = [
        PROCESS,
        *[a for s in SPECS for a in ("--spec", s)],
        "--env",
        str(secret_env),
        "--data",
        DATA_FILE,
    ]
    junit = tmp_path / "refused.xml"
    missing = orchestra(
        [*args, *db, "--junit", str(junit)], {k: v for k, v in env.items() if k != "RUN_TEST_ORDERS_TOKEN"}
    )
    assert missing.code == 2
    assert "ORDERS_TOKEN" in missing.stderr and "RUN_TEST_ORDERS_TOKEN" in missing.stderr
    error = ET.parse(junit).getroot().find("testsuite/testcase/error")  # CI still gets a report saying why
    assert error is not None
    for table in ("test_run", "scenario_suite", "process", "protocol_spec"):
        assert count_rows(db_file, table) == 0, table
    # with the variable set, the same command runs
    ok = orchestra([*args, *db, "--scenario", "S001", "--json"], {**env, "RUN_TEST_ORDERS_TOKEN": "t0ken"})
    assert ok.code == 0, ok.stderr
    assert "t0ken" not in db_file.read_bytes().decode("latin-1")  # the value is never stored


# ---- the server path: PostgreSQL, Redis, two `orchestra worker` processes ---------------------------


def test_runs_queue_to_two_worker_processes(
    shop: RunningShop, tmp_path: Path, fresh_pg_url: str, redis_url: str
) -> None:
    from orchestra_app.db.migrate import upgrade

    upgrade(fresh_pg_url)
    private_redis = redis_url.rsplit("/", 1)[0] + "/7"  # a database of its own: no other test's queue
    env = {**shop_env(shop, tmp_path), "DB_URL": fresh_pg_url, "REDIS_URL": private_redis}
    logs, workers = [], []
    try:
        for n in range(2):
            log = (tmp_path / f"worker-{n}.log").open("wb")
            logs.append(log)
            workers.append(
                subprocess.Popen(
                    [
                        str(ROOT / ".venv/bin/orchestra"),
                        "worker",
                        "-p",
                        "1",
                        "-t",
                        "1",
                        "--metrics-port",
                        "0",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        result = orchestra([*FILES, "--db", fresh_pg_url, "--json"], env)
        assert result.code == 0, result.stderr + "".join(
            (tmp_path / f"worker-{n}.log").read_text() for n in range(2)
        )
        assert {r["status"] for r in result.document["runs"]} == {"PASSED"}
        assert len(result.document["runs"]) == 5
        engine = sa.create_engine(fresh_pg_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT worker_id, triggered_by FROM test_run")).all()
        engine.dispose()
        assert len(rows) == 5 and all(worker and trigger == "cli" for worker, trigger in rows)
        # a fault: the same runs through the workers turn the right step red
        shop.fault("orders", "missing_field", operation="createOrder", field="totalAmount")
        red = orchestra(
            [*FILES, "--db", fresh_pg_url, "--scenario", "S001", "--mode", "STOP_ON_FIRST_FAILURE", "--json"],
            env,
        )
        assert red.code == 1, red.stderr
        steps = red.steps()
        assert steps["create_order"]["status"] == "FAILED"
        assert {v["type"] for v in steps["create_order"]["violations"]} == {"CONTRACT_VIOLATION"}
        assert [steps[a]["status"] for a in S001[1:]] == ["SKIPPED"] * 5
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in workers:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(10)
        for log in logs:
            log.close()
    wait_for(lambda: all(p.poll() is not None for p in workers), timeout=30, what="workers to stop")
