"""Structured logs and error ids (issue 7 item 12): JSON lines with the seed's correlation fields, an
unexpected exception logged once with its traceback under an id the user is shown instead."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra_app.cli import app
from orchestra_app.cli import process as process_cli
from orchestra_app.observability.logging import (
    JsonFormatter,
    configure_logging,
    fields,
    log_context,
    report_unexpected,
)

pytestmark = pytest.mark.unit
ORDER = Path(__file__).resolve().parents[1] / "fixtures" / "app" / "order.bpmn"


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("orchestra")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_records_are_json_with_correlation_fields(captured: io.StringIO) -> None:
    log = logging.getLogger("orchestra.test")
    log.setLevel(logging.INFO)
    with log_context(tenant_id="t-1", run_id="r-9"):
        log.info("step %s done", "charge", extra=fields(scenario_id="s-3", step_alias="charge"))
    log.info("outside")
    first, second = _json_lines(captured)
    assert (
        first["message"] == "step charge done"
        and first["level"] == "INFO"
        and first["logger"] == "orchestra.test"
    )
    assert (first["tenantId"], first["runId"], first["scenarioId"], first["stepAlias"]) == (
        "t-1",
        "r-9",
        "s-3",
        "charge",
    )
    assert str(first["timestamp"]).endswith("+00:00") and "T" in str(first["timestamp"])
    assert "tenantId" not in second


def test_unexpected_error_is_logged_once_with_traceback_under_its_id(captured: io.StringIO) -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        error_id = report_unexpected(exc, where="a test", tenant_id="t-1")
    [record] = _json_lines(captured)
    assert record["errorId"] == error_id and record["level"] == "ERROR" and record["tenantId"] == "t-1"
    assert "Traceback" in str(record["exception"]) and "KeyError" in str(record["exception"])
    assert len(error_id) == 12


def test_cli_shows_an_id_and_logs_the_traceback(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("deep inside")

    monkeypatch.setattr(process_cli, "import_process", broken)
    result = CliRunner().invoke(app, ["process", "import", str(ORDER), "--json"])
    assert result.exit_code == 2
    line = json.loads(result.stdout)
    assert line["kind"] == "internal" and f"unexpected error (id {line['id']})" in line["error"]
    assert "deep inside" not in result.stdout and "Traceback" not in result.stdout
    [record] = _json_lines(captured)
    assert record["errorId"] == line["id"] and "ZeroDivisionError: deep inside" in str(record["exception"])


def test_configure_logging_formats_the_root_handlers_as_json() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    try:
        root.handlers = [plain]
        configure_logging(level="DEBUG")
        logging.getLogger("orchestra_app.services.x").debug("hello %d", 1, extra=fields(run_id="r"))
        [record] = _json_lines(stream)
        assert (record["message"], record["runId"], record["logger"]) == (
            "hello 1",
            "r",
            "orchestra_app.services.x",
        )
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        for name in ("orchestra", "orchestra_app", "executor", "state"):
            logging.getLogger(name).setLevel(logging.NOTSET)
