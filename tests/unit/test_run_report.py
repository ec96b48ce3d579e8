"""`orchestra run`'s result: exit codes, the orchestra-run/1 document, JUnit suites, option parsing,
the preflight's reachability and secrets-in-use checks (services/run_report.py, cli/run.py,
services/run_preflight.py)."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestra_app.cli.run import Refused, _parse_vars
from orchestra_app.domain.runs import RunMode, RunStatus
from orchestra_app.domain.steps import Violation
from orchestra_app.reporting.junit import write_junit
from orchestra_app.services.environment_file import load_environment_file
from orchestra_app.services.run_preflight import check_reachable, used_by
from orchestra_app.services.run_report import (
    EXIT_FAILED,
    EXIT_PASSED,
    EXIT_USAGE,
    error_summary,
    exit_code,
    junit_suites,
    summary,
)
from orchestra_app.services.runs import StepResultView, TestRunDetail

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def run(status: RunStatus, *steps: tuple[str, str], error: str | None = None, **extra: Any) -> TestRunDetail:
    return TestRunDetail(
        id=uuid.uuid4(),
        batch_id=uuid.uuid4(),
        scenario_id=uuid.uuid4(),
        scenario_key=extra.pop("key", "S001"),
        scenario_name="happy path",
        scenario_version=1,
        mode=extra.pop("mode", RunMode.RUN_ALL_STEPS),
        status=status,
        created_at=NOW,
        started_at=NOW,
        finished_at=NOW + timedelta(milliseconds=1500),
        error=error,
        steps=[
            StepResultView(
                order_index=i,
                alias=alias,
                status=step_status,
                duration_ms=10,
                violations=[Violation(type="HTTP_ERROR", code="UNEXPECTED_STATUS", message="got 500")]
                if step_status == "FAILED"
                else [],
            )
            for i, (alias, step_status) in enumerate(steps)
        ],
        **extra,
    )


def test_exit_codes() -> None:
    passed = run(RunStatus.PASSED, ("a", "PASSED"), ("b", "FLAKY"))
    failed = run(RunStatus.FAILED, ("a", "PASSED"), ("b", "FAILED"), ("c", "SKIPPED"))
    cancelled = run(RunStatus.CANCELLED, ("a", "PASSED"), ("b", "SKIPPED"))
    not_started = run(RunStatus.FAILED, ("a", "SKIPPED"), error="environment: no service 'orders'")
    assert exit_code([passed]) == EXIT_PASSED
    assert exit_code([passed, failed]) == EXIT_FAILED
    assert exit_code([passed, cancelled]) == EXIT_FAILED
    assert exit_code([failed, not_started]) == EXIT_USAGE  # configuration beats a red step
    assert exit_code([]) == EXIT_FAILED  # nothing ran is never a pass


def test_summary_document() -> None:
    runs = [
        run(RunStatus.PASSED, ("a", "PASSED")),
        run(RunStatus.FAILED, ("a", "PASSED"), ("b", "FAILED"), key="S002"),
    ]
    doc = summary(runs, source={"kind": "files"}, suite={"name": "Shop"}, notes=["n"], duration_ms=7)
    assert doc["format"] == "orchestra-run/1"
    assert (doc["status"], doc["exitCode"], doc["error"]) == ("FAILED", 1, None)
    assert doc["totals"] == {
        "runs": 2,
        "passed": 1,
        "failed": 1,
        "cancelled": 0,
        "steps": {"FAILED": 1, "PASSED": 2},
    }
    second = doc["runs"][1]
    assert second["scenarioKey"] == "S002" and second["durationMs"] == 1500
    assert second["steps"][1]["violations"][0]["type"] == "HTTP_ERROR"
    assert "reusedFromRunId" not in second["steps"][0]
    assert summary(runs[:1], source={}, suite=None, duration_ms=1)["status"] == "PASSED"
    cancelled = summary([run(RunStatus.CANCELLED, ("a", "SKIPPED"))], source={}, suite=None, duration_ms=1)
    assert cancelled["status"] == "CANCELLED" and cancelled["exitCode"] == 1
    error = error_summary("bad", ["one", "two"], source={"kind": "files"})
    assert (error["status"], error["exitCode"], error["runs"]) == ("ERROR", 2, [])
    assert error["error"] == {"message": "bad", "problems": ["one", "two"]}
    assert set(error) == set(doc)  # one shape for both


def test_junit_suites_per_run() -> None:
    reused_from = uuid.uuid4()
    runs = [
        run(RunStatus.FAILED, ("a", "PASSED"), ("b", "FAILED"), ("c", "SKIPPED")),
        run(RunStatus.FAILED, ("a", "SKIPPED"), error="secret ORDERS_TOKEN is not set", key="S002"),
    ]
    runs[0].steps[0].reused_from_run_id = reused_from
    xml = write_junit(junit_suites(runs, suite_name="Shop", classname="order"), name="orchestra run").decode()
    assert 'tests="3"' in xml and 'failures="1"' in xml and 'skipped="1"' in xml
    assert "UNEXPECTED_STATUS" in xml
    assert f"reused from run {reused_from}" in xml
    assert "<error" in xml and "ORDERS_TOKEN" in xml  # a run that could not start is an error


def test_vars() -> None:
    assert _parse_vars(["a=1", "b=text", "order.id=7", "order.lines=[1,2]"]) == {
        "a": 1,
        "b": "text",
        "order": {"id": 7, "lines": [1, 2]},
    }
    for bad in (["novalue"], ["=1"], ["data=1"], ["a=1", "a.b=2"]):
        with pytest.raises(Refused):
            _parse_vars(bad)


def test_reachability_and_secrets_in_use(tmp_path: Path) -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    text = f"""format: orchestra-environment/1
name: t
secrets: {{TOKEN: RUN_UNIT_TOKEN, DB_PASSWORD: RUN_UNIT_DB_PASSWORD}}
services:
  up:
    baseUrl: 'http://127.0.0.1:{listening.getsockname()[1]}'
    auth: {{type: bearer, token: {{secret: TOKEN}}}}
  down: {{baseUrl: 'http://127.0.0.1:{closed_port}/api'}}
profiles:
  db:
    unused: {{url: 'postgresql://127.0.0.1:{closed_port}/x', username: u, password: {{secret: DB_PASSWORD}}}}
"""
    path = tmp_path / "env.yaml"
    path.write_text(text)
    env = load_environment_file(path, environ={})
    try:
        problems = check_reachable(env, {("service", "up"), ("service", "down")}, timeout_s=5)
    finally:
        listening.close()
    assert len(problems) == 1
    assert "service 'down'" in problems[0] and f"127.0.0.1:{closed_port}" in problems[0]
    assert "env.yaml" in problems[0]
    # only the secrets of what the run uses are required
    assert [p for p in env.missing_secrets(used={("service", "down")})] == []
    missing = env.missing_secrets(used={("service", "up")})
    assert len(missing) == 1 and "RUN_UNIT_TOKEN" in missing[0]
    assert len(env.missing_secrets()) == 2
    assert used_by([]) == set()
