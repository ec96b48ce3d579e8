"""Step chaining: OpenAPI links, same names, <resource>Id <- id of the creating step; overrides kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestra_app.domain.spec import Operation, SpecSummary
from orchestra_app.domain.steps import ActionDefinition, ScenarioStepSpec, StepKind
from orchestra_app.importers.spec_detect import import_spec
from orchestra_app.plugins.chaining import apply_chaining, existing_links
from orchestra_app.plugins.http.matcher import HttpEndpointMatcher
from orchestra_app.plugins.matching import find_explicit

pytestmark = pytest.mark.unit

SPEC_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "chaining" / "shop-api.yaml"


@pytest.fixture(scope="module")
def spec() -> SpecSummary:
    return import_spec(SPEC_FILE, filename=SPEC_FILE.name)


def bound(spec: SpecSummary, alias: str, operation: str, **meta: Any) -> ScenarioStepSpec:
    matcher = HttpEndpointMatcher()
    step = ScenarioStepSpec(
        alias=alias, name=alias, action=ActionDefinition(meta={"operation": operation, **meta})
    )
    [verdict] = matcher.match([step], spec)
    return matcher.bind(step, verdict, spec, "shop")


def resolver(spec: SpecSummary):  # type: ignore[no-untyped-def]
    def resolve(step: ScenarioStepSpec) -> tuple[Operation, SpecSummary] | None:
        if step.endpoint_ref is None:
            return None
        op = find_explicit(step.endpoint_ref.endpoint_name, spec.operations)
        return (op, spec) if op else None

    return resolve


def scenario(spec: SpecSummary) -> list[ScenarioStepSpec]:
    return [
        bound(spec, "create_order", "createOrder"),
        bound(spec, "get_order", "getOrder"),
        bound(spec, "charge", "chargePayment"),
        bound(spec, "refund", "refundPayment"),
        bound(spec, "ship", "createShipment"),
    ]


def test_links_names_and_created_ids_are_wired(spec: SpecSummary) -> None:
    steps = apply_chaining(scenario(spec), resolver(spec))
    by = {s.alias: s for s in steps}
    assert by["create_order"].action.input_template["json"] == {
        "sku": "{{data.sku}}",
        "quantity": "{{data.quantity}}",
        "customerId": "{{data.customerId}}",
    }
    assert "chaining" not in by["create_order"].action.meta

    get_order = existing_links(by["get_order"])["/pathParams/orderId"]
    assert (
        by["get_order"].action.input_template["pathParams"]["orderId"]
        == "{{step.create_order.response.body.id}}"
    )
    assert (get_order.confidence, get_order.replaces) == (1.0, "{{data.orderId}}")
    assert "OpenAPI link 'GetOrderById'" in get_order.reason

    charge = by["charge"].action.input_template["json"]
    assert charge == {"orderId": "{{step.create_order.response.body.id}}", "amount": "{{data.amount}}"}
    link = existing_links(by["charge"])["/json/orderId"]
    assert link.step == "create_order" and "creates" in link.reason and 0.6 <= link.confidence < 1

    refund = existing_links(by["refund"])["/pathParams/paymentId"]
    assert refund.source == "{{step.charge.response.body.paymentId}}" and refund.confidence == 0.9

    ship = by["ship"].action.input_template["json"]
    # order.id reads as orderId; "priority" has the same name but a string cannot feed an integer body field
    assert ship == {
        "order": {"id": "{{step.create_order.response.body.id}}"},
        "priority": "{{data.priority}}",
    }


def test_chaining_is_idempotent(spec: SpecSummary) -> None:
    once = apply_chaining(scenario(spec), resolver(spec))
    twice = apply_chaining(once, resolver(spec))
    assert [s.action for s in once] == [s.action for s in twice]


def test_nearest_earlier_step_wins_a_tie(spec: SpecSummary) -> None:
    steps = [
        bound(spec, "first", "createOrder"),
        bound(spec, "second", "createOrder"),
        bound(spec, "charge", "chargePayment"),
    ]
    chained = apply_chaining(steps, resolver(spec))
    assert chained[2].action.input_template["json"]["orderId"] == "{{step.second.response.body.id}}"
    # a same-named field of an earlier response is proposed (customerId <- customerId): a proposal
    # the designer can override
    assert chained[1].action.input_template["json"]["customerId"] == "{{step.first.response.body.customerId}}"


def test_designer_override_is_kept(spec: SpecSummary) -> None:
    chained = apply_chaining(scenario(spec), resolver(spec))
    charge = chained[2]
    meta = dict(charge.action.meta)
    meta["chaining"] = {
        **meta["chaining"],
        "/json/orderId": {"source": None, "replaces": "{{data.orderId}}", "overridden": True},
        "/json/amount": {
            "source": "{{step.get_order.response.body.total}}",
            "replaces": "{{data.amount}}",
            "overridden": True,
        },
    }
    edited = charge.model_copy(update={"action": charge.action.model_copy(update={"meta": meta})})
    again = apply_chaining([*chained[:2], edited, *chained[3:]], resolver(spec))
    assert again[2].action.input_template["json"] == {
        "orderId": "{{data.orderId}}",
        "amount": "{{step.get_order.response.body.total}}",
    }
    links = existing_links(again[2])
    assert links["/json/orderId"].overridden and links["/json/orderId"].source is None


def test_unbound_and_assertion_steps_are_not_sources(spec: SpecSummary) -> None:
    create = bound(spec, "create_order", "createOrder")
    check = create.model_copy(update={"alias": "check", "kind": StepKind.ASSERTION})
    unbound = ScenarioStepSpec(alias="manual", name="manual")
    chained = apply_chaining([check, unbound, bound(spec, "charge", "chargePayment")], resolver(spec))
    assert chained[2].action.input_template["json"]["orderId"] == "{{data.orderId}}"
    assert "chaining" not in chained[2].action.meta


def test_hand_edited_inputs_are_left_alone(spec: SpecSummary) -> None:
    create, charge = bound(spec, "create_order", "createOrder"), bound(spec, "charge", "chargePayment")
    template = {**charge.action.input_template, "json": {"orderId": "o-{{data.orderId}}", "amount": 5}}
    charge = charge.model_copy(
        update={"action": charge.action.model_copy(update={"input_template": template})}
    )
    chained = apply_chaining([create, charge], resolver(spec))
    assert chained[1].action.input_template["json"] == {"orderId": "o-{{data.orderId}}", "amount": 5}


def test_the_step_that_created_a_resource_outranks_a_same_named_field() -> None:
    def op(
        op_id: str, method: str, path: str, response: dict[str, Any], body: dict[str, Any] | None = None
    ) -> Operation:
        data: dict[str, Any] = {
            "id": op_id,
            "method": method,
            "path": path,
            "responses": {
                "200": {"content": {"application/json": {"type": "object", "properties": response}}}
            },
        }
        if body is not None:
            data["requestBody"] = {
                "content": {
                    "application/json": {"type": "object", "required": list(body), "properties": body}
                }
            }
        if "{" in path:
            name = path.split("{")[1].split("}")[0]
            data["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            ]
        return Operation.model_validate(data)

    text = {"type": "string"}
    spec = SpecSummary(
        protocol="http",
        format="openapi",
        operations=[
            op("createOrder", "post", "/orders", {"id": text, "paymentId": text}),
            op("authorisePayment", "post", "/payments", {"id": text}),  # "payment" is also a verb synonym
            op("markOrderPaid", "post", "/orders/{orderId}/paid", {"id": text}, {"paymentId": text}),
        ],
    )
    steps = [
        bound(spec, "create_order", "createOrder"),
        bound(spec, "authorise", "authorisePayment"),
        bound(spec, "mark_paid", "markOrderPaid"),
    ]
    chained = apply_chaining(steps, resolver(spec))
    links = existing_links(chained[2])
    assert links["/json/paymentId"].source == "{{step.authorise.response.body.id}}"
    assert links["/json/paymentId"].confidence == 0.92 and "creates" in links["/json/paymentId"].reason
    # /orders/{orderId}/paid acts on orders: the order id comes from the step that created the order
    assert links["/pathParams/orderId"].source == "{{step.create_order.response.body.id}}"
