"""What a worker stores for a step: jsonb-safe text (no NaN, no NUL) in the StepResultPayload shape."""

from __future__ import annotations

import json
import math
import uuid

import pytest

from orchestra_app.domain.runs import RunMode, RunSnapshot
from orchestra_app.domain.steps import StepResultData, StepResultPayload, StepStatus
from orchestra_app.engine.events import StepFinished
from orchestra_app.services.run_store import ClaimedRun, RunWriter, _json_text

pytestmark = pytest.mark.unit


def test_json_text_keeps_ordinary_values_and_replaces_what_jsonb_refuses() -> None:
    assert json.loads(_json_text({"a": [1, "x", None, 2.5]})) == {"a": [1, "x", None, 2.5]}
    text = _json_text({"nan": math.nan, "inf": [math.inf], "nul": "a\x00b", "ok": 1})
    decoded = json.loads(text)  # strict JSON: json.loads would have read NaN back as a float
    assert decoded == {"nan": "nan", "inf": ["inf"], "nul": "a\\u0000b", "ok": 1}
    assert "\x00" not in text and "NaN" not in text


def test_stored_payload_has_the_validated_shape() -> None:
    claimed = ClaimedRun(
        run_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        scenario_id=uuid.uuid4(),
        worker_id="w",
        attempt=1,
        seq_start=1,
        mode=RunMode.RUN_ALL_STEPS,
        start_index=0,
        snapshot=RunSnapshot(),
    )
    writer = RunWriter.__new__(RunWriter)
    writer.claimed = claimed
    result = StepResultData(
        step_alias="get",
        status=StepStatus.PASSED,
        actual_status_code=200,
        response_body={"id": "o-1"},
        response_headers={"content-type": "application/json"},
        request={"method": "GET", "url": "http://x/orders/o-1"},
    )
    event = StepFinished(run_id=claimed.run_id, seq=5, order_index=0, alias="get", result=result)
    row = writer._row(event)
    payload = StepResultPayload.model_validate(json.loads(_json_text(row["payload"])))
    assert payload.response_body == {"id": "o-1"} and payload.request["method"] == "GET"
    assert row["seq"] == 5 and row["attempt"] == 1 and row["run_id"] == claimed.run_id
