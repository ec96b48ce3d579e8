"""50 concurrent callers against the demo shop on PostgreSQL: no oversell, everything stored once."""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.fixtures.shop import (
    AmqpTap,
    KafkaTap,
    RunningShop,
    authorise,
    delete_amqp,
    delete_topic,
    running_shop,
    stays_false,
    wait_for,
)
from tests.integration.shop_conftest import engine_for, module_database, rows

pytestmark = pytest.mark.integration

CALLERS = 50
TOPIC = f"shop.orders.concurrency-{uuid.uuid4().hex[:8]}"
EXCHANGE = f"shop.payments.concurrency-{uuid.uuid4().hex[:8]}"


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


def at_once(call: Callable[[httpx.Client, int], httpx.Response], n: int = CALLERS) -> list[httpx.Response]:
    """n threads, each with its own client, released together by a barrier."""
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        with httpx.Client(timeout=120, trust_env=False) as client:
            barrier.wait(60)
            response = call(client, i)
            response.read()
            return response

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def new_sku(shop: RunningShop, on_hand: int, price: float = 10.0) -> str:
    sku = f"SKU-C{uuid.uuid4().hex[:8].upper()}"
    response = shop.client.put(
        shop.url("inventory", f"/stock/{sku}"),
        json={"name": "Concurrency item", "unitPrice": price, "onHand": on_hand},
    )
    assert response.status_code == 201, response.text
    return sku


def order_body(sku: str, quantity: int = 1, customer: str = "cust-rush") -> dict[str, Any]:
    return {"customerId": customer, "items": [{"sku": sku, "quantity": quantity}]}


def optional_kafka(shop: RunningShop) -> KafkaTap | None:
    bootstrap = os.environ.get("ORCHESTRA_TEST_KAFKA_BOOTSTRAP")
    return KafkaTap(bootstrap, TOPIC) if bootstrap else None


def test_no_oversell_and_every_order_stored_once(shop: RunningShop, shop_db: sa.Engine) -> None:
    sku = new_sku(shop, on_hand=20)
    responses = at_once(
        lambda c, i: c.post(shop.url("orders", "/orders"), json=order_body(sku, customer=f"cust-{i}"))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 20, 409: 30}, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"OUT_OF_STOCK"}
    ids = [r.json()["id"] for r in responses if r.status_code == 201]
    assert len(set(ids)) == 20
    stored = rows(
        shop_db,
        "SELECT o.id, count(*) AS n FROM orders.orders o JOIN orders.order_items i ON i.order_id = o.id "
        "WHERE i.sku = :sku GROUP BY o.id",
        sku=sku,
    )
    assert sorted(r["id"] for r in stored) == sorted(ids) and all(r["n"] == 1 for r in stored)
    assert rows(shop_db, "SELECT on_hand, reserved FROM inventory.stock_items WHERE sku = :sku", sku=sku) == [
        {"on_hand": 20, "reserved": 20}
    ]
    assert rows(
        shop_db,
        "SELECT count(*) AS n FROM inventory.reservation_lines WHERE sku = :sku",
        sku=sku,
    ) == [{"n": 20}]


def test_multi_line_orders_in_opposite_orders_do_not_deadlock(shop: RunningShop, shop_db: sa.Engine) -> None:
    first, second = new_sku(shop, on_hand=1000), new_sku(shop, on_hand=1000)

    def call(client: httpx.Client, i: int) -> httpx.Response:
        lines = [{"sku": first, "quantity": 2}, {"sku": second, "quantity": 3}]
        body = {"customerId": f"cust-{i}", "items": lines if i % 2 else lines[::-1]}
        return client.post(shop.url("orders", "/orders"), json=body)

    responses = at_once(call)
    assert Counter(r.status_code for r in responses) == {201: CALLERS}, [
        r.text for r in responses if r.status_code != 201
    ]
    assert rows(
        shop_db,
        "SELECT sku, reserved FROM inventory.stock_items WHERE sku IN (:a, :b) ORDER BY sku",
        a=first,
        b=second,
    ) == sorted(
        [{"sku": first, "reserved": 2 * CALLERS}, {"sku": second, "reserved": 3 * CALLERS}],
        key=lambda r: r["sku"],
    )


def test_same_idempotency_key_makes_one_order(shop: RunningShop, shop_db: sa.Engine) -> None:
    sku = new_sku(shop, on_hand=100)
    key = f"double-click-{uuid.uuid4().hex[:8]}"
    responses = at_once(
        lambda c, i: c.post(
            shop.url("orders", "/orders"), json=order_body(sku, 2), headers={"Idempotency-Key": key}
        )
    )
    assert Counter(r.status_code for r in responses) == {201: CALLERS}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == CALLERS - 1
    order_id = responses[0].json()["id"]
    assert rows(shop_db, "SELECT count(*) AS n FROM orders.orders WHERE id = :id", id=order_id) == [{"n": 1}]
    assert rows(
        shop_db, "SELECT count(*) AS n FROM orders.order_items WHERE order_id = :id", id=order_id
    ) == [{"n": 1}]
    assert rows(shop_db, "SELECT reserved FROM inventory.stock_items WHERE sku = :sku", sku=sku) == [
        {"reserved": 2}
    ]


def test_concurrent_cancels_release_stock_once(shop: RunningShop, shop_db: sa.Engine) -> None:
    sku = new_sku(shop, on_hand=10)
    order = shop.client.post(shop.url("orders", "/orders"), json=order_body(sku, 4)).json()
    kafka = optional_kafka(shop)
    try:
        responses = at_once(lambda c, i: c.post(shop.url("orders", f"/orders/{order['id']}/cancel")))
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) <= {200, 409} and statuses[200] >= 1, statuses
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} <= {"ORDER_BUSY"}
        assert rows(shop_db, "SELECT status FROM orders.orders WHERE id = :id", id=order["id"]) == [
            {"status": "CANCELLED"}
        ]
        assert rows(
            shop_db, "SELECT on_hand, reserved FROM inventory.stock_items WHERE sku = :sku", sku=sku
        ) == [{"on_hand": 10, "reserved": 0}]
        if kafka is not None:
            wait_for(lambda: kafka.find(order["id"], "OrderCancelled"), what="OrderCancelled")
            stays_false(lambda: len(kafka.find(order["id"], "OrderCancelled")) > 1, during=2)
    finally:
        if kafka is not None:
            kafka.close()


def test_concurrent_authorisations_make_one_payment(shop: RunningShop, shop_db: sa.Engine) -> None:
    sku = new_sku(shop, on_hand=10)
    order = shop.client.post(shop.url("orders", "/orders"), json=order_body(sku, 1)).json()
    body = {
        "orderId": order["id"],
        "amount": order["totalAmount"],
        "currency": "EUR",
        "card": {"number": "4242424242424242", "expiryMonth": 12, "expiryYear": 2030, "cvc": "123"},
    }
    key = f"pay-{uuid.uuid4().hex[:8]}"
    same_key = at_once(
        lambda c, i: c.post(shop.url("payments", "/payments"), json=body, headers={"Idempotency-Key": key})
    )
    assert Counter(r.status_code for r in same_key) == {201: CALLERS}, [r.text for r in same_key]
    assert len({r.json()["id"] for r in same_key}) == 1
    other_keys = at_once(
        lambda c, i: c.post(
            shop.url("payments", "/payments"), json=body, headers={"Idempotency-Key": f"{key}-{i}"}
        )
    )
    assert Counter(r.status_code for r in other_keys) == {409: CALLERS}
    assert {r.json()["error"]["code"] for r in other_keys} == {"PAYMENT_EXISTS"}
    assert rows(
        shop_db, "SELECT count(*) AS n FROM payments.payments WHERE order_id = :id", id=order["id"]
    ) == [{"n": 1}]

    second_order = shop.client.post(shop.url("orders", "/orders"), json=order_body(sku, 1)).json()
    racing = at_once(
        lambda c, i: c.post(
            shop.url("payments", "/payments"),
            json={**body, "orderId": second_order["id"]},
            headers={"Idempotency-Key": f"race-{uuid.uuid4().hex}"},
        )
    )
    assert Counter(r.status_code for r in racing) == {201: 1, 409: CALLERS - 1}
    assert rows(
        shop_db, "SELECT count(*) AS n FROM payments.payments WHERE order_id = :id", id=second_order["id"]
    ) == [{"n": 1}]


def test_concurrent_capture_and_pay_publish_once(shop: RunningShop, shop_db: sa.Engine) -> None:
    sku = new_sku(shop, on_hand=10)
    order = shop.client.post(shop.url("orders", "/orders"), json=order_body(sku, 1)).json()
    amqp = os.environ.get("ORCHESTRA_TEST_AMQP_URL")
    rabbit = AmqpTap(amqp, EXCHANGE) if amqp else None
    kafka = optional_kafka(shop)
    try:
        payment = authorise(shop, order).json()
        captures = at_once(lambda c, i: c.post(shop.url("payments", f"/payments/{payment['id']}/capture")))
        assert Counter(r.status_code for r in captures) == {200: CALLERS}
        assert {r.json()["capturedAt"] for r in captures} == {captures[0].json()["capturedAt"]}
        pays = at_once(
            lambda c, i: c.post(
                shop.url("orders", f"/orders/{order['id']}/pay"), json={"paymentId": payment["id"]}
            )
        )
        assert Counter(r.status_code for r in pays) == {200: CALLERS}, [r.text for r in pays]
        assert rows(
            shop_db, "SELECT status, payment_id FROM orders.orders WHERE id = :id", id=order["id"]
        ) == [{"status": "PAID", "payment_id": payment["id"]}]
        if rabbit is not None:
            wait_for(lambda: rabbit.find(order["id"], "PaymentCaptured"), what="PaymentCaptured")
            stays_false(lambda: len(rabbit.find(order["id"], "PaymentCaptured")) > 1, during=2)
        if kafka is not None:
            wait_for(lambda: kafka.find(order["id"], "OrderPaid"), what="OrderPaid")
            stays_false(lambda: len(kafka.find(order["id"], "OrderPaid")) > 1, during=2)
    finally:
        if rabbit is not None:
            rabbit.close()
        if kafka is not None:
            kafka.close()


def test_no_oversell_on_embedded_sqlite(tmp_path: Path) -> None:
    with running_shop(["--port", "0", "--data-dir", str(tmp_path / "data")], tmp_path) as shop:
        sku = new_sku(shop, on_hand=20)
        responses = at_once(lambda c, i: c.post(shop.url("orders", "/orders"), json=order_body(sku)))
        assert Counter(r.status_code for r in responses) == {201: 20, 409: 30}, [r.text for r in responses]
        stock = shop.client.get(shop.url("inventory", f"/stock/{sku}")).json()
        assert (stock["onHand"], stock["reserved"], stock["available"]) == (20, 20, 0)
        listed = shop.client.get(
            shop.url("orders", "/orders"), params={"customerId": "cust-rush", "limit": 100}
        ).json()
        assert listed["total"] == 20
