"""Every fault switch of the demo shop produces its documented deviation (HTTP, table, Kafka or RabbitMQ).

HTTP-level faults are observed through Orchestra's own HTTP plugin, so the test also pins the
violation type a run reports; table, Kafka and RabbitMQ faults are observed on the real stores.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from orchestra_app.domain.steps import (
    ActionDefinition,
    EndpointRef,
    ExecutionContext,
    ScenarioStepSpec,
    StepExpectations,
    StepResultData,
    StepStatus,
)
from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
from orchestra_app.plugins.registry import default_registry
from tests.fixtures.shop import (
    CARD_OK,
    AmqpTap,
    KafkaTap,
    RunningShop,
    amqp_url,
    authorise,
    delete_amqp,
    delete_topic,
    kafka_bootstrap,
    place_order,
    running_shop,
    stays_false,
    wait_for,
)
from tests.integration.shop_conftest import engine_for, load_specs, module_database, rows

pytestmark = pytest.mark.integration

TOPIC = f"shop.orders.faults-{uuid.uuid4().hex[:8]}"
EXCHANGE = f"shop.payments.faults-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def shop_db_url(pg_url: str) -> Iterator[str]:
    yield from module_database(pg_url)


@pytest.fixture(scope="module")
def shop_db(shop_db_url: str) -> Iterator[sa.Engine]:
    yield from engine_for(shop_db_url)


@pytest.fixture(scope="module")
def shop(shop_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    args = ["--order-port", "0", "--payment-port", "0", "--inventory-port", "0", "--db-url", shop_db_url]
    bootstrap = os.environ.get("ORCHESTRA_TEST_KAFKA_BOOTSTRAP")
    amqp = os.environ.get("ORCHESTRA_TEST_AMQP_URL")
    if bootstrap:
        args += ["--kafka-bootstrap", bootstrap, "--kafka-topic", TOPIC]
    if amqp:
        args += ["--amqp-url", amqp, "--amqp-exchange", EXCHANGE, "--amqp-queue", ""]
    with running_shop(args, tmp_path_factory.mktemp("shop")) as running:
        yield running
    if bootstrap:
        delete_topic(bootstrap, TOPIC)
    if amqp:
        delete_amqp(amqp, EXCHANGE, None)


@pytest.fixture(autouse=True)
def clean_faults(shop: RunningShop) -> Iterator[None]:
    shop.reset_faults()
    yield
    shop.reset_faults()


@pytest.fixture(scope="module")
def environment(shop: RunningShop) -> Iterator[ExecutionEnvironment]:
    specs = load_specs()
    env = ExecutionEnvironment(
        services={name: {"baseUrl": shop.ready["services"][name]["url"], "timeoutS": 10} for name in specs},
        specs=specs,
    )
    yield env
    env.close()


@pytest.fixture(scope="module")
def kafka(shop: RunningShop) -> Iterator[KafkaTap]:
    tap = KafkaTap(kafka_bootstrap(), TOPIC)
    yield tap
    tap.close()


@pytest.fixture(scope="module")
def rabbit(shop: RunningShop) -> Iterator[AmqpTap]:
    tap = AmqpTap(amqp_url(), EXCHANGE)
    yield tap
    tap.close()


def run_step(
    env: ExecutionEnvironment,
    service: str,
    operation: str,
    template: dict[str, Any],
    *,
    expected: int | None = None,
    rules: Any = None,
) -> StepResultData:
    step = ScenarioStepSpec(
        alias=operation,
        name=operation,
        endpoint_ref=EndpointRef(protocol_id="http", service_name=service, endpoint_name=operation),
        action=ActionDefinition(input_template=template),
        expectations=StepExpectations(expected_status_code=expected, business_rules=rules or []),
    )
    plugin = default_registry().plugin_for(step.channel_type)
    return plugin.execute(step, StepRunContext(env, ExecutionContext(variables={"data": {}})))


CREATE = {
    "method": "POST",
    "path": "/orders",
    "json": {"customerId": "cust-faults", "items": [{"sku": "SKU-1001", "quantity": 2}]},
}


def kinds(result: StepResultData) -> set[tuple[str, str]]:
    return {(str(v.type), v.code) for v in result.violations}


def test_healthy_create_order_step_passes(environment: ExecutionEnvironment) -> None:
    result = run_step(environment, "orders", "createOrder", CREATE, expected=201)
    assert result.status == StepStatus.PASSED, result.violations


def test_wrong_status_200_is_http_error_and_undeclared_status(
    shop: RunningShop, environment: ExecutionEnvironment
) -> None:
    shop.fault("orders", "wrong_status")
    result = run_step(environment, "orders", "createOrder", CREATE, expected=201)
    assert kinds(result) == {("HTTP_ERROR", "UNEXPECTED_STATUS"), ("CONTRACT_VIOLATION", "UNDECLARED_STATUS")}
    assert result.actual_status_code == 200


def test_wrong_status_500_is_http_error(shop: RunningShop, environment: ExecutionEnvironment) -> None:
    shop.fault("orders", "wrong_status", status=500)
    result = run_step(environment, "orders", "createOrder", CREATE, expected=201)
    assert kinds(result) == {("HTTP_ERROR", "UNEXPECTED_STATUS")}
    unchecked = run_step(environment, "orders", "createOrder", CREATE)
    assert kinds(unchecked) == {("HTTP_ERROR", "HTTP_SERVER_ERROR")}


@pytest.mark.parametrize(
    ("service", "operation", "template", "field"),
    [
        ("orders", "createOrder", CREATE, "totalAmount"),
        (
            "inventory",
            "getStockLevel",
            {"method": "GET", "path": "/stock/{sku}", "pathParams": {"sku": "SKU-1003"}},
            "available",
        ),
    ],
)
def test_missing_field_is_a_contract_violation(
    shop: RunningShop,
    environment: ExecutionEnvironment,
    service: str,
    operation: str,
    template: dict[str, Any],
    field: str,
) -> None:
    shop.fault(service, "missing_field")
    result = run_step(environment, service, operation, template)
    assert kinds(result) == {("CONTRACT_VIOLATION", "RESPONSE_SCHEMA_MISMATCH")}
    assert field in result.violations[0].message
    assert field not in result.response_body


def test_missing_field_of_another_operation(shop: RunningShop, environment: ExecutionEnvironment) -> None:
    shop.fault("orders", "missing_field", operation="getOrder", field="status")
    created = run_step(environment, "orders", "createOrder", CREATE, expected=201)
    assert created.status == StepStatus.PASSED  # only getOrder is broken
    order_id = created.response_body["id"]
    fetched = run_step(
        environment,
        "orders",
        "getOrder",
        {"method": "GET", "path": "/orders/{orderId}", "pathParams": {"orderId": order_id}},
    )
    assert kinds(fetched) == {("CONTRACT_VIOLATION", "RESPONSE_SCHEMA_MISMATCH")}
    assert "status" in fetched.violations[0].message


def test_slow_response_is_a_timeout(shop: RunningShop, environment: ExecutionEnvironment) -> None:
    shop.fault("payments", "slow_response", delayMs=3000, operation="getPaymentStatus")
    fast_env = ExecutionEnvironment(
        services={"payments": {"baseUrl": shop.ready["services"]["payments"]["url"], "timeoutS": 1}},
        specs=environment.specs,
    )
    try:
        template = {
            "method": "GET",
            "path": "/payments/{paymentId}",
            "pathParams": {"paymentId": str(uuid.uuid4())},
        }
        result = run_step(fast_env, "payments", "getPaymentStatus", template)
    finally:
        fast_env.close()
    assert kinds(result) == {("TIMEOUT", "READ_TIMEOUT")}


def test_slow_inventory_makes_create_order_unavailable(shop: RunningShop, shop_db: sa.Engine) -> None:
    """A peer slower than the order service's timeout (5 s) becomes a 503, and nothing is stored."""
    count = rows(shop_db, "SELECT count(*) AS n FROM orders.orders")[0]["n"]
    shop.fault("inventory", "slow_response", operation="reserveStock", delayMs=6000)
    response = place_order(shop)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "INVENTORY_UNAVAILABLE"
    assert rows(shop_db, "SELECT count(*) AS n FROM orders.orders")[0]["n"] == count


def test_wrong_total_is_a_business_rule_violation(
    shop: RunningShop, environment: ExecutionEnvironment, shop_db: sa.Engine
) -> None:
    rule = {"path": "$.body.totalAmount", "equals": 54.7, "message": "2 x 24.90 + 4.90 shipping"}
    assert (
        run_step(environment, "orders", "createOrder", CREATE, expected=201, rules=rule).status
        == StepStatus.PASSED
    )
    shop.fault("orders", "wrong_total")
    result = run_step(environment, "orders", "createOrder", CREATE, expected=201, rules=rule)
    assert {str(v.type) for v in result.violations} == {"BUSINESS_RULE_VIOLATION"}
    stored = rows(
        shop_db,
        "SELECT total_amount, shipping_amount FROM orders.orders WHERE id = :id",
        id=result.response_body["id"],
    )
    assert [(float(r["total_amount"]), float(r["shipping_amount"])) for r in stored] == [(49.8, 4.9)]


def test_order_row_missing(shop: RunningShop, shop_db: sa.Engine) -> None:
    shop.fault("orders", "row_missing")
    response = place_order(shop)
    assert response.status_code == 201
    order = response.json()
    assert rows(shop_db, "SELECT id FROM orders.orders WHERE id = :id", id=order["id"]) == []
    assert rows(
        shop_db, "SELECT order_id FROM inventory.reservations WHERE order_id = :id", id=order["id"]
    ) == [{"order_id": order["id"]}]
    assert shop.client.get(shop.url("orders", f"/orders/{order['id']}")).status_code == 404


def test_payment_row_missing(shop: RunningShop, shop_db: sa.Engine) -> None:
    order = place_order(shop).json()
    shop.fault("payments", "row_missing")
    response = authorise(shop, order)
    assert response.status_code == 201
    assert rows(shop_db, "SELECT id FROM payments.payments WHERE order_id = :id", id=order["id"]) == []
    assert rows(
        shop_db, "SELECT outcome FROM payments.payment_attempts WHERE order_id = :id", id=order["id"]
    ) == [{"outcome": "AUTHORISED"}]


def test_stock_not_released(shop: RunningShop, shop_db: sa.Engine) -> None:
    def reserved() -> int:
        return int(
            rows(shop_db, "SELECT reserved FROM inventory.stock_items WHERE sku = 'SKU-1003'")[0]["reserved"]
        )

    before = reserved()
    order = place_order(shop, [{"sku": "SKU-1003", "quantity": 3}]).json()
    shop.fault("inventory", "stock_not_released")
    cancelled = shop.client.post(shop.url("orders", f"/orders/{order['id']}/cancel"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert rows(
        shop_db, "SELECT status FROM inventory.reservations WHERE order_id = :id", id=order["id"]
    ) == [{"status": "RELEASED"}]
    assert reserved() == before + 3  # the deviation: the stock stays held


# ---- Kafka -------------------------------------------------------------------------------------------


def test_event_not_published(shop: RunningShop, kafka: KafkaTap) -> None:
    shop.fault("orders", "event_not_published")
    silent = place_order(shop).json()
    shop.reset_faults()
    control = place_order(shop).json()
    wait_for(lambda: kafka.find(control["id"], "OrderCreated"), what="the control order's event")
    stays_false(lambda: kafka.find(silent["id"]), during=2)


def test_event_not_published_for_one_type_only(shop: RunningShop, kafka: KafkaTap) -> None:
    shop.fault("orders", "event_not_published", eventType="OrderCancelled")
    order = place_order(shop).json()
    shop.client.post(shop.url("orders", f"/orders/{order['id']}/cancel"))
    wait_for(lambda: kafka.find(order["id"], "OrderCreated"), what="OrderCreated")
    shop.reset_faults()
    control = place_order(shop).json()
    wait_for(lambda: kafka.find(control["id"], "OrderCreated"), what="the control order's event")
    stays_false(lambda: kafka.find(order["id"], "OrderCancelled"), during=2)


@pytest.mark.parametrize(
    ("field", "check"), [("totalAmount", "x100"), ("status", "other"), ("customerId", "other")]
)
def test_event_wrong_field(shop: RunningShop, kafka: KafkaTap, field: str, check: str) -> None:
    shop.fault("orders", "event_wrong_field", field=field)
    order = place_order(shop).json()
    event = wait_for(lambda: kafka.find(order["id"], "OrderCreated"), what="OrderCreated")[0]["value"]
    if check == "x100":
        assert event[field] == pytest.approx(order[field] * 100)
    else:
        assert event[field] != order[field]
    untouched = {"orderId", "eventType", "currency"}
    assert all(
        event[k] == {"orderId": order["id"], "eventType": "OrderCreated", "currency": "EUR"}[k]
        for k in untouched
    )


def test_event_late(shop: RunningShop, kafka: KafkaTap) -> None:
    shop.fault("orders", "event_late", delayMs=4000)
    order = place_order(shop).json()
    stays_false(lambda: kafka.find(order["id"]), during=2)  # a 2 s assertion would time out here
    late = wait_for(lambda: kafka.find(order["id"], "OrderCreated"), timeout=60, what="the late event")
    assert late[0]["value"]["totalAmount"] == order["totalAmount"]


# ---- RabbitMQ ----------------------------------------------------------------------------------------


def test_message_not_published(shop: RunningShop, rabbit: AmqpTap) -> None:
    silent = place_order(shop).json()
    shop.fault("payments", "message_not_published")
    authorise(shop, silent)
    shop.reset_faults()
    control = place_order(shop).json()
    authorise(shop, control)
    wait_for(lambda: rabbit.find(control["id"], "PaymentAuthorised"), what="the control payment's message")
    stays_false(lambda: rabbit.find(silent["id"]), during=2)


def test_message_wrong_correlation(shop: RunningShop, rabbit: AmqpTap) -> None:
    order = place_order(shop).json()
    shop.fault("payments", "message_wrong_correlation")
    payment = authorise(shop, order).json()
    by_payment = wait_for(lambda: rabbit.find(payment["id"], "PaymentAuthorised"), what="the message")
    assert by_payment[0]["body"]["orderId"] == order["id"]
    assert rabbit.find(order["id"]) == []


def test_message_late(shop: RunningShop, rabbit: AmqpTap) -> None:
    order = place_order(shop).json()
    shop.fault("payments", "message_late", delayMs=4000, messageType="PaymentAuthorised")
    authorise(shop, order)
    stays_false(lambda: rabbit.find(order["id"]), during=2)
    wait_for(lambda: rabbit.find(order["id"], "PaymentAuthorised"), timeout=60, what="the late message")


# ---- the admin endpoint ----------------------------------------------------------------------------


def test_admin_lists_faults_with_their_violation(shop: RunningShop) -> None:
    listing = shop.client.get(shop.ready["services"]["orders"]["admin"]).json()
    names = {f["name"]: f for f in listing["faults"]}
    assert set(names) == {
        "wrong_status",
        "missing_field",
        "slow_response",
        "wrong_total",
        "row_missing",
        "event_not_published",
        "event_wrong_field",
        "event_late",
    }
    assert names["event_late"]["params"] == {"eventType": "*", "delayMs": 15000}
    assert "KAFKA_MESSAGE_NOT_FOUND" in names["event_not_published"]["violation"]
    state = shop.fault("orders", "slow_response", delayMs=10, operation="*")
    assert state["enabled"] is True and state["params"] == {"operation": "*", "delayMs": 10}
    off = shop.fault("orders", "slow_response", enabled=False)
    assert off["enabled"] is False and off["params"]["delayMs"] == 5000


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        ({"name": "no_such_fault"}, 404, "UNKNOWN_FAULT", "wrong_status"),
        ({"name": "slow_response", "params": {"delayMs": "soon"}}, 422, "INVALID_FAULT_PARAMS", "delayMs"),
        ({"name": "slow_response", "params": {"delayMs": -5}}, 422, "INVALID_FAULT_PARAMS", "negative"),
        ({"name": "slow_response", "params": {"delay": 5}}, 422, "INVALID_FAULT_PARAMS", "delayMs"),
        ({"name": "wrong_status", "params": {"status": True}}, 422, "INVALID_FAULT_PARAMS", "status"),
        ({"name": "wrong_status", "enabled": "yes"}, 422, "VALIDATION_FAILED", "enabled"),
        ({"name": "wrong_status", "params": [1]}, 422, "VALIDATION_FAILED", "params"),
        ({"enabled": True}, 422, "VALIDATION_FAILED", "name"),
        ({"name": "wrong_status", "extra": 1}, 422, "VALIDATION_FAILED", "extra"),
        ("not json", 400, "MALFORMED_JSON", "JSON"),
    ],
)
def test_admin_rejects_bad_requests(
    shop: RunningShop, body: Any, status: int, code: str, mentions: str
) -> None:
    admin = shop.ready["services"]["orders"]["admin"]
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = shop.client.post(admin, content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert mentions in response.json()["error"]["message"]
    assert shop.client.get(admin).json()["faults"] and all(
        not f["enabled"] for f in shop.client.get(admin).json()["faults"]
    )  # nothing was switched on by a refused request


def test_faults_stay_in_their_service(shop: RunningShop) -> None:
    shop.fault("payments", "wrong_status", status=500, operation="*")
    order = place_order(shop)
    assert order.status_code == 201  # the order service is untouched
    assert authorise(shop, order.json(), CARD_OK).status_code == 500
    assert shop.client.get(shop.url("payments", "/health")).status_code == 500  # "*": every operation
    assert shop.client.get(shop.url("inventory", "/health")).status_code == 200
