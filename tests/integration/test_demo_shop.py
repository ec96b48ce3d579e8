"""The demo shop (examples/shop) as a real system: flows, tables, events, idempotency, bad input, contract."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import sqlalchemy as sa
import yaml

from tests.fixtures.shop import (
    CARD_DECLINED,
    CARD_OK,
    CARD_TRANSIENT,
    ROOT,
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
    wait_for,
)
from tests.integration.shop_conftest import (
    ContractChecker,
    Recorder,
    assert_conforms,
    engine_for,
    module_database,
    rows,
)

pytestmark = pytest.mark.integration

TOPIC = f"shop.orders.test-{uuid.uuid4().hex[:8]}"
EXCHANGE = f"shop.payments.test-{uuid.uuid4().hex[:8]}"
AUDIT_QUEUE = f"{EXCHANGE}.audit"


@pytest.fixture(scope="module")
def shop_db_url(pg_url: str) -> Iterator[str]:
    yield from module_database(pg_url)


@pytest.fixture(scope="module")
def shop_db(shop_db_url: str) -> Iterator[sa.Engine]:
    yield from engine_for(shop_db_url)


@pytest.fixture(scope="module")
def checker() -> ContractChecker:
    return ContractChecker()


@pytest.fixture(scope="module")
def shop(shop_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    """One shop on PostgreSQL for the module; Kafka and RabbitMQ when the test services provide them."""
    args = ["--order-port", "0", "--payment-port", "0", "--inventory-port", "0", "--db-url", shop_db_url]
    bootstrap = os.environ.get("ORCHESTRA_TEST_KAFKA_BOOTSTRAP")
    amqp = os.environ.get("ORCHESTRA_TEST_AMQP_URL")
    if bootstrap:
        args += ["--kafka-bootstrap", bootstrap, "--kafka-topic", TOPIC]
    if amqp:
        args += ["--amqp-url", amqp, "--amqp-exchange", EXCHANGE, "--amqp-queue", AUDIT_QUEUE]
    with running_shop(args, tmp_path_factory.mktemp("shop")) as running:
        yield running
    if bootstrap:
        delete_topic(bootstrap, TOPIC)
    if amqp:
        delete_amqp(amqp, EXCHANGE, AUDIT_QUEUE)


@pytest.fixture
def recorder(shop: RunningShop, checker: ContractChecker) -> Iterator[Recorder]:
    """Every response a test sees must conform to the shop's own OpenAPI files."""
    recording = Recorder()
    shop.client.event_hooks["response"] = [recording]
    yield recording
    shop.client.event_hooks["response"] = []
    assert_conforms(checker, recording.responses)


def test_happy_flow_with_retry_writes_every_table(
    shop: RunningShop, shop_db: sa.Engine, recorder: Recorder
) -> None:
    stock_before = rows(
        shop_db, "SELECT on_hand, reserved FROM inventory.stock_items WHERE sku = 'SKU-1002'"
    )[0]
    created = place_order(
        shop,
        [{"sku": "SKU-1001", "quantity": 1}, {"sku": "SKU-1002", "quantity": 1}],
        **{"X-Correlation-Id": "corr-happy-1"},
    )
    assert created.status_code == 201, created.text
    order = created.json()
    assert created.headers["x-correlation-id"] == "corr-happy-1"
    assert created.headers["location"] == f"/order-api/v1/orders/{order['id']}"
    assert order["status"] == "PENDING_PAYMENT"
    assert (order["subtotalAmount"], order["shippingAmount"], order["totalAmount"]) == (83.9, 0.0, 83.9)
    assert [i["lineTotal"] for i in order["items"]] == [24.9, 59.0]

    reservation = shop.client.get(shop.url("inventory", f"/reservations/{order['reservationId']}")).json()
    assert reservation["status"] == "RESERVED" and reservation["orderId"] == order["id"]

    key = f"pay-{order['id']}"
    first = authorise(shop, order, CARD_TRANSIENT, key)
    assert first.status_code == 503, first.text
    assert first.headers["retry-after"] == "1"
    assert first.json()["error"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    second = authorise(shop, order, CARD_TRANSIENT, key)  # the bounded retry of the BPMN loop
    assert second.status_code == 201, second.text
    payment = second.json()
    assert payment["status"] == "AUTHORISED" and payment["amount"] == 83.9 and payment["cardLast4"] == "0119"

    confirmed = shop.client.post(shop.url("inventory", f"/reservations/{order['reservationId']}/confirm"))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "CONFIRMED"
    captured = shop.client.post(shop.url("payments", f"/payments/{payment['id']}/capture"))
    assert captured.status_code == 200 and captured.json()["status"] == "CAPTURED"
    paid = shop.client.post(
        shop.url("orders", f"/orders/{order['id']}/pay"), json={"paymentId": payment["id"]}
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "PAID" and paid.json()["paymentId"] == payment["id"]
    again = shop.client.post(
        shop.url("orders", f"/orders/{order['id']}/pay"), json={"paymentId": payment["id"]}
    )
    assert again.status_code == 200 and again.json()["updatedAt"] == paid.json()["updatedAt"]

    fetched = shop.client.get(shop.url("orders", f"/orders/{order['id']}")).json()
    assert fetched["status"] == "PAID" and fetched["correlationId"] == "corr-happy-1"
    listed = shop.client.get(
        shop.url("orders", "/orders"), params={"customerId": "cust-0042", "status": "PAID"}
    ).json()
    assert order["id"] in [o["id"] for o in listed["items"]]
    assert (
        shop.client.get(shop.url("payments", "/payments"), params={"orderId": order["id"]}).json()["items"][
            0
        ]["id"]
        == payment["id"]
    )

    # Behind the API: every service wrote its own tables.
    stored = rows(shop_db, "SELECT * FROM orders.orders WHERE id = :id", id=order["id"])
    assert len(stored) == 1
    assert stored[0]["status"] == "PAID" and stored[0]["total_amount"] == Decimal("83.90")
    assert stored[0]["payment_id"] == payment["id"] and stored[0]["correlation_id"] == "corr-happy-1"
    items = rows(
        shop_db,
        "SELECT sku, quantity, line_total FROM orders.order_items WHERE order_id = :id ORDER BY line_no",
        id=order["id"],
    )
    assert items == [
        {"sku": "SKU-1001", "quantity": 1, "line_total": Decimal("24.90")},
        {"sku": "SKU-1002", "quantity": 1, "line_total": Decimal("59.00")},
    ]
    pay_rows = rows(
        shop_db,
        "SELECT status, amount, idempotency_key FROM payments.payments WHERE order_id = :id",
        id=order["id"],
    )
    assert pay_rows == [{"status": "CAPTURED", "amount": Decimal("83.90"), "idempotency_key": key}]
    attempts = rows(
        shop_db,
        "SELECT outcome FROM payments.payment_attempts WHERE order_id = :id ORDER BY created_at",
        id=order["id"],
    )
    assert [a["outcome"] for a in attempts] == ["UNAVAILABLE", "AUTHORISED"]
    stock_after = rows(shop_db, "SELECT on_hand, reserved FROM inventory.stock_items WHERE sku = 'SKU-1002'")[
        0
    ]
    assert stock_after == {"on_hand": stock_before["on_hand"] - 1, "reserved": stock_before["reserved"]}
    assert rows(
        shop_db, "SELECT status FROM inventory.reservations WHERE order_id = :id", id=order["id"]
    ) == [{"status": "CONFIRMED"}]
    assert len(recorder.responses) == 11


def test_declined_payment_then_cancel_releases_stock(
    shop: RunningShop, shop_db: sa.Engine, recorder: Recorder
) -> None:
    before = rows(shop_db, "SELECT reserved FROM inventory.stock_items WHERE sku = 'SKU-1003'")[0]["reserved"]
    order = place_order(shop, [{"sku": "SKU-1003", "quantity": 4}]).json()
    assert (
        rows(shop_db, "SELECT reserved FROM inventory.stock_items WHERE sku = 'SKU-1003'")[0]["reserved"]
        == before + 4
    )
    declined = authorise(shop, order, CARD_DECLINED)
    assert declined.status_code == 402
    error = declined.json()["error"]
    assert error["code"] == "PAYMENT_DECLINED" and error["declineReason"] == "CARD_DECLINED"
    assert rows(
        shop_db, "SELECT status, decline_reason FROM payments.payments WHERE id = :id", id=error["paymentId"]
    ) == [{"status": "DECLINED", "decline_reason": "CARD_DECLINED"}]
    captured = shop.client.post(shop.url("payments", f"/payments/{error['paymentId']}/capture"))
    assert captured.status_code == 409 and captured.json()["error"]["code"] == "INVALID_PAYMENT_STATE"

    cancelled = shop.client.post(
        shop.url("orders", f"/orders/{order['id']}/cancel"), json={"reason": "PAYMENT_DECLINED"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (
        cancelled.json()["status"] == "CANCELLED" and cancelled.json()["cancelReason"] == "PAYMENT_DECLINED"
    )
    assert (
        rows(shop_db, "SELECT reserved FROM inventory.stock_items WHERE sku = 'SKU-1003'")[0]["reserved"]
        == before
    )
    assert rows(
        shop_db, "SELECT status FROM inventory.reservations WHERE order_id = :id", id=order["id"]
    ) == [{"status": "RELEASED"}]
    repeat = shop.client.post(shop.url("orders", f"/orders/{order['id']}/cancel"))
    assert repeat.status_code == 200 and repeat.json()["updatedAt"] == cancelled.json()["updatedAt"]
    pay = shop.client.post(
        shop.url("orders", f"/orders/{order['id']}/pay"), json={"paymentId": error["paymentId"]}
    )
    assert pay.status_code == 409 and pay.json()["error"]["code"] == "ORDER_NOT_PAYABLE"


def test_amount_above_limit_and_expired_card_are_declined(shop: RunningShop, recorder: Recorder) -> None:
    order = place_order(shop, [{"sku": "SKU-1006", "quantity": 1}]).json()
    assert order["totalAmount"] == 1200.0
    over = authorise(shop, order)
    assert over.status_code == 402 and over.json()["error"]["declineReason"] == "AMOUNT_LIMIT_EXCEEDED"
    small = place_order(shop, [{"sku": "SKU-1003", "quantity": 1}]).json()
    expired = authorise(shop, small, {**CARD_OK, "expiryYear": 2020})
    assert expired.status_code == 402 and expired.json()["error"]["declineReason"] == "EXPIRED_CARD"
    ok = authorise(shop, small)
    assert ok.status_code == 201
    second = authorise(shop, small)  # another key, same order: one live payment per order
    assert second.status_code == 409 and second.json()["error"]["code"] == "PAYMENT_EXISTS"


def test_out_of_stock_and_unknown_sku_store_nothing(
    shop: RunningShop, shop_db: sa.Engine, recorder: Recorder
) -> None:
    count = rows(shop_db, "SELECT count(*) AS n FROM orders.orders")[0]["n"]
    stock = rows(shop_db, "SELECT sku, on_hand, reserved FROM inventory.stock_items ORDER BY sku")
    short = place_order(shop, [{"sku": "SKU-1001", "quantity": 1}, {"sku": "SKU-1004", "quantity": 5}])
    assert short.status_code == 409
    error = short.json()["error"]
    assert error["code"] == "OUT_OF_STOCK"
    assert error["shortages"] == [{"sku": "SKU-1004", "requested": 5, "available": 3}]
    unknown = place_order(shop, [{"sku": "SKU-1001", "quantity": 1}, {"sku": "SKU-9999", "quantity": 1}])
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "UNKNOWN_SKU"
    assert unknown.json()["error"]["details"] == [
        {"pointer": "/items/1/sku", "message": "unknown SKU SKU-9999"}
    ]
    sold_out = place_order(shop, [{"sku": "SKU-1005", "quantity": 1}])
    assert sold_out.status_code == 409
    assert rows(shop_db, "SELECT count(*) AS n FROM orders.orders")[0]["n"] == count
    assert rows(shop_db, "SELECT sku, on_hand, reserved FROM inventory.stock_items ORDER BY sku") == stock


def test_idempotency_keys(shop: RunningShop, shop_db: sa.Engine, recorder: Recorder) -> None:
    key = f"checkout-{uuid.uuid4().hex[:8]}"
    first = place_order(shop, [{"sku": "SKU-1003", "quantity": 2}], **{"Idempotency-Key": key})
    replay = place_order(shop, [{"sku": "SKU-1003", "quantity": 2}], **{"Idempotency-Key": key})
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = place_order(shop, [{"sku": "SKU-1003", "quantity": 3}], **{"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    order = first.json()
    assert rows(shop_db, "SELECT count(*) AS n FROM orders.orders WHERE id = :id", id=order["id"]) == [
        {"n": 1}
    ]
    assert rows(
        shop_db, "SELECT count(*) AS n FROM inventory.reservations WHERE order_id = :id", id=order["id"]
    ) == [{"n": 1}]

    pay_key = f"pay-{uuid.uuid4().hex[:8]}"
    paid = authorise(shop, order, key=pay_key)
    paid_again = authorise(shop, order, key=pay_key)
    assert paid.status_code == paid_again.status_code == 201
    assert (
        paid_again.json()["id"] == paid.json()["id"] and paid_again.headers["idempotent-replayed"] == "true"
    )
    changed = shop.client.post(
        shop.url("payments", "/payments"),
        json={"orderId": order["id"], "amount": 1.0, "currency": "EUR", "card": CARD_OK},
        headers={"Idempotency-Key": pay_key},
    )
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    elsewhere = authorise(shop, place_order(shop, [{"sku": "SKU-1003", "quantity": 1}]).json(), key=pay_key)
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != paid.json()["id"]  # keys are per order
    declined_key = f"pay-{uuid.uuid4().hex[:8]}"
    other_order = place_order(shop, [{"sku": "SKU-1003", "quantity": 1}]).json()
    d1, d2 = (
        authorise(shop, other_order, CARD_DECLINED, declined_key),
        authorise(shop, other_order, CARD_DECLINED, declined_key),
    )
    assert d1.status_code == d2.status_code == 402 and d1.json() == d2.json()
    assert rows(
        shop_db, "SELECT count(*) AS n FROM payments.payments WHERE idempotency_key = :k", k=declined_key
    ) == [{"n": 1}]


UUID0 = "00000000-0000-4000-8000-000000000000"


def _bad_inputs() -> list[tuple[str, str, str, dict[str, Any], int, str, str]]:
    """(service, method, path, request kwargs, status, error code, text the message must contain)."""
    order = {"customerId": "cust-1", "items": [{"sku": "SKU-1001", "quantity": 1}]}
    pay = {"orderId": UUID0, "amount": 10.0, "currency": "EUR", "card": CARD_OK}
    key = {"Idempotency-Key": "k-bad-input"}
    return [
        (
            "orders",
            "POST",
            "/orders",
            {"content": b"{oops", "headers": {"content-type": "application/json"}},
            400,
            "MALFORMED_JSON",
            "line 1 column 2",
        ),
        (
            "orders",
            "POST",
            "/orders",
            {"content": b"customerId=1", "headers": {"content-type": "text/plain"}},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "text/plain",
        ),
        ("orders", "POST", "/orders", {}, 400, "MISSING_BODY", "createOrder"),
        ("orders", "POST", "/orders", {"json": {**order, "items": []}}, 422, "VALIDATION_FAILED", "/items"),
        (
            "orders",
            "POST",
            "/orders",
            {"json": {**order, "items": [{"sku": "SKU-1001", "quantity": 0}]}},
            422,
            "VALIDATION_FAILED",
            "/items/0/quantity",
        ),
        (
            "orders",
            "POST",
            "/orders",
            {"json": {**order, "items": [{"sku": "SKU-1001", "quantity": 1.5}]}},
            422,
            "VALIDATION_FAILED",
            "/items/0/quantity",
        ),
        (
            "orders",
            "POST",
            "/orders",
            {"json": {**order, "items": [{"sku": "sku lower", "quantity": 1}]}},
            422,
            "VALIDATION_FAILED",
            "/items/0/sku",
        ),
        (
            "orders",
            "POST",
            "/orders",
            {"json": {"items": order["items"]}},
            422,
            "VALIDATION_FAILED",
            "customerId",
        ),
        ("orders", "POST", "/orders", {"json": {**order, "coupon": "X"}}, 422, "VALIDATION_FAILED", "coupon"),
        (
            "orders",
            "POST",
            "/orders",
            {"json": {**order, "currency": "USD"}},
            422,
            "VALIDATION_FAILED",
            "/currency",
        ),
        ("orders", "POST", "/orders", {"json": [order]}, 422, "VALIDATION_FAILED", "not of type 'object'"),
        (
            "orders",
            "POST",
            "/orders",
            {
                "content": b'{"customerId": "c", "items": [{"sku": "SKU-1001", "quantity": NaN}]}',
                "headers": {"content-type": "application/json"},
            },
            400,
            "MALFORMED_JSON",
            "NaN",
        ),
        (
            "orders",
            "POST",
            "/orders",
            {
                "json": {
                    **order,
                    "items": [{"sku": "SKU-1001", "quantity": 1}, {"sku": "SKU-1001", "quantity": 2}],
                }
            },
            422,
            "DUPLICATE_SKU",
            "items[1]",
        ),
        (
            "orders",
            "POST",
            "/orders",
            {"json": order, "headers": {"X-Correlation-Id": "bad id with spaces"}},
            400,
            "INVALID_PARAMETER",
            "X-Correlation-Id",
        ),
        ("orders", "GET", "/orders", {"params": {"limit": "abc"}}, 400, "INVALID_PARAMETER", "limit"),
        ("orders", "GET", "/orders", {"params": {"limit": "0"}}, 400, "INVALID_PARAMETER", "limit"),
        ("orders", "GET", "/orders", {"params": {"limit": "101"}}, 400, "INVALID_PARAMETER", "limit"),
        ("orders", "GET", "/orders", {"params": {"offset": "-1"}}, 400, "INVALID_PARAMETER", "offset"),
        ("orders", "GET", "/orders", {"params": {"status": "SHIPPED"}}, 400, "INVALID_PARAMETER", "status"),
        (
            "orders",
            "GET",
            "/orders",
            {"params": {"customerId": "bad id!"}},
            400,
            "INVALID_PARAMETER",
            "customerId",
        ),
        ("orders", "GET", "/orders/not-a-uuid", {}, 400, "INVALID_PARAMETER", "orderId"),
        ("orders", "GET", f"/orders/{UUID0}", {}, 404, "ORDER_NOT_FOUND", UUID0),
        ("orders", "POST", f"/orders/{UUID0}/cancel", {}, 404, "ORDER_NOT_FOUND", UUID0),
        ("orders", "POST", "/orders/xyz/cancel", {}, 400, "INVALID_PARAMETER", "orderId"),
        (
            "orders",
            "POST",
            f"/orders/{UUID0}/cancel",
            {"json": {"reason": ""}},
            422,
            "VALIDATION_FAILED",
            "/reason",
        ),
        ("orders", "POST", f"/orders/{UUID0}/pay", {"json": {}}, 422, "VALIDATION_FAILED", "paymentId"),
        (
            "orders",
            "POST",
            f"/orders/{UUID0}/pay",
            {"json": {"paymentId": "p-1"}},
            422,
            "VALIDATION_FAILED",
            "/paymentId",
        ),
        (
            "orders",
            "POST",
            f"/orders/{UUID0}/pay",
            {"json": {"paymentId": UUID0}},
            404,
            "ORDER_NOT_FOUND",
            UUID0,
        ),
        ("payments", "POST", "/payments", {"json": pay}, 400, "MISSING_HEADER", "Idempotency-Key"),
        (
            "payments",
            "POST",
            "/payments",
            {"json": pay, "headers": {"Idempotency-Key": ""}},
            400,
            "INVALID_PARAMETER",
            "Idempotency-Key",
        ),
        (
            "payments",
            "POST",
            "/payments",
            {"json": {**pay, "amount": 0}, "headers": key},
            422,
            "VALIDATION_FAILED",
            "/amount",
        ),
        (
            "payments",
            "POST",
            "/payments",
            {"json": {**pay, "amount": "10.00"}, "headers": key},
            422,
            "VALIDATION_FAILED",
            "/amount",
        ),
        (
            "payments",
            "POST",
            "/payments",
            {"json": {**pay, "amount": 10.001}, "headers": key},
            422,
            "INVALID_AMOUNT",
            "two decimals",
        ),
        (
            "payments",
            "POST",
            "/payments",
            {"json": {**pay, "card": {**CARD_OK, "number": "4242424242424241"}}, "headers": key},
            422,
            "INVALID_CARD_NUMBER",
            "Luhn",
        ),
        (
            "payments",
            "POST",
            "/payments",
            {"json": {**pay, "card": {**CARD_OK, "expiryMonth": 13}}, "headers": key},
            422,
            "VALIDATION_FAILED",
            "/card/expiryMonth",
        ),
        (
            "payments",
            "POST",
            "/payments",
            {"json": {**pay, "card": {**CARD_OK, "cvc": 123}}, "headers": key},
            422,
            "VALIDATION_FAILED",
            "/card/cvc",
        ),
        (
            "payments",
            "POST",
            "/payments",
            {"json": {**pay, "orderId": "o-1"}, "headers": key},
            422,
            "VALIDATION_FAILED",
            "/orderId",
        ),
        ("payments", "GET", "/payments", {}, 400, "MISSING_PARAMETER", "orderId"),
        ("payments", "GET", "/payments", {"params": {"orderId": "x"}}, 400, "INVALID_PARAMETER", "orderId"),
        ("payments", "GET", f"/payments/{UUID0}", {}, 404, "PAYMENT_NOT_FOUND", UUID0),
        ("payments", "GET", "/payments/1", {}, 400, "INVALID_PARAMETER", "paymentId"),
        ("payments", "POST", f"/payments/{UUID0}/capture", {}, 404, "PAYMENT_NOT_FOUND", UUID0),
        ("inventory", "GET", "/stock/sku-lower", {}, 400, "INVALID_PARAMETER", "sku"),
        ("inventory", "GET", "/stock/SKU-0000", {}, 404, "SKU_NOT_FOUND", "SKU-0000"),
        ("inventory", "GET", "/stock", {"params": {"limit": "201"}}, 400, "INVALID_PARAMETER", "limit"),
        (
            "inventory",
            "PUT",
            "/stock/SKU-7001",
            {"json": {"name": "X", "unitPrice": -1, "onHand": 1}},
            422,
            "VALIDATION_FAILED",
            "/unitPrice",
        ),
        (
            "inventory",
            "PUT",
            "/stock/SKU-7001",
            {"json": {"name": "X", "unitPrice": 1.234, "onHand": 1}},
            422,
            "INVALID_AMOUNT",
            "unitPrice",
        ),
        (
            "inventory",
            "PUT",
            "/stock/SKU-7001",
            {"json": {"name": "X", "unitPrice": 1}},
            422,
            "VALIDATION_FAILED",
            "onHand",
        ),
        (
            "inventory",
            "POST",
            "/reservations",
            {"json": {"orderId": UUID0, "items": []}},
            422,
            "VALIDATION_FAILED",
            "/items",
        ),
        (
            "inventory",
            "POST",
            "/reservations",
            {"json": {"orderId": UUID0, "items": [{"sku": "SKU-0000", "quantity": 1}]}},
            422,
            "UNKNOWN_SKU",
            "SKU-0000",
        ),
        ("inventory", "GET", f"/reservations/{UUID0}", {}, 404, "RESERVATION_NOT_FOUND", UUID0),
        ("inventory", "POST", f"/reservations/{UUID0}/confirm", {}, 404, "RESERVATION_NOT_FOUND", UUID0),
        ("inventory", "POST", f"/reservations/{UUID0}/release", {}, 404, "RESERVATION_NOT_FOUND", UUID0),
        ("inventory", "POST", "/reservations/nope/release", {}, 400, "INVALID_PARAMETER", "reservationId"),
    ]


@pytest.mark.parametrize(("service", "method", "path", "kwargs", "status", "code", "mentions"), _bad_inputs())
def test_bad_input_gets_a_clear_error(
    shop: RunningShop,
    recorder: Recorder,
    service: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    mentions: str,
) -> None:
    response = shop.client.request(method, shop.url(service, path), **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert mentions in error["message"] + str(error.get("details", "")), error


def test_unknown_routes_and_methods_answer_json(shop: RunningShop) -> None:
    base = shop.ready["services"]["orders"]["url"]
    missing = shop.client.get(base + "/order-api/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = shop.client.delete(shop.url("orders", "/orders"))
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    other_service = shop.client.get(base + "/payment-api/v1/health")  # the order port serves orders only
    assert other_service.status_code == 404


def test_set_stock_creates_updates_and_guards_reservations(shop: RunningShop, recorder: Recorder) -> None:
    sku = f"SKU-T{uuid.uuid4().hex[:6].upper()}"
    created = shop.client.put(
        shop.url("inventory", f"/stock/{sku}"), json={"name": "Tamper", "unitPrice": 19.5, "onHand": 2}
    )
    assert created.status_code == 201 and created.json()["available"] == 2
    order = place_order(shop, [{"sku": sku, "quantity": 2}]).json()
    assert order["totalAmount"] == 39.0 + 4.9  # below 50.00: shipping is charged
    below = shop.client.put(
        shop.url("inventory", f"/stock/{sku}"), json={"name": "Tamper", "unitPrice": 19.5, "onHand": 1}
    )
    assert below.status_code == 409 and below.json()["error"]["code"] == "BELOW_RESERVED"
    updated = shop.client.put(
        shop.url("inventory", f"/stock/{sku}"), json={"name": "Tamper", "unitPrice": 21, "onHand": 5}
    )
    assert (
        updated.status_code == 200
        and updated.json()["available"] == 3
        and updated.json()["unitPrice"] == 21.0
    )
    listed = shop.client.get(shop.url("inventory", "/stock"), params={"limit": 200}).json()
    assert sku in [i["sku"] for i in listed["items"]]


def test_health_reports_database_events_and_faults(shop: RunningShop, recorder: Recorder) -> None:
    for service, channel in (("orders", "kafka"), ("payments", "rabbitmq"), ("inventory", None)):
        health = shop.client.get(shop.url(service, "/health")).json()
        assert health["service"] == service and health["database"] == {"kind": "postgresql", "status": "ok"}
        if channel:
            entry = health["events"][channel]
            configured = bool(
                os.environ.get(
                    "ORCHESTRA_TEST_KAFKA_BOOTSTRAP" if channel == "kafka" else "ORCHESTRA_TEST_AMQP_URL"
                )
            )
            assert entry["enabled"] is configured
            if not configured:
                assert "skipped" in entry["reason"]
    shop.fault("payments", "slow_response", delayMs=1, operation="getPaymentStatus")
    try:
        assert shop.client.get(shop.url("payments", "/health")).json()["faults"] == ["slow_response"]
    finally:
        shop.reset_faults()


def _asyncapi_validator(message: str) -> jsonschema.Draft202012Validator:
    doc = yaml.safe_load((ROOT / "examples/shop/specs/events.asyncapi.yaml").read_text())
    payload_ref = doc["components"]["messages"][message]["payload"]["$ref"]
    return jsonschema.Draft202012Validator(
        {"$ref": payload_ref, "components": doc["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def test_order_events_on_kafka_and_payment_messages_on_rabbitmq(shop: RunningShop) -> None:
    bootstrap, amqp = kafka_bootstrap(), amqp_url()
    kafka = KafkaTap(bootstrap, TOPIC)
    rabbit = AmqpTap(amqp, EXCHANGE)  # bound before the actions, like Orchestra's tap
    try:
        paid_order = place_order(shop, **{"X-Correlation-Id": "corr-events-1"}).json()
        payment = authorise(shop, paid_order, **{"X-Correlation-Id": "corr-events-1"}).json()
        shop.client.post(shop.url("payments", f"/payments/{payment['id']}/capture"))
        shop.client.post(
            shop.url("orders", f"/orders/{paid_order['id']}/pay"), json={"paymentId": payment["id"]}
        )
        declined_order = place_order(shop).json()  # no correlation header: the service makes one up
        authorise(shop, declined_order, CARD_DECLINED)
        shop.client.post(
            shop.url("orders", f"/orders/{declined_order['id']}/cancel"), json={"reason": "PAYMENT_DECLINED"}
        )

        expected_kafka = [
            (paid_order["id"], "OrderCreated"),
            (paid_order["id"], "OrderPaid"),
            (declined_order["id"], "OrderCreated"),
            (declined_order["id"], "OrderCancelled"),
        ]
        for key, event_type in expected_kafka:
            found = wait_for(lambda k=key, t=event_type: kafka.find(k, t), what=f"{event_type} for {key}")
            assert len(found) == 1, found
            message = found[0]
            errors = [e.message for e in _asyncapi_validator(event_type).iter_errors(message["value"])]
            assert not errors, errors
            assert message["headers"]["event-type"] == event_type
            assert message["headers"]["event-id"] == message["value"]["eventId"]
            assert message["headers"]["content-type"] == "application/json"
        created = kafka.find(paid_order["id"], "OrderCreated")[0]
        assert created["headers"]["correlation-id"] == "corr-events-1" == created["value"]["correlationId"]
        assert created["value"]["totalAmount"] == paid_order["totalAmount"]
        assert kafka.find(paid_order["id"], "OrderPaid")[0]["value"]["paymentId"] == payment["id"]
        assert kafka.find(declined_order["id"], "OrderCancelled")[0]["value"]["reason"] == "PAYMENT_DECLINED"
        partitions = {m["partition"] for m in kafka.find(paid_order["id"])}
        assert len(partitions) == 1  # keyed by order id: one order's events stay in order

        expected_amqp = [
            (paid_order["id"], "PaymentAuthorised", "payment.authorised"),
            (paid_order["id"], "PaymentCaptured", "payment.captured"),
            (declined_order["id"], "PaymentDeclined", "payment.declined"),
        ]
        for order_id, message_type, routing_key in expected_amqp:
            found = wait_for(
                lambda o=order_id, t=message_type: rabbit.find(o, t), what=f"{message_type} for {order_id}"
            )
            assert len(found) == 1, found
            message = found[0]
            assert message["routing_key"] == routing_key and message["app_id"] == "shop-payments"
            assert message["content_type"] == "application/json" and message["delivery_mode"] == 2
            errors = [e.message for e in _asyncapi_validator(message_type).iter_errors(message["body"])]
            assert not errors, errors
        authorised = rabbit.find(paid_order["id"], "PaymentAuthorised")[0]
        assert authorised["headers"]["x-correlation-id"] == "corr-events-1"
        assert (
            rabbit.find(declined_order["id"], "PaymentDeclined")[0]["body"]["declineReason"]
            == "CARD_DECLINED"
        )
    finally:
        kafka.close()
        rabbit.close()
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp))
    try:  # the shop's own queue still got its copies: the tap took nothing from it
        depth = connection.channel().queue_declare(AUDIT_QUEUE, passive=True).method.message_count
        assert depth >= 3
    finally:
        connection.close()


def test_embedded_sqlite_without_brokers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_shop(["--port", "0", "--data-dir", str(data)], tmp_path) as shop:
        assert {s["url"] for s in shop.ready["services"].values()} == {
            shop.ready["services"]["orders"]["url"]
        }
        order = place_order(shop).json()
        payment = authorise(shop, order).json()
        shop.client.post(shop.url("inventory", f"/reservations/{order['reservationId']}/confirm"))
        shop.client.post(shop.url("payments", f"/payments/{payment['id']}/capture"))
        paid = shop.client.post(
            shop.url("orders", f"/orders/{order['id']}/pay"), json={"paymentId": payment["id"]}
        )
        assert paid.status_code == 200 and paid.json()["status"] == "PAID"
        health = shop.client.get(shop.url("orders", "/health")).json()
        assert health["database"]["kind"] == "sqlite"
        assert health["events"]["kafka"] == {
            "enabled": False,
            "reason": "no Kafka bootstrap server configured: order events are skipped",
        }
        assert shop.ready["kafka"] is None and shop.ready["amqp"] is None
    assert sorted(p.name for p in data.glob("*.db")) == ["inventory.db", "orders.db", "payments.db"]
    engine = sa.create_engine(f"sqlite:///{data / 'orders.db'}")
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT status, total_amount FROM orders WHERE id = :id"), {"id": order["id"]}
        ).one()
    engine.dispose()
    assert tuple(stored) == ("PAID", "54.70")  # 2 x 24.90 + 4.90 shipping (below 50.00)
    # A restart keeps the data and does not reseed over it.
    with running_shop(["--port", "0", "--data-dir", str(data)], tmp_path) as again:
        assert again.client.get(again.url("orders", f"/orders/{order['id']}")).json()["status"] == "PAID"
        beans = again.client.get(again.url("inventory", "/stock/SKU-1001")).json()
        assert beans["onHand"] == 98 and beans["reserved"] == 0


def test_contract_checker_catches_a_broken_response(shop: RunningShop, checker: ContractChecker) -> None:
    """The conformance check above can fail: a response missing a required field is reported."""
    order = place_order(shop).json()
    response = shop.client.get(shop.url("orders", f"/orders/{order['id']}"))
    broken = httpx.Response(
        200,
        json={k: v for k, v in response.json().items() if k != "status"},
        headers={"X-Correlation-Id": "x"},
        request=response.request,
    )
    codes = [v.code for v in checker.violations(broken)]
    assert codes == ["RESPONSE_SCHEMA_MISMATCH"]


def _expand_env(value: Any, variables: dict[str, str]) -> Any:
    """${VAR:-default} as the environment file defines it, from ``variables``."""
    if isinstance(value, str):
        return re.sub(
            r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", lambda m: variables.get(m[1], m[2] or ""), value
        )
    if isinstance(value, dict):
        return {k: _expand_env(v, variables) for k, v in value.items()}
    return value


def test_happy_scenario_through_orchestras_http_plugin(shop: RunningShop) -> None:
    """S001's steps, bound as `orchestra spec match` binds them, run by Orchestra's HTTP plugin with the
    draft environment and data set: each passes its status, contract (request and response) and rules."""
    from orchestra_app.domain.steps import (
        ActionDefinition,
        EndpointRef,
        ExecutionContext,
        ScenarioStepSpec,
        StepExpectations,
        StepStatus,
    )
    from orchestra_app.importers.spec_detect import import_spec
    from orchestra_app.plugins.base import ExecutionEnvironment, StepRunContext
    from orchestra_app.plugins.registry import default_registry

    shop_dir = ROOT / "examples" / "shop"
    urls = {
        f"SHOP_{n.upper()}_URL": shop.ready["services"][n]["url"] for n in ("orders", "payments", "inventory")
    }
    env_doc = _expand_env(yaml.safe_load((shop_dir / "environment.yaml").read_text()), urls)
    specs = {}
    for file in ("orders.yaml", "payments.yaml", "inventory.yaml"):
        summary = import_spec(shop_dir / "specs" / file)
        specs[re.sub(r"[^a-z0-9]+", "-", (summary.title or "").lower()).strip("-")] = summary
    environment = ExecutionEnvironment(services=env_doc["services"], specs=specs)
    data = yaml.safe_load((shop_dir / "data.yaml").read_text())
    created = "{{step.create_order.response.body.id}}"
    plan: list[tuple[str, str, str, dict[str, Any], int, Any]] = [
        (
            "create_order",
            "shop-order-service",
            "createOrder",
            {
                "method": "POST",
                "path": "/orders",
                "json": {"customerId": "{{data.customerId}}", "items": "{{data.items}}"},
            },
            201,
            {"path": "$.body.totalAmount", "equals": data["expectedTotal"]},
        ),
        (
            "authorise_payment",
            "shop-payment-service",
            "authorisePayment",
            {
                "method": "POST",
                "path": "/payments",
                "headers": {"Idempotency-Key": "{{data.Idempotency-Key}}"},
                "json": {
                    "orderId": created,
                    "amount": "{{data.amount}}",
                    "currency": "{{data.currency}}",
                    "card": "{{data.card}}",
                },
            },
            201,
            {"path": "$.body.status", "equals": "AUTHORISED"},
        ),
        (
            "capture_payment",
            "shop-payment-service",
            "capturePayment",
            {
                "method": "POST",
                "path": "/payments/{paymentId}/capture",
                "pathParams": {"paymentId": "{{step.authorise_payment.response.body.id}}"},
            },
            200,
            {"path": "$.body.status", "equals": "CAPTURED"},
        ),
        (
            "confirm_stock_reservation",
            "shop-inventory-service",
            "confirmStockReservation",
            {
                "method": "POST",
                "path": "/reservations/{reservationId}/confirm",
                "pathParams": {"reservationId": "{{step.create_order.response.body.reservationId}}"},
            },
            200,
            {"path": "$.body.status", "equals": "CONFIRMED"},
        ),
        (
            "mark_order_as_paid",
            "shop-order-service",
            "markOrderPaid",
            {
                "method": "POST",
                "path": "/orders/{orderId}/pay",
                "pathParams": {"orderId": created},
                "json": {"paymentId": "{{step.authorise_payment.response.body.id}}"},
            },
            200,
            {"path": "$.body.status", "equals": "PAID"},
        ),
        (
            "get_order",
            "shop-order-service",
            "getOrder",
            {"method": "GET", "path": "/orders/{orderId}", "pathParams": {"orderId": created}},
            200,
            [
                {"path": "$.body.status", "equals": "PAID"},
                {"path": "$.body.items", "length": len(data["items"])},
            ],
        ),
    ]
    context = ExecutionContext(variables={"data": data})
    plugin = default_registry().plugin_for(ScenarioStepSpec(alias="x", name="x").channel_type)
    try:
        for alias, service, operation, template, status, rules in plan:
            step = ScenarioStepSpec(
                alias=alias,
                name=alias,
                endpoint_ref=EndpointRef(protocol_id="http", service_name=service, endpoint_name=operation),
                action=ActionDefinition(input_template=template),
                expectations=StepExpectations(expected_status_code=status, business_rules=rules),
            )
            result = plugin.execute(step, StepRunContext(environment, context))
            assert result.status == StepStatus.PASSED, (alias, result.violations, result.response_body)
            context.steps_by_alias[alias] = result
    finally:
        environment.close()
