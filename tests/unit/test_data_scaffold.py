"""Data scaffolding: every {{data.*}} a suite needs, with deterministic values from the schemas."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ActionDefinition, EndpointRef, ScenarioStepSpec
from orchestra_app.plugins.data_scaffold import example, scaffold
from orchestra_app.services.data_sets import merge_missing
from orchestra_app.services.file_suite import suite_from_files

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(
    "schema,value,source",
    [
        ({"type": "string", "example": "Ann"}, "Ann", "example"),
        ({"type": "string", "examples": ["Bob", "Carl"]}, "Bob", "example"),
        ({"type": "integer", "default": 7}, 7, "default"),
        ({"const": "FIXED"}, "FIXED", "const"),
        ({"type": "string", "enum": [None, "NEW", "OLD"]}, "NEW", "enum"),
        ({"type": "string", "format": "email"}, "user@example.com", "format"),
        ({"type": "string", "format": "date-time"}, "2026-01-15T10:00:00Z", "format"),
        ({"type": "string", "format": "date"}, "2026-01-15", "format"),
        ({"type": "integer", "minimum": 100, "maximum": 500}, 100, "bounds"),
        ({"type": "integer", "maximum": -5}, -5, "bounds"),
        ({"type": "integer", "minimum": 0, "exclusiveMinimum": True}, 1, "bounds"),  # OpenAPI 3.0 spelling
        ({"type": "number", "exclusiveMinimum": 0}, 1, "bounds"),  # 3.1 spelling
        ({"type": "integer", "minimum": 3, "multipleOf": 5}, 5, "bounds"),
        ({"type": "number"}, 1, "type"),
        ({"type": "boolean"}, True, "type"),
        ({"type": "string", "minLength": 30}, "example-nickname" + "x" * 14, "name"),
        ({"type": "string", "maxLength": 4}, "exam", "name"),
        ({"type": "string", "pattern": "^[A-Z]{3}[0-9]{3}$"}, "ABC123", "pattern"),
        (
            {"type": ["string", "null"], "format": "uuid"},
            str(uuid.uuid5(uuid.UUID("6f1c2b0e-6a53-4c55-9e0a-0c7a0e5d2b11"), "nickname")),
            "format",
        ),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, [1, 1], "type"),
        ({"type": "array", "items": {"type": "integer"}, "maxItems": 0}, [], "type"),
        (
            {
                "type": "object",
                "required": ["a"],
                "properties": {"a": {"type": "string", "enum": ["X"]}, "b": {}},
            },
            {"a": "X"},
            "type",
        ),
    ],
)
def test_values_come_from_the_schema(schema: dict[str, Any], value: Any, source: str) -> None:
    got, got_source, notes = example(schema, None, "nickname")
    assert (got, got_source) == (value, source)
    assert notes == []


def test_unmatchable_pattern_is_reported_not_invented() -> None:
    value, _, notes = example({"type": "string", "pattern": "^[0-9]{4}-[a-z]{9}$"}, None, "code")
    assert value == "example-code" and "fill it in by hand" in notes[0]


@pytest.mark.parametrize(
    "name,value",
    [
        ("customerEmail", "user@example.com"),
        ("order_id", str(uuid.uuid5(uuid.UUID("6f1c2b0e-6a53-4c55-9e0a-0c7a0e5d2b11"), "order_id"))),
        ("startDate", "2026-01-15"),
        ("createdAt", "2026-01-15T10:00:00Z"),
        ("callbackUrl", "https://example.com/callback"),
        ("quantity", 1),
        ("isActive", True),
        ("title", "example-title"),
    ],
)
def test_names_guide_values_without_a_schema(name: str, value: Any) -> None:
    assert example(None, None, name)[0] == value


def test_suite_from_files_scaffolds_every_variable_once() -> None:
    suite = suite_from_files(
        FIXTURES / "binding" / "onboarding.bpmn", [FIXTURES / "binding" / "onboarding-api.yaml"]
    )
    built = scaffold([(s.key, s.steps) for s in suite.scenarios], suite.resolve)
    # applicationId is chained from the submit step's response, so the data set does not need it
    assert built.data == {
        "customerName": "example-customer-name",
        "email": "user@example.com",
        "amount": 100,
        "reason": "customer request",
    }
    by_path = {v.path: v for v in built.variables}
    assert by_path["amount"].source == "bounds" and by_path["reason"].source == "default"
    assert by_path["email"].used_by == [
        "S001/submit_application /json/email",
        "S002/submit_application /json/email",
    ]
    again = scaffold([(s.key, s.steps) for s in suite.scenarios], suite.resolve)
    assert again.data == built.data  # deterministic


def test_nested_lists_unbound_steps_and_clashes() -> None:
    spec = SpecSummary(
        protocol="http",
        format="openapi",
        operations=[
            Operation.model_validate(
                {
                    "id": "createOrder",
                    "method": "post",
                    "path": "/orders",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "type": "object",
                                "properties": {
                                    "items": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "sku": {"type": "string", "pattern": "^SKU-[0-9]+$"}
                                            },
                                        },
                                    }
                                },
                            }
                        }
                    },
                }
            )
        ],
    )
    bound = ScenarioStepSpec(
        alias="create",
        endpoint_ref=EndpointRef(protocol_id="http", service_name="shop", endpoint_name="createOrder"),
        action=ActionDefinition(
            input_template={
                "json": {"items": [{"sku": "{{data.items[0].sku}}"}], "note": "for {{data.customer}}"}
            }
        ),
    )
    unbound = ScenarioStepSpec(
        alias="notify",
        action=ActionDefinition(
            input_template={"json": {"to": "{{data.customer.email}}"}},
            meta={"headers": {"X-Trace": "{{data.traceId}}"}},
        ),
    )

    def resolve(step: ScenarioStepSpec) -> tuple[Operation, SpecSummary] | None:
        return (spec.operations[0], spec) if step.endpoint_ref else None

    built = scaffold([("S001", [bound, unbound])], resolve)
    # no built-in example fits ^SKU-[0-9]+$: the value is marked for the designer, not invented
    assert built.data["items"] == [{"sku": "example-sku"}]
    assert any(n.startswith("data.items[0].sku: no example matches pattern") for n in built.notes)
    assert built.data["customer"] == "example-customer"
    assert "traceId" in built.data
    assert any("customer.email is used both as an object and as a value" in n for n in built.notes)
    assert any("'notify' is not bound" in n for n in built.notes)


def test_merge_keeps_existing_values() -> None:
    existing = {"a": 1, "b": {"c": "mine"}, "items": [{"x": 1}]}
    fresh = {"a": 2, "b": {"c": "new", "d": 4}, "items": [{"x": 9}, {"x": 8}], "e": 5}
    merged, added = merge_missing(existing, fresh)
    assert merged == {"a": 1, "b": {"c": "mine", "d": 4}, "items": [{"x": 1}, {"x": 8}], "e": 5}
    assert added == ["b.d", "items[1]", "e"]


def test_expected_status_placeholders_are_scaffolded() -> None:
    spec = SpecSummary(
        protocol="http",
        format="openapi",
        operations=[
            Operation.model_validate(
                {"id": "create", "method": "post", "path": "/x", "responses": {"201": {}}}
            )
        ],
    )
    step = ScenarioStepSpec(
        alias="create",
        endpoint_ref=EndpointRef(protocol_id="http", service_name="s", endpoint_name="create"),
        expectations={"expectedStatusCode": "{{data.expectedStatus}}"},  # type: ignore[arg-type]
    )
    built = scaffold([("S001", [step])], lambda s: (spec.operations[0], spec))
    assert built.data == {"expectedStatus": 201}
    assert built.variables[0].used_by == ["S001/create /expectations/expectedStatusCode"]


def test_side_effect_steps_meta_variables_are_scaffolded() -> None:
    db_check = ScenarioStepSpec(
        alias="order_row",
        kind="ASSERTION",  # type: ignore[arg-type]
        channel_type="DB",  # type: ignore[arg-type]
        action=ActionDefinition(
            meta={
                "dataSource": "orders",
                "sql": "select status from orders where customer = :customer",
                "params": {"customer": "{{data.customerEmail}}"},
                "chaining": {"/x": {"source": "{{data.ignored}}", "replaces": "{{data.ignored}}"}},
            }
        ),
    )
    built = scaffold([("S001", [db_check])], lambda s: None)
    assert built.data == {"customerEmail": "user@example.com"}
    assert built.variables[0].used_by == ["S001/order_row /meta/params/customer"]
