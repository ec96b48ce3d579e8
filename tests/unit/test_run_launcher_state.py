"""The run launcher and the data set editor without a browser: what they send to the services, and a
refusal placed beside the control it names."""

from __future__ import annotations

import pytest

from orchestra_app.domain.errors import ValidationFailed
from orchestra_app.pages import data_sets as data_sets_page
from orchestra_app.pages import runs as runs_page

pytestmark = pytest.mark.unit
SUITE = "00000000-0000-4000-8000-000000000001"
RUN = "00000000-0000-4000-8000-000000000002"
SCENARIO = "00000000-0000-4000-8000-000000000003"


def test_launcher_requests() -> None:
    state = runs_page.RunsState()
    with pytest.raises(ValidationFailed) as exc:
        state._request()
    assert exc.value.field == "suiteId"
    state.l_suite = SUITE
    assert state._request() == {"mode": "RUN_ALL_STEPS", "triggeredBy": "ui", "suiteId": SUITE}
    state.toggle_scenario(SCENARIO, True)
    state.set_l_data_tag("smoke")
    state.l_env = "env-1"
    assert state._request() == {
        "mode": "RUN_ALL_STEPS",
        "triggeredBy": "ui",
        "scenarioIds": [SCENARIO],
        "dataSetTag": "smoke",
        "environmentId": "env-1",
    }
    state.set_l_data_set("ds-1")  # a data set replaces the tag
    assert state._request()["dataSetId"] == "ds-1" and "dataSetTag" not in state._request()
    state.toggle_scenario(SCENARIO, False)
    state.l_mode = "FROM_STEP"
    with pytest.raises(ValidationFailed) as exc:
        state._request()
    assert exc.value.field == "fromRunId"
    state.l_from_run = RUN
    state.l_start_step = "two"
    with pytest.raises(ValidationFailed) as exc:
        state._request()
    assert exc.value.field == "startStepIndex"
    state.l_start_step = " 2 "
    request = state._request()
    assert request["fromRunId"] == RUN and request["startStepIndex"] == 2
    assert "suiteId" not in request  # the past run names its scenario


def test_data_set_editor_body_and_errors_beside_fields() -> None:
    state = data_sets_page.DataSetsState()
    state.f_name, state.f_scope, state.f_suite, state.f_tags = "orders", "SUITE", SUITE, " a, ,b "
    state.f_data = '{"sku": "x"}'
    assert state._body() == {
        "name": "orders",
        "scope": "SUITE",
        "tags": ["a", "b"],
        "data": {"sku": "x"},
        "suiteId": SUITE,
    }
    state.set_syntax(["yaml"])
    assert (state.syntax, state.f_data) == ("yaml", "sku: x\n")
    state.f_data = "sku: [x"
    state.set_syntax("json")  # unparsable text stays as it is, the error beside it
    assert state.syntax == "yaml" and "line" in state.field_errors["data"]
    with pytest.raises(ValidationFailed) as exc:
        state._body()
    state._refusal(exc.value, "save")
    assert list(state.field_errors) == ["data"] and state.form_error == ""
    state._refusal(ValidationFailed("bad tag", field="tags.1"), "save")
    assert state.field_errors == {"tags": "bad tag"}
    state._refusal(ValidationFailed("odd", field="revision"), "save")
    assert state.field_errors == {} and "odd" in state.form_error
