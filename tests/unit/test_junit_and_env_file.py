"""JUnit XML from step results; environment files (services, profiles, secrets by env var only)."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestra_app.domain.errors import ConfigurationError
from orchestra_app.domain.steps import StepResultData, StepStatus, Violation, ViolationType
from orchestra_app.plugins.base import DbProfile, KafkaProfile
from orchestra_app.reporting.junit import JUnitSuite, case_from_step, write_junit
from orchestra_app.services.environment_file import load_environment_file, parse_environment

pytestmark = pytest.mark.unit


def _result(alias: str, status: StepStatus, *violations: Violation, ms: int = 12) -> StepResultData:
    return StepResultData(
        step_alias=alias, status=status, duration_ms=ms, violations=list(violations), actual_status_code=200
    )


def test_junit_counts_failures_errors_and_skips() -> None:
    contract = Violation(
        type=ViolationType.CONTRACT_VIOLATION, code="SCHEMA", message="$.id is missing", details={"at": "/id"}
    )
    template = Violation(
        type=ViolationType.VALIDATION_ERROR, code="TEMPLATE_ERROR", message="'data.x' has no value"
    )
    steps = [
        _result("create_order", StepStatus.PASSED),
        _result("charge", StepStatus.FAILED, contract),
        _result("refund", StepStatus.FAILED, template),
        _result("ship", StepStatus.SKIPPED),
        _result("retry", StepStatus.FLAKY, contract),
    ]
    suite = JUnitSuite(
        name="Order/S001",
        cases=[case_from_step(r, classname="order.S001", index=i + 1) for i, r in enumerate(steps)],
        timestamp=datetime(2026, 3, 4, 5, 6, 7, 123, tzinfo=UTC),
        properties={"runId": "r-1"},
    )
    broken = JUnitSuite(name="Order/S002", error="secret 'ORDERS_TOKEN' is not set: export ORDERS_API_TOKEN")
    root = ET.fromstring(write_junit([suite, broken]))
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "6",
        "failures": "1",
        "errors": "2",
        "skipped": "1",
    }
    first = root.find("testsuite")
    assert first is not None and first.get("timestamp") == "2026-03-04T05:06:07+00:00"
    assert first.find("properties/property").get("value") == "r-1"  # type: ignore[union-attr]
    cases = first.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "01 create_order",
        "02 charge",
        "03 refund",
        "04 ship",
        "05 retry",
    ]
    failure = cases[1].find("failure")
    assert (
        failure is not None
        and failure.get("type") == "CONTRACT_VIOLATION"
        and '"at": "/id"' in (failure.text or "")
    )
    assert cases[2].find("error") is not None  # could not be sent: a broken test, not a broken system
    assert cases[3].find("skipped") is not None
    assert "FLAKY" in (cases[4].findtext("system-out") or "") and cases[4].find("failure") is None
    assert "ORDERS_API_TOKEN" in (root.findall("testsuite")[1].find("testcase/error").get("message") or "")  # type: ignore[union-attr]


def test_junit_is_valid_xml_whatever_the_text() -> None:
    nasty = Violation(
        type=ViolationType.HTTP_ERROR, code="X", message='bell \x07 nul \x00 <tag> & "quote" ' + "y" * 9000
    )
    xml = write_junit(
        [
            JUnitSuite(
                name="s\x01",
                cases=[case_from_step(_result("a", StepStatus.FAILED, nasty), classname="c", index=1)],
            )
        ]
    )
    failure = ET.fromstring(xml).find("testsuite/testcase/failure")
    assert failure is not None and '<tag> & "quote"' in (failure.get("message") or "")
    assert (failure.text or "").endswith("(truncated)")


ENV = textwrap.dedent(
    """\
    format: orchestra-environment/1
    name: staging
    services:
      orders-api:
        baseUrl: ${ORDERS_URL:-http://127.0.0.1:8080}
        auth: {type: bearer, token: {secret: ORDERS_TOKEN}}
        headers: {X-Tenant: acme, Authorization: 'Bearer {{secret:EXTRA}}'}
        timeoutS: 5
        tls: {verify: true, caBundle: certs/ca.pem}
    variables:
      region: ${REGION}
    secrets:
      ORDERS_TOKEN: ORDERS_API_TOKEN
      EXTRA: {env: EXTRA_TOKEN}
    profiles:
      db:
        main: {url: 'postgresql://db:5432/orders', username: app, password: {secret: DB_PASS}}
      kafka:
        events: {bootstrapServers: 'localhost:9092'}
    plugins:
      http: {validateRequests: true}
    """
)


def test_environment_file_builds_an_execution_environment(tmp_path: Path) -> None:
    path = tmp_path / "staging.yaml"
    path.write_text(ENV)
    environ = {"REGION": "eu", "ORDERS_API_TOKEN": "t0k", "ORCHESTRA_SECRET_DB_PASS": "pw"}
    env_file = load_environment_file(path, environ=environ)
    assert env_file.name == "staging" and env_file.variables == {"region": "eu"}
    service = env_file.services["orders-api"]
    assert service.base_url == "http://127.0.0.1:8080" and service.timeout_s == 5
    assert service.tls.ca_bundle == str((tmp_path / "certs" / "ca.pem").resolve())
    assert env_file.secrets.resolve("ORDERS_TOKEN") == "t0k"
    assert env_file.secrets.resolve("DB_PASS") == "pw"  # not mapped: ORCHESTRA_SECRET_<NAME>
    assert env_file.missing_secrets() == [
        "secret 'EXTRA' (used by service orders-api) is not set: export EXTRA_TOKEN"
    ]
    env = env_file.execution_environment()
    assert isinstance(env.profile("db", "main"), DbProfile) and isinstance(
        env.profile("kafka", "events"), KafkaProfile
    )
    assert env.plugin_config == {"http": {"validateRequests": True}}


@pytest.mark.parametrize(
    "change,line,field,fragment",
    [
        (
            ("token: {secret: ORDERS_TOKEN}", "token: s3cr3t"),
            6,
            "services.orders-api.auth.token",
            "literal secret",
        ),
        (
            ("Authorization: 'Bearer {{secret:EXTRA}}'", "Authorization: 'Bearer abc'"),
            7,
            "services.orders-api.headers.Authorization",
            "literal credential",
        ),
        (
            ("password: {secret: DB_PASS}", "password: hunter2"),
            17,
            "profiles.db.main.password",
            "literal secret",
        ),
        (
            ("ORDERS_TOKEN: ORDERS_API_TOKEN", "ORDERS_TOKEN: 'value with spaces'"),
            13,
            "secrets.ORDERS_TOKEN",
            "environment variable name",
        ),
        (("region: ${REGION}", "region: ${NOPE}"), 11, "variables.region", "${NOPE} is not set"),
        (("timeoutS: 5", "timeoutS: soon"), 8, "services.orders-api.timeoutS", "valid number"),
        (("timeoutS: 5", "timeout: 5"), 8, "services.orders-api.timeout", "Extra inputs"),
        (("  kafka:", "  mq:"), 18, "profiles.mq", "unknown profile kind"),
        (
            ("bootstrapServers: 'localhost:9092'", "servers: x"),
            19,
            "profiles.kafka.events.bootstrapServers",
            "Field required",
        ),
        (("format: orchestra-environment/1", "format: v2"), 1, "format", "must be"),
        (("plugins:", "plugin:"), 20, "plugin", "unknown key"),
        (
            ("    baseUrl: ${ORDERS_URL:-http://127.0.0.1:8080}\n", ""),
            4,
            "services.orders-api",
            "has no baseUrl",
        ),
    ],
)
def test_environment_file_problems_name_line_and_field(
    change: tuple[str, str], line: int, field: str, fragment: str
) -> None:
    old, new = change
    assert old in ENV
    with pytest.raises(ConfigurationError) as caught:
        parse_environment(ENV.replace(old, new), "env.yaml", environ={"REGION": "eu"})
    err = caught.value
    assert (err.file, err.line, err.field) == ("env.yaml", line, field), str(err)
    assert fragment in err.message, err.message
    assert "s3cr3t" not in str(err) and "hunter2" not in str(err)


def test_environment_file_io_errors(tmp_path: Path) -> None:
    with pytest.raises(Exception) as missing:
        load_environment_file(tmp_path / "none.yaml")
    assert "file not found" in str(missing.value)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        load_environment_file(bad)
    with pytest.raises(ConfigurationError) as syntax:
        parse_environment("services: [", "e.yaml")
    assert syntax.value.file == "e.yaml" and "not valid YAML" in syntax.value.message
