"""Order service: create, read, list, cancel and pay orders; stock via the inventory service; Kafka events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from examples.shop.api import ApiError, Call, Handler, Result
from examples.shop.db import Money, UtcDateTime, money, now
from examples.shop.events import KafkaPublisher
from examples.shop.faults import FaultSpec, generic_faults
from examples.shop.service import ServiceSettings, ShopService, insert_ignoring_conflicts, request_hash

SCHEMA = "orders"
metadata = sa.MetaData()
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("subtotal_amount", Money(), nullable=False),
    sa.Column("shipping_amount", Money(), nullable=False),
    sa.Column("total_amount", Money(), nullable=False),
    sa.Column("reservation_id", sa.String(36), nullable=False),
    sa.Column("payment_id", sa.String(36)),
    sa.Column("cancel_reason", sa.String(200)),
    sa.Column("note", sa.String(500)),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_orders_customer_created", "customer_id", "created_at"),
    schema=SCHEMA,
)
order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("order_id", sa.String(36), sa.ForeignKey(orders.c.id), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("sku", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", Money(), nullable=False),
    sa.Column("line_total", Money(), nullable=False),
    schema=SCHEMA,
)

SHIPPING_FEE = Decimal("4.90")
FREE_SHIPPING_FROM = Decimal("50.00")
# Orders created with the same Idempotency-Key by the same customer get the same id, so concurrent
# retries meet at the inventory's one-reservation-per-order rule and the orders primary key.
IDEMPOTENCY_NAMESPACE = uuid.UUID("8f0d7c64-3b0e-4c52-9d1a-6e2f4b7a9c30")
INVENTORY_BASE = "/inventory-api/v1"
PAYMENT_BASE = "/payment-api/v1"


def totals(lines: list[dict[str, Any]], *, forget_shipping: bool = False) -> tuple[Decimal, Decimal, Decimal]:
    subtotal = sum((money(line["unitPrice"]) * line["quantity"] for line in lines), Decimal("0.00"))
    shipping = Decimal("0.00") if subtotal >= FREE_SHIPPING_FROM else SHIPPING_FEE
    total = subtotal if forget_shipping else subtotal + shipping
    return money(subtotal), money(shipping), money(total)


def order_json(row: Any, items: list[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "customerId": row.customer_id,
        "status": row.status,
        "currency": row.currency,
        "items": [
            {
                "sku": item.sku,
                "name": item.name,
                "quantity": item.quantity,
                "unitPrice": item.unit_price,
                "lineTotal": item.line_total,
            }
            for item in items
        ],
        "subtotalAmount": row.subtotal_amount,
        "shippingAmount": row.shipping_amount,
        "totalAmount": row.total_amount,
        "reservationId": row.reservation_id,
        "paymentId": row.payment_id,
        "cancelReason": row.cancel_reason,
        "note": row.note,
        "correlationId": row.correlation_id,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }


def load_order(conn: Connection, order_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(orders).where(orders.c.id == order_id)).first()
    if row is None:
        return None
    items = conn.execute(
        sa.select(order_items).where(order_items.c.order_id == order_id).order_by(order_items.c.line_no)
    )
    return {**order_json(row, list(items)), "_hash": row.request_hash}


def public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if not k.startswith("_")}


class OrderService(ShopService):
    name = "orders"
    schema = SCHEMA
    spec_file = "orders.yaml"
    metadata = metadata

    def __init__(self, settings: ServiceSettings) -> None:
        event_types = "`eventType` (OrderCreated, OrderPaid, OrderCancelled or *)"
        super().__init__(
            settings,
            [
                *generic_faults("createOrder", "totalAmount"),
                FaultSpec(
                    "wrong_total",
                    "orders are totalled without the shipping fee (stored, answered and published so)",
                    "BUSINESS_RULE_VIOLATION (totalAmount differs from subtotalAmount + shippingAmount "
                    "or the expected total)",
                ),
                FaultSpec(
                    "row_missing",
                    "createOrder answers 201 and publishes OrderCreated but writes no orders row",
                    "DB_ASSERTION_FAILED (no orders.orders row); later getOrder steps get 404 (HTTP_ERROR)",
                ),
                FaultSpec(
                    "event_not_published",
                    f"order events of {event_types} are not sent to Kafka",
                    "KAFKA_MESSAGE_NOT_FOUND",
                    {"eventType": "*"},
                ),
                FaultSpec(
                    "event_wrong_field",
                    f"order events of {event_types} carry a wrong `field`: totalAmount in cents "
                    "(x100), status set to another state, or customerId changed",
                    "KAFKA_MESSAGE_NOT_FOUND / MESSAGE_MISMATCH with PARTIAL_MATCH (the message with the "
                    "key is seen, the field differs)",
                    {"eventType": "*", "field": "totalAmount"},
                ),
                FaultSpec(
                    "event_late",
                    f"order events of {event_types} are sent `delayMs` milliseconds late",
                    "TIMEOUT + KAFKA_MESSAGE_NOT_FOUND when the assertion's timeout is shorter",
                    {"eventType": "*", "delayMs": 15000},
                ),
            ],
        )
        self.publisher = KafkaPublisher(
            settings.kafka_bootstrap, settings.kafka_topic, client_id="shop-orders", partitions=3
        )
        self.inventory_url = ""
        self.payment_url = ""
        self._client: httpx.AsyncClient | None = None
        self._late: set[asyncio.TimerHandle] = set()

    def set_peers(self, *, inventory_url: str, payment_url: str) -> None:
        """Hosts (scheme://host:port[/prefix]) of the services this one calls over HTTP."""
        self.inventory_url = inventory_url.rstrip("/") + INVENTORY_BASE
        self.payment_url = payment_url.rstrip("/") + PAYMENT_BASE

    async def start(self) -> None:
        await super().start()
        await self.publisher.start()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.peer_timeout_s),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            trust_env=False,
        )

    async def stop(self) -> None:
        for handle in self._late:
            handle.cancel()
        if self._client is not None:
            await self._client.aclose()
        await self.publisher.stop()
        await super().stop()

    def event_channels(self) -> dict[str, dict[str, Any]]:
        return {"kafka": self.publisher.health()}

    def handlers(self) -> Mapping[str, Handler]:
        return {
            "createOrder": self.create_order,
            "listOrders": self.list_orders,
            "getOrder": self.get_order,
            "cancelOrder": self.cancel_order,
            "markOrderPaid": self.mark_paid,
            "getOrderServiceHealth": self.health,
        }

    # ---- peers -----------------------------------------------------------------------------------

    async def _peer(self, method: str, url: str, what: str, call: Call, **kwargs: Any) -> httpx.Response:
        assert self._client is not None
        code = (
            "INVENTORY_UNAVAILABLE" if url.startswith(self.inventory_url) else "PAYMENT_SERVICE_UNAVAILABLE"
        )
        try:
            return await self._client.request(
                method, url, headers={"X-Correlation-Id": call.correlation_id}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ApiError(503, code, f"{what}: {type(exc).__name__} {exc}".strip()) from None

    @staticmethod
    def _unexpected(response: httpx.Response, what: str, code: str) -> ApiError:
        return ApiError(503, code, f"{what}: unexpected answer {response.status_code} {response.text[:200]}")

    # ---- events ----------------------------------------------------------------------------------

    def _publish(self, event_type: str, order: dict[str, Any], correlation_id: str, **extra: Any) -> None:
        def selected(fault: str) -> dict[str, Any] | None:
            params = self.faults.active(fault)
            return params if params is not None and params["eventType"] in ("*", event_type) else None

        if selected("event_not_published") is not None:
            return
        event = {
            "eventId": str(uuid.uuid4()),
            "eventType": event_type,
            "occurredAt": datetime.now(UTC).isoformat(),
            "orderId": order["id"],
            "customerId": order["customerId"],
            "status": order["status"],
            "currency": order["currency"],
            "totalAmount": float(order["totalAmount"]),
            "correlationId": correlation_id,
            **extra,
        }
        wrong = selected("event_wrong_field")
        if wrong is not None:
            field = wrong["field"]
            if field == "totalAmount":
                event["totalAmount"] = float(money(order["totalAmount"]) * 100)
            elif field == "status":
                event["status"] = "PENDING_PAYMENT" if order["status"] != "PENDING_PAYMENT" else "PAID"
            elif field in event and isinstance(event[field], str):
                event[field] = event[field][::-1] + "-x"
        headers = {
            "event-type": event_type,
            "event-id": event["eventId"],
            "correlation-id": correlation_id,
            "content-type": "application/json",
        }
        late = selected("event_late")
        if late is None:
            self.publisher.publish(order["id"], event, headers)
            return
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._late.discard(handle)
            self.publisher.publish(order["id"], event, headers)

        handle = asyncio.get_running_loop().call_later(float(late["delayMs"]) / 1000, fire)
        self._late.add(handle)

    # ---- operations ------------------------------------------------------------------------------

    async def create_order(self, call: Call) -> Result:
        body = call.body
        items = body["items"]
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item["sku"] in seen:
                raise ApiError(
                    422,
                    "DUPLICATE_SKU",
                    f"items[{i}].sku {item['sku']} repeats items[{seen[item['sku']]}]; give each SKU once",
                    details=[{"pointer": f"/items/{i}/sku", "message": "duplicate SKU"}],
                )
            seen[item["sku"]] = i
        fingerprint = request_hash(body)
        key = call.headers.get("Idempotency-Key")
        if key is not None:
            order_id = str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{body['customerId']}\n{key}"))
            existing = await self.run(self.db.transaction, lambda conn: load_order(conn, order_id))
            if existing is not None:
                return self._replay(existing, fingerprint, key)
        else:
            order_id = str(uuid.uuid4())

        response = await self._peer(
            "POST",
            f"{self.inventory_url}/reservations",
            "reserving stock with the inventory service",
            call,
            json={
                "orderId": order_id,
                "items": [{"sku": i["sku"], "quantity": i["quantity"]} for i in items],
            },
        )
        if response.status_code in (409, 422):
            error = response.json().get("error", {})
            if error.get("code") == "RESERVATION_CONFLICT":
                raise ApiError(
                    409, "IDEMPOTENCY_KEY_REUSED", f"Idempotency-Key {key!r} was used for a different order"
                )
            if error.get("code") in ("OUT_OF_STOCK", "UNKNOWN_SKU", "DUPLICATE_SKU"):
                extra = {"shortages": error["shortages"]} if "shortages" in error else {}
                raise ApiError(
                    response.status_code,
                    error["code"],
                    error["message"],
                    details=error.get("details"),
                    **extra,
                )
        if response.status_code not in (200, 201):
            raise self._unexpected(response, "reserving stock", "INVENTORY_UNAVAILABLE")
        reservation = response.json()
        prices = {line["sku"]: line for line in reservation["lines"]}
        lines = [
            {
                "sku": i["sku"],
                "name": prices[i["sku"]]["name"],
                "quantity": i["quantity"],
                "unitPrice": prices[i["sku"]]["unitPrice"],
            }
            for i in items
        ]
        subtotal, shipping, total = totals(
            lines, forget_shipping=self.faults.active("wrong_total") is not None
        )
        stamp = now()
        row = {
            "id": order_id,
            "customer_id": body["customerId"],
            "status": "PENDING_PAYMENT",
            "currency": body.get("currency", "EUR"),
            "subtotal_amount": subtotal,
            "shipping_amount": shipping,
            "total_amount": total,
            "reservation_id": reservation["id"],
            "payment_id": None,
            "cancel_reason": None,
            "note": body.get("note"),
            "correlation_id": call.correlation_id,
            "request_hash": fingerprint,
            "created_at": stamp,
            "updated_at": stamp,
        }
        item_rows = [
            {
                "order_id": order_id,
                "line_no": n,
                "sku": line["sku"],
                "name": line["name"],
                "quantity": line["quantity"],
                "unit_price": money(line["unitPrice"]),
                "line_total": money(money(line["unitPrice"]) * line["quantity"]),
            }
            for n, line in enumerate(lines, start=1)
        ]
        write_row = self.faults.active("row_missing") is None

        def store(conn: Connection) -> dict[str, Any] | None:
            if not write_row:
                return None
            if not insert_ignoring_conflicts(conn, orders, [row]):
                return load_order(conn, order_id)  # a concurrent retry with the same key stored it first
            conn.execute(sa.insert(order_items), item_rows)
            return None

        try:
            winner = await self.run(self.db.transaction, store)
        except Exception:
            await self._release(reservation["id"], call)  # do not keep stock for an order that does not exist
            raise
        if winner is not None:
            return self._replay(winner, fingerprint, key)
        order = order_json(_Row(row), [_Row(r) for r in item_rows])
        self._publish(
            "OrderCreated",
            order,
            call.correlation_id,
            reservationId=reservation["id"],
            items=[
                {"sku": i["sku"], "quantity": i["quantity"], "unitPrice": float(i["unitPrice"])}
                for i in order["items"]
            ],
        )
        return Result(201, order, {"Location": self.spec.url("getOrder", orderId=order_id)})

    def _replay(self, existing: dict[str, Any], fingerprint: str, key: str | None) -> Result:
        if existing["_hash"] != fingerprint:
            raise ApiError(
                409, "IDEMPOTENCY_KEY_REUSED", f"Idempotency-Key {key!r} was used for a different order"
            )
        return Result(
            201,
            public(existing),
            {"Location": self.spec.url("getOrder", orderId=existing["id"]), "Idempotent-Replayed": "true"},
        )

    async def _release(self, reservation_id: str, call: Call) -> None:
        response = await self._peer(
            "POST",
            f"{self.inventory_url}/reservations/{reservation_id}/release",
            "releasing the stock reservation",
            call,
        )
        if response.status_code != 200:
            raise self._unexpected(response, "releasing the stock reservation", "INVENTORY_UNAVAILABLE")

    async def list_orders(self, call: Call) -> Result:
        query = call.query

        def work(conn: Connection) -> dict[str, Any]:
            where = []
            if "customerId" in query:
                where.append(orders.c.customer_id == query["customerId"])
            if "status" in query:
                where.append(orders.c.status == query["status"])
            total = conn.execute(sa.select(sa.func.count()).select_from(orders).where(*where)).scalar_one()
            rows = conn.execute(
                sa.select(orders)
                .where(*where)
                .order_by(orders.c.created_at.desc(), orders.c.id)
                .limit(query["limit"])
                .offset(query["offset"])
            ).all()
            ids = [r.id for r in rows]
            items: dict[str, list[Any]] = {i: [] for i in ids}
            if ids:
                for item in conn.execute(
                    sa.select(order_items)
                    .where(order_items.c.order_id.in_(ids))
                    .order_by(order_items.c.line_no)
                ):
                    items[item.order_id].append(item)
            return {
                "items": [order_json(r, items[r.id]) for r in rows],
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
            }

        return Result(200, await self.run(self.db.transaction, work))

    async def _get(self, order_id: str) -> dict[str, Any]:
        order = await self.run(self.db.transaction, lambda conn: load_order(conn, order_id))
        if order is None:
            raise ApiError(404, "ORDER_NOT_FOUND", f"no order {order_id}")
        return order

    async def get_order(self, call: Call) -> Result:
        return Result(200, public(await self._get(call.path["orderId"])))

    def _move(self, order_id: str, source: str, target: str, **values: Any) -> bool:
        def work(conn: Connection) -> bool:
            moved = conn.execute(
                sa.update(orders)
                .where(orders.c.id == order_id, orders.c.status == source)
                .values(status=target, updated_at=now(), **values)
            ).rowcount
            return bool(moved)

        return self.db.transaction(work)

    async def cancel_order(self, call: Call) -> Result:
        order_id = call.path["orderId"]
        reason = (call.body or {}).get("reason", "CANCELLED_BY_CUSTOMER")
        order = await self._get(order_id)
        if order["status"] == "PENDING_PAYMENT" and await self.run(
            self._move, order_id, "PENDING_PAYMENT", "CANCELLING"
        ):
            try:
                await self._release(order["reservationId"], call)
            except ApiError:
                await self.run(self._move, order_id, "CANCELLING", "PENDING_PAYMENT")
                raise
            await self.run(lambda: self._move(order_id, "CANCELLING", "CANCELLED", cancel_reason=reason))
            order = await self._get(order_id)
            self._publish("OrderCancelled", order, call.correlation_id, reason=reason)
            return Result(200, public(order))
        order = await self._get(order_id)  # someone else moved it: answer from its state now
        if order["status"] == "CANCELLED":
            return Result(200, public(order))
        if order["status"] == "CANCELLING":
            raise ApiError(409, "ORDER_BUSY", f"order {order_id} is being cancelled by another request")
        raise ApiError(
            409, "ORDER_NOT_CANCELLABLE", f"order {order_id} is {order['status']} and cannot be cancelled"
        )

    async def mark_paid(self, call: Call) -> Result:
        order_id, payment_id = call.path["orderId"], call.body["paymentId"]
        order = await self._get(order_id)
        if order["status"] == "PAID":
            if order["paymentId"] == payment_id:
                return Result(200, public(order))
            raise ApiError(
                409, "ORDER_NOT_PAYABLE", f"order {order_id} is already paid by payment {order['paymentId']}"
            )
        if order["status"] != "PENDING_PAYMENT":
            raise ApiError(
                409, "ORDER_NOT_PAYABLE", f"order {order_id} is {order['status']} and cannot be paid"
            )
        response = await self._peer(
            "GET",
            f"{self.payment_url}/payments/{payment_id}",
            "reading the payment from the payment service",
            call,
        )
        if response.status_code == 404:
            raise ApiError(
                422,
                "UNKNOWN_PAYMENT",
                f"the payment service has no payment {payment_id}",
                details=[{"pointer": "/paymentId", "message": "unknown payment"}],
            )
        if response.status_code != 200:
            raise self._unexpected(response, "reading the payment", "PAYMENT_SERVICE_UNAVAILABLE")
        payment = response.json()
        if payment.get("orderId") != order_id:
            raise ApiError(
                409, "PAYMENT_MISMATCH", f"payment {payment_id} belongs to order {payment.get('orderId')}"
            )
        if payment.get("status") != "CAPTURED":
            raise ApiError(
                409, "PAYMENT_NOT_CAPTURED", f"payment {payment_id} is {payment.get('status')}, not CAPTURED"
            )
        if money(payment.get("amount", 0)) != money(order["totalAmount"]):
            raise ApiError(
                409,
                "PAYMENT_MISMATCH",
                f"payment {payment_id} captured {payment.get('amount')}, "
                f"the order totals {order['totalAmount']}",
            )
        if not await self.run(lambda: self._move(order_id, "PENDING_PAYMENT", "PAID", payment_id=payment_id)):
            order = await self._get(order_id)
            if order["status"] == "PAID" and order["paymentId"] == payment_id:
                return Result(200, public(order))
            raise ApiError(
                409, "ORDER_NOT_PAYABLE", f"order {order_id} is {order['status']} and cannot be paid"
            )
        order = await self._get(order_id)
        self._publish("OrderPaid", order, call.correlation_id, paymentId=payment_id)
        return Result(200, public(order))


class _Row:
    """Attribute access over a dict, so a just-inserted row reads like a fetched one."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
