"""`orchestra spec match`: EndpointMatcher verdicts across several specs, with designer overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra_app.cli import app

pytestmark = pytest.mark.unit
APP = Path(__file__).resolve().parents[1] / "fixtures" / "app"
runner = CliRunner()


def _run(*extra: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(
        app,
        [
            "spec",
            "match",
            str(APP / "order.bpmn"),
            str(APP / "orders-api.yaml"),
            str(APP / "payments-api.json"),
            "--json",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_explicit_similar_ambiguous_and_unmatched() -> None:
    out = _run()
    verdicts = {b["node"]: (b["status"], b["service"], b["operation"]) for b in out["bindings"]}
    assert verdicts == {
        "create_order": ("EXPLICIT", "orders-api", "createOrder"),  # orchestra:operation extension
        "charge": ("MATCHED", "payments-api", "chargePayment"),  # across specs, by similarity
        "ship": ("AMBIGUOUS", "", ""),  # createOrder and getOrder tie
        "notify_rejected": ("UNMATCHED", "", ""),
    }
    assert out["summary"] == {"explicit": 1, "matched": 1, "ambiguous": 1, "unmatched": 1}


def test_override_wins_and_strict_exit_code() -> None:
    out = _run("-o", "ship=orders-api:getOrder", "-o", "notify_rejected=POST /refunds")
    verdicts = {b["node"]: (b["status"], b["operation"]) for b in out["bindings"]}
    assert verdicts["ship"] == ("EXPLICIT", "getOrder")
    assert verdicts["notify_rejected"] == ("EXPLICIT", "refundPayment")
    strict = runner.invoke(
        app, ["spec", "match", str(APP / "order.bpmn"), str(APP / "orders-api.yaml"), "--strict"]
    )
    assert strict.exit_code == 1


def test_bad_override_and_bad_file_are_clean_errors(tmp_path: Path) -> None:
    bad = runner.invoke(
        app, ["spec", "match", str(APP / "order.bpmn"), str(APP / "orders-api.yaml"), "-o", "nonsense"]
    )
    assert bad.exit_code == 2 and "expected NODE=service:operationId" in bad.output
    missing = runner.invoke(app, ["spec", "match", str(APP / "order.bpmn"), str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml" in missing.output
    assert "Traceback" not in missing.output
