"""The report document, its HTML and JUnit forms, the trend and the reproducers (pure parts)."""

from __future__ import annotations

import json
import shlex
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

from orchestra_app.domain.runs import PinnedEnvironment, RunSnapshot
from orchestra_app.domain.steps import ScenarioStepSpec
from orchestra_app.reporting.html import render_html
from orchestra_app.reporting.report import build_report, report_junit, trend
from orchestra_app.reporting.reproducers import Arg, reproducer_for

ENV = PinnedEnvironment(
    name="staging",
    services={
        "orders": {"baseUrl": "http://orders:8080", "auth": {"type": "bearer", "token": "{{secret:ORDERS}}"}}
    },
    profiles={
        "db": {
            "main": {
                "url": "postgresql://db.internal:5432/shop",
                "username": "app",
                "password": {"secret": "DB_PW"},
            }
        },
        "kafka": {
            "events": {
                "bootstrap_servers": "k1:9092",
                "security": {"sasl.username": "svc", "sasl.password": {"secret": "KAFKA_PW"}},
            }
        },
        "queue": {
            "amqp": {
                "kind": "rabbitmq",
                "endpoint": "amqp://mq:5672/shop",
                "username": "u",
                "password": {"secret": "MQ"},
            }
        },
    },
    secret_env={"MQ": "MY_MQ_PASSWORD"},
)


def _violation(code: str, message: str = "m", t: str = "HTTP_ERROR") -> dict[str, Any]:
    return {"type": t, "code": code, "message": message, "details": {}, "severity": "error"}


def _run() -> tuple[dict[str, Any], RunSnapshot]:
    steps = [
        {
            "orderIndex": 0,
            "alias": "create",
            "channelType": "HTTP_REST",
            "kind": "ACTION",
            "status": "FAILED",
            "durationMs": 12,
            "actualStatusCode": 500,
            "violations": [_violation("UNEXPECTED_STATUS"), _violation("SCHEMA", t="CONTRACT_VIOLATION")],
            "request": {
                "method": "POST",
                "url": "http://orders:8080/orders?x=1",
                "headers": {"Authorization": "***", "Content-Type": "application/json", "X-Note": "<script>"},
                "bodyKind": "json",
                "body": {"sku": "A-1", "pin": "***"},
            },
            "responseBody": {"error": "</pre><script>alert(1)</script>"},
        },
        {
            "orderIndex": 1,
            "alias": "check_row",
            "channelType": "DB",
            "kind": "ASSERTION",
            "status": "FAILED",
            "durationMs": 40,
            "violations": [_violation("ROW_MISSING", t="DB_ASSERTION_FAILED")],
            "dbResult": {
                "dataSource": "main",
                "dialect": "postgresql",
                "sql": "select * from t where id = %s",
                "parameters": [{"from": "x", "value": "o'1"}],
            },
        },
        {
            "orderIndex": 2,
            "alias": "event",
            "channelType": "KAFKA",
            "kind": "ASSERTION",
            "status": "FLAKY",
            "attempt": 2,
            "durationMs": 5,
            "violations": [_violation("KAFKA_MESSAGE_NOT_FOUND", t="TIMEOUT")],
        },
        {"orderIndex": 3, "alias": "publish", "channelType": "QUEUE", "kind": "ACTION", "status": "PASSED"},
        {
            "orderIndex": 4,
            "alias": "later",
            "channelType": "HTTP_REST",
            "kind": "ACTION",
            "status": "SKIPPED",
        },
    ]
    snapshot = RunSnapshot(
        scenario_key="S001",
        scenario_name="Happy <path>",
        steps=[
            ScenarioStepSpec(alias="create", order_index=0, action={"meta": {"service": "orders"}}),  # type: ignore[arg-type]
            ScenarioStepSpec(
                alias="check_row",
                order_index=1,
                channel_type="DB",
                kind="ASSERTION",  # type: ignore[arg-type]
                action={"meta": {"dataSource": "main", "sql": "select 1"}},
            ),  # type: ignore[arg-type]
            ScenarioStepSpec(
                alias="event",
                order_index=2,
                channel_type="KAFKA",
                kind="ASSERTION",  # type: ignore[arg-type]
                action={"meta": {"clusterAlias": "events", "topic": "shop.orders"}},
            ),  # type: ignore[arg-type]
        ],
        data_set_name="eu customers",
        data={"customer": "c-1"},
        environment=ENV,
    )
    run = {
        "id": "7d3b0c8e-0000-4000-8000-000000000001",
        "status": "FAILED",
        "scenarioKey": "S001",
        "scenarioName": "Happy <path>",
        "startedAt": "2026-11-29T10:00:00+00:00",
        "finishedAt": "2026-11-29T10:00:02.500000+00:00",
        "steps": steps,
    }
    return run, snapshot


def test_report_aggregates_and_flaky() -> None:
    run, snapshot = _run()
    report = build_report(run, snapshot, suite_name="order v1")
    assert report["summary"] == {
        "steps": 5, "passed": 1, "failed": 2, "flaky": 1, "skipped": 1, "notRun": 0, "violations": 3,
        "passRate": 0.5,
    }  # fmt: skip
    assert report["run"]["durationMs"] == 2500 and report["run"]["dataSet"]["name"] == "eu customers"
    assert (
        report["violations"]["byType"][0] == {"type": "DB_ASSERTION_FAILED", "count": 1}
        or len(report["violations"]["byType"]) == 3
    )
    assert {r["endpoint"]: r["count"] for r in report["violations"]["byEndpoint"]} == {
        "POST /orders": 2,
        "check_row": 1,
    }
    assert report["flakySteps"] == [
        {
            "index": 2,
            "alias": "event",
            "attempts": 2,
            "violations": [_violation("KAFKA_MESSAGE_NOT_FOUND", t="TIMEOUT")],
        }
    ]
    by_alias = {s["alias"]: s for s in report["steps"]}
    assert by_alias["publish"]["reproducer"] is None and by_alias["later"]["reproducer"] is None
    assert by_alias["event"]["reproducer"]["tool"] == "kcat"
    json.dumps(report)  # JSON-safe


def test_reproducers_reference_secrets_by_variable() -> None:
    run, snapshot = _run()
    steps = {s["alias"]: s for s in build_report(run, snapshot)["steps"]}
    curl = steps["create"]["reproducer"]["command"]
    assert '"Authorization: Bearer ${ORCHESTRA_SECRET_ORDERS}"' in curl
    assert "***" not in curl and "${ORCHESTRA_REDACTED_BODY}" in curl
    words = shlex.split(curl)
    assert words[:5] == ["curl", "-sS", "-i", "-X", "POST"] and words[-1] == "http://orders:8080/orders?x=1"
    assert "X-Note: <script>" in words
    psql = steps["check_row"]["reproducer"]["command"]
    assert (
        'PGPASSWORD="${ORCHESTRA_SECRET_DB_PW}" psql' in psql and "postgresql://db.internal:5432/shop" in psql
    )
    psql_words = shlex.split(psql)
    assert "select * from t where id = :'p1'" in psql_words and "p1=o'1" in psql_words
    kcat = steps["event"]["reproducer"]["command"]
    assert '"sasl.password=${ORCHESTRA_SECRET_KAFKA_PW}"' in kcat and "-t shop.orders" in kcat
    queue = reproducer_for(
        channel="QUEUE",
        kind="ACTION",
        request={
            "exchange": "shop.payments",
            "routingKey": "paid",
            "properties": {"correlationId": "o-1"},
            "body": {"a": 1},
        },
        db_result=None,
        meta={"brokerAlias": "amqp"},
        service="",
        environment=ENV,
    )
    assert (
        queue is not None
        and '"${MY_MQ_PASSWORD}"' in queue.command
        and "exchange=shop.payments" in queue.command
    )


def test_shell_words_keep_literal_dollars_and_quotes() -> None:
    arg = Arg().text('a "$HOME" `x` \\ ').var("TOKEN_1")
    out = subprocess.run(
        ["bash", "-c", f"printf %s {arg.render()}"],
        capture_output=True,
        text=True,
        env={"TOKEN_1": "t"},
        check=True,
    )
    assert out.stdout == 'a "$HOME" `x` \\ t'


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset")]


def test_html_is_self_contained_and_escaped() -> None:
    run, snapshot = _run()
    html = render_html(build_report(run, snapshot, suite_name="order v1"))
    parser = _Refs()
    parser.feed(html)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert parser.refs == []
    assert "&lt;/pre&gt;&lt;script&gt;" in html and "Happy &lt;path&gt;" in html
    assert "Reproduce with psql" in html and "eu customers" in html and "Flaky steps" in html


def test_junit_from_the_report() -> None:
    run, snapshot = _run()
    root = ET.fromstring(report_junit(build_report(run, snapshot, suite_name="order v1")))
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("5", "2", "1")
    out = root.find(".//testcase[@name='01 create']/system-out")
    assert out is not None and "reproduce: curl" in (out.text or "")


def test_trend_groups_batches() -> None:
    points = [
        {"id": "r1", "batchId": "b1", "status": "PASSED", "createdAt": "2026-01-01T00:00:00",
         "startedAt": "2026-01-01T00:00:01", "finishedAt": "2026-01-01T00:00:03"},
        {"id": "r2", "batchId": "b1", "status": "FAILED", "createdAt": "2026-01-01T00:00:00",
         "startedAt": "2026-01-01T00:00:02", "finishedAt": "2026-01-01T00:00:05"},
        {"id": "r3", "batchId": None, "status": "CANCELLED", "createdAt": "2026-01-02T00:00:00",
         "startedAt": None, "finishedAt": None},
    ]  # fmt: skip
    rows = trend(points)
    assert [r["batchId"] for r in rows] == ["b1", "r3"]
    assert rows[0]["passRate"] == 0.5 and rows[0]["durationMs"] == 4000 and rows[0]["runs"] == 2
    assert rows[1]["passRate"] is None and rows[1]["durationMs"] is None and rows[1]["cancelled"] == 1
