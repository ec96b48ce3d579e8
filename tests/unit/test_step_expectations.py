"""StepExpectations.expectedStatusCode (one code, a list, a class), Violation severity, suite defaults."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orchestra_app.domain.steps import (
    ActionDefinition,
    RequestValidation,
    ScenarioStepSpec,
    Severity,
    StepExpectations,
    StepStatus,
    SuiteGeneration,
    Violation,
    ViolationType,
    describe_status_expectation,
    outcome,
    status_matches,
    with_suite_defaults,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (201, 201),
        ("201", 201),
        ([200, 201], [200, 201]),
        (["200", "2xx"], [200, "2XX"]),
        ("2xx", "2XX"),
        (" 4XX ", "4XX"),
        (None, None),
        ("{{data.expected}}", "{{data.expected}}"),
    ],
)
def test_accepted_forms_are_normalised(given: Any, stored: Any) -> None:
    expectations = StepExpectations.model_validate({"expectedStatusCode": given})
    assert expectations.expected_status_code == stored
    again = StepExpectations.model_validate(expectations.to_json_dict())
    assert again.expected_status_code == stored


@pytest.mark.parametrize(
    ("given", "text"),
    [
        (99, "99 is not an HTTP status (100-599)"),
        (600, "600 is not an HTTP status"),
        ("6XX", "neither a status code nor a class"),
        ("2X", "neither a status code nor a class"),
        ("ok", "neither a status code nor a class"),
        (True, "True is not an HTTP status"),
        (200.5, "float 200.5 is not a status"),
        ([], "an empty list expects nothing"),
        ([200, [201]], "expectedStatusCode[1]: lists cannot be nested"),
        ([200, 700], "expectedStatusCode[1]: 700 is not an HTTP status"),
        ({"code": 200}, "dict"),
    ],
)
def test_bad_values_are_refused_naming_the_field(given: Any, text: str) -> None:
    with pytest.raises(ValidationError) as err:
        StepExpectations.model_validate({"expectedStatusCode": given})
    first = err.value.errors()[0]
    assert first["loc"] == ("expectedStatusCode",)
    assert text in first["msg"] and "expectedStatusCode" in first["msg"]


def test_matching_and_description() -> None:
    assert status_matches(201, 201) and not status_matches(201, 200)
    assert status_matches([200, 201], 201) and not status_matches([200, 204], 201)
    assert status_matches("2XX", 204) and not status_matches("2XX", 301)
    assert status_matches([404, "2XX"], 404) and status_matches([404, "2XX"], 299)
    assert describe_status_expectation(201) == "201"
    assert describe_status_expectation([200, 201]) == "200 or 201"
    assert describe_status_expectation([200, 201, "4XX"]) == "200, 201 or 4XX"


def test_rows_stored_before_keep_loading() -> None:
    assert StepExpectations.model_validate({"expectedStatusCode": 200}).expected_status_code == 200
    old = Violation.model_validate({"type": "HTTP_ERROR", "code": "X", "message": "m", "details": {}})
    assert old.severity == Severity.ERROR and old.failing


def test_warnings_do_not_fail_a_step() -> None:
    warning = Violation(type=ViolationType.VALIDATION_ERROR, code="W", message="w", severity=Severity.WARNING)
    error = Violation(type=ViolationType.HTTP_ERROR, code="E", message="e")
    assert outcome([]) == StepStatus.PASSED
    assert outcome([warning]) == StepStatus.PASSED
    assert outcome([warning, error]) == StepStatus.FAILED
    with pytest.raises(ValidationError, match="severity"):
        Violation.model_validate({"type": "HTTP_ERROR", "code": "X", "message": "m", "severity": "info"})


def test_suite_default_fills_only_what_the_step_leaves_unset() -> None:
    suite = SuiteGeneration.model_validate({"requestValidation": "warn"})
    assert suite.request_validation == RequestValidation.WARN
    assert suite.to_json_dict()["requestValidation"] == "warn"
    plain = ScenarioStepSpec(alias="a")
    assert with_suite_defaults(plain, suite).action.meta == {"requestValidation": "warn"}
    assert plain.action.meta == {}  # the original step is not changed
    own = ScenarioStepSpec(alias="b", action=ActionDefinition(meta={"requestValidation": "off", "x": 1}))
    assert with_suite_defaults(own, suite).action.meta == {"requestValidation": "off", "x": 1}
    assert with_suite_defaults(plain, SuiteGeneration()) is plain
    assert with_suite_defaults(plain, None) is plain
    with pytest.raises(ValidationError) as err:
        SuiteGeneration.model_validate({"requestValidation": "sometimes"})
    assert err.value.errors()[0]["loc"] == ("requestValidation",)


def test_storage_refuses_a_bad_expectation_naming_column_and_pointer() -> None:
    import uuid

    from orchestra_app.db import tables as t
    from orchestra_app.db.validation import validate_row
    from orchestra_app.domain.errors import ValidationFailed
    from orchestra_app.domain.steps import ChannelType, StepKind

    def row(expectations: dict[str, Any]) -> t.ScenarioStep:
        return t.ScenarioStep(
            tenant_id=uuid.uuid4(),
            scenario_id=uuid.uuid4(),
            order_index=0,
            alias="a",
            kind=StepKind.ACTION,
            channel_type=ChannelType.HTTP_REST,
            expectations=expectations,
        )

    validate_row(row({"expectedStatusCode": [200, "2XX"]}))
    with pytest.raises(ValidationFailed) as err:
        validate_row(row({"expectedStatusCode": [200, "9XX"]}))
    assert err.value.field == "scenario_step.expectations" and err.value.pointer == "/expectedStatusCode"
    assert "expectedStatusCode[1]" in str(err.value)
