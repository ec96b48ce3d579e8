"""EndpointMatcher: explicit bindings, similarity with confidence, ambiguity, starter inputTemplates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.spec import MediaBody, Operation, Parameter, SpecSummary
from orchestra_app.domain.steps import ActionDefinition, ScenarioStepSpec
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.http.matcher import HttpEndpointMatcher, skeleton, starter_template
from orchestra_app.plugins.matching import tokens

pytestmark = pytest.mark.unit


def op(op_id: str, method: str, path: str, summary: str | None = None, **extra: Any) -> Operation:
    return Operation(id=op_id, method=method, path=path, summary=summary, **extra)


SPEC = SpecSummary(
    protocol="http",
    format="openapi",
    operations=[
        op("createCustomer", "post", "/customers", "Register a new customer"),
        op("getCustomer", "get", "/customers/{customerId}", "Fetch a customer"),
        op("listOrders", "get", "/orders", "List orders"),
        op("submitOrder", "post", "/orders", "Submit an order"),
        op("getOrder", "get", "/orders/{orderId}", "Get order details"),
        op("cancel_order", "delete", "/orders/{orderId}", "Cancel an order"),
        op("capturePayment", "post", "/payments/{paymentId}/capture", "Capture a payment"),
        op("sendInvoiceEmail", "post", "/invoices/{id}/email"),
        op("sendInvoiceLetter", "post", "/invoices/{id}/letter"),
    ],
)


def step(name: str, alias: str | None = None, **meta: Any) -> ScenarioStepSpec:
    return ScenarioStepSpec(
        alias=alias or name.replace(" ", "_").lower(), name=name, action=ActionDefinition(meta=meta)
    )


def test_tokens_split_case_and_unify_verbs() -> None:
    assert tokens("createCustomerOrder") == ["create", "customer", "order"]
    assert tokens("Add new customer") == ["create", "customer"]
    assert tokens("fetch_orders-by_ID") == ["get", "order", "id"]
    assert tokens("HTTPServerError") == ["http", "server", "error"]
    assert tokens("Retrieving Categories") == ["get", "category"]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("Register customer", "createCustomer"),
        ("Add customer", "createCustomer"),
        ("Read customer", "getCustomer"),
        ("Place order", "submitOrder"),
        ("Cancel order", "cancel_order"),
        ("Browse orders", "listOrders"),
        ("Capture payment", "capturePayment"),
    ],
)
def test_similarity_binds_by_name(name: str, expected: str) -> None:
    [binding] = HttpEndpointMatcher().match([step(name)], SPEC)
    assert (binding.status, binding.operation_id) == ("MATCHED", expected), binding
    assert 0 < binding.confidence <= 1
    assert binding.candidates[0]["operationId"] == expected


def test_explicit_binding_wins() -> None:
    matcher = HttpEndpointMatcher()
    by_id, by_route, missing = matcher.match(
        [
            step("Do something", alias="a", operation="getOrder"),
            step("Do something", alias="b", operation="delete /orders/{orderId}"),
            step("Do something", alias="c", operationId="nope"),
        ],
        SPEC,
    )
    assert (by_id.status, by_id.operation_id, by_id.confidence) == ("EXPLICIT", "getOrder", 1.0)
    assert (by_route.status, by_route.operation_id) == ("EXPLICIT", "cancel_order")
    assert missing.status == "UNMATCHED" and "nope" in missing.reason


def test_designer_override() -> None:
    [binding] = HttpEndpointMatcher().match(
        [step("Register customer", alias="reg")], SPEC, overrides={"reg": "POST /orders"}
    )
    assert (binding.status, binding.operation_id) == ("EXPLICIT", "submitOrder")
    assert "designer override" in binding.reason


def test_ambiguous_and_unmatched() -> None:
    ambiguous, unmatched = HttpEndpointMatcher().match([step("Send invoice"), step("Water the plants")], SPEC)
    assert ambiguous.status == "AMBIGUOUS" and ambiguous.operation_id is None
    assert {c["operationId"] for c in ambiguous.candidates[:2]} == {"sendInvoiceEmail", "sendInvoiceLetter"}
    assert unmatched.status == "UNMATCHED" and unmatched.operation_id is None


def test_bind_sets_endpoint_ref_and_starter_template(fixtures_dir: Path) -> None:
    spec = import_spec(fixtures_dir / "http" / "orders-openapi.yaml")
    matcher = HttpEndpointMatcher()
    original = step("Place new order", alias="place")
    [binding] = matcher.match([original], spec)
    assert binding.operation_id == "createOrder", binding
    bound = matcher.bind(original, binding, spec, "orders")
    assert bound.endpoint_ref is not None
    assert (
        bound.endpoint_ref.protocol_id,
        bound.endpoint_ref.service_name,
        bound.endpoint_ref.endpoint_name,
    ) == ("http", "orders", "createOrder")
    assert bound.action.input_template == {
        "method": "POST",
        "path": "/orders",
        "headers": {"X-Tenant": "{{data.X-Tenant}}"},
        "json": {
            "customerId": "{{data.customerId}}",
            "items": [{"sku": "{{data.items[0].sku}}", "qty": "{{data.items[0].qty}}"}],
        },
    }
    kept = matcher.bind(
        original.model_copy(update={"action": ActionDefinition(input_template={"x": 1})}),
        binding,
        spec,
        "orders",
    )
    assert kept.action.input_template == {"x": 1}  # a designer's template is never overwritten


def test_starter_template_path_params_and_cycles(fixtures_dir: Path) -> None:
    spec = import_spec(fixtures_dir / "http" / "orders-openapi.yaml")
    get_order = next(o for o in spec.operations if o.id == "getOrder")
    assert starter_template(get_order, spec) == {
        "method": "GET",
        "path": "/orders/{orderId}",
        "pathParams": {"orderId": "{{data.orderId}}"},
    }
    node = skeleton({"$ref": "#/components/schemas/Node"}, spec, "")
    assert node == {"name": "{{data.name}}"}
    recursive = SpecSummary(
        protocol="http",
        format="openapi",
        components={
            "schemas": {
                "Loop": {
                    "type": "object",
                    "required": ["self", "id"],
                    "properties": {"id": {"type": "integer"}, "self": {"$ref": "#/components/schemas/Loop"}},
                }
            }
        },
    )
    assert skeleton({"$ref": "#/components/schemas/Loop"}, recursive, "") == {
        "self": "{{data.self}}",
        "id": "{{data.id}}",
    }


def test_starter_template_form_and_depth_cap() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for level in range(10):
        deep = {"type": "object", "required": [f"l{level}"], "properties": {f"l{level}": deep}}
    operation = op(
        "upload",
        "post",
        "/upload",
        parameters=[
            Parameter(name="trace", location="header", required=False),
            Parameter(name="q", location="query", required=True),
        ],
        request_body=MediaBody(required=True, content={"application/x-www-form-urlencoded": deep}),
    )
    template = starter_template(operation, SpecSummary(protocol="http", format="openapi"))
    assert template["query"] == {"q": "{{data.q}}"} and "headers" not in template
    depth, node = 0, template["form"]
    while isinstance(node, dict):
        node = next(iter(node.values()))
        depth += 1
    assert depth == 6 and isinstance(node, str) and node.startswith("{{data.l9.l8")
