"""Payment service: card authorisation with idempotency keys, capture, status; messages to RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from examples.shop.api import ApiError, Call, Handler, Result
from examples.shop.db import Money, UtcDateTime, has_more_than_two_decimals, money, now
from examples.shop.events import AmqpPublisher
from examples.shop.faults import FaultSpec, generic_faults
from examples.shop.service import ServiceSettings, ShopService, request_hash

SCHEMA = "payments"
metadata = sa.MetaData()
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("order_id", sa.String(36), nullable=False, index=True),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("card_last4", sa.String(4), nullable=False),
    sa.Column("decline_reason", sa.String(32)),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("captured_at", UtcDateTime()),
    # Idempotency keys are scoped to the order: a retry of one order's authorisation meets its first try.
    sa.UniqueConstraint("order_id", "idempotency_key", name="uq_payments_order_key"),
    schema=SCHEMA,
)
# One live (authorised or captured) payment per order: the database refuses a second one.
sa.Index(
    "ux_payments_live_order",
    payments.c.order_id,
    unique=True,
    postgresql_where=payments.c.status.in_(["AUTHORISED", "CAPTURED"]),
    sqlite_where=payments.c.status.in_(["AUTHORISED", "CAPTURED"]),
)
payment_attempts = sa.Table(
    "payment_attempts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("order_id", sa.String(36), nullable=False, index=True),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # AUTHORISED | DECLINED | UNAVAILABLE
    sa.Column("payment_id", sa.String(36)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    schema=SCHEMA,
)

TRANSIENT_CARD = "4000000000000119"
DECLINING_CARDS = {"4000000000000002": "CARD_DECLINED", "4000000000009995": "INSUFFICIENT_FUNDS"}
DECLINE_MESSAGES = {
    "CARD_DECLINED": "the card was declined",
    "INSUFFICIENT_FUNDS": "the card has insufficient funds",
    "EXPIRED_CARD": "the card has expired",
    "AMOUNT_LIMIT_EXCEEDED": "the amount is above the payment limit",
}
ROUTING_KEYS = {
    "AUTHORISED": "payment.authorised",
    "DECLINED": "payment.declined",
    "CAPTURED": "payment.captured",
}
MESSAGE_TYPES = {
    "AUTHORISED": "PaymentAuthorised",
    "DECLINED": "PaymentDeclined",
    "CAPTURED": "PaymentCaptured",
}


def luhn_ok(number: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(number)):
        value = int(digit)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def payment_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "orderId": row.order_id,
        "amount": row.amount,
        "currency": row.currency,
        "status": row.status,
        "cardLast4": row.card_last4,
        "declineReason": row.decline_reason,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
        "capturedAt": row.captured_at,
    }


class PaymentService(ShopService):
    name = "payments"
    schema = SCHEMA
    spec_file = "payments.yaml"
    metadata = metadata

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(
            settings,
            [
                *generic_faults("authorisePayment", "status"),
                FaultSpec(
                    "row_missing",
                    "authorisations answer as usual but the payments row is not written",
                    "DB_ASSERTION_FAILED (no payments.payments row for the order)",
                ),
                FaultSpec(
                    "message_not_published",
                    "payment messages of `messageType` (or all: *) are not sent to RabbitMQ",
                    "QUEUE_MESSAGE_NOT_FOUND",
                    {"messageType": "*"},
                ),
                FaultSpec(
                    "message_wrong_correlation",
                    "payment messages carry the payment id instead of the order id as correlation_id",
                    "QUEUE_MESSAGE_NOT_FOUND (nothing with the order's correlation id)",
                    {"messageType": "*"},
                ),
                FaultSpec(
                    "message_late",
                    "payment messages are sent `delayMs` milliseconds late",
                    "QUEUE_MESSAGE_NOT_FOUND / TIMEOUT when the assertion's timeout is shorter",
                    {"messageType": "*", "delayMs": 15000},
                ),
            ],
        )
        self.limit = Decimal(settings.payment_limit)
        self.publisher = AmqpPublisher(
            settings.amqp_url, settings.amqp_exchange, queue_name=settings.amqp_queue, app_id="shop-payments"
        )
        self._late: set[asyncio.TimerHandle] = set()

    async def start(self) -> None:
        await super().start()
        await self.publisher.start()

    async def stop(self) -> None:
        for handle in self._late:
            handle.cancel()
        await self.publisher.stop()
        await super().stop()

    def event_channels(self) -> dict[str, dict[str, Any]]:
        return {"rabbitmq": self.publisher.health()}

    def handlers(self) -> Mapping[str, Handler]:
        return {
            "authorisePayment": self.authorise,
            "listPayments": self.list_payments,
            "getPaymentStatus": self.get_payment,
            "capturePayment": self.capture,
            "getPaymentServiceHealth": self.health,
        }

    # ---- messages --------------------------------------------------------------------------------

    def _publish(self, payment: dict[str, Any], correlation_id: str) -> None:
        status = payment["status"]
        message_type = MESSAGE_TYPES[status]

        def selected(fault: str) -> dict[str, Any] | None:
            params = self.faults.active(fault)
            return params if params is not None and params["messageType"] in ("*", message_type) else None

        if selected("message_not_published") is not None:
            return
        body = {
            "messageId": str(uuid.uuid4()),
            "type": message_type,
            "occurredAt": datetime.now(UTC).isoformat(),
            "paymentId": payment["id"],
            "orderId": payment["orderId"],
            "amount": float(payment["amount"]),
            "currency": payment["currency"],
            "status": status,
            "declineReason": payment["declineReason"],
            "correlationId": correlation_id,
        }
        amqp_correlation = payment["id"] if selected("message_wrong_correlation") else payment["orderId"]

        def send() -> None:
            self.publisher.publish(
                ROUTING_KEYS[status],
                body,
                correlation_id=amqp_correlation,
                message_id=body["messageId"],
                message_type=message_type,
                headers={"x-correlation-id": correlation_id},
            )

        late = selected("message_late")
        if late is None:
            send()
            return
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._late.discard(handle)
            send()

        handle = asyncio.get_running_loop().call_later(float(late["delayMs"]) / 1000, fire)
        self._late.add(handle)

    # ---- operations ------------------------------------------------------------------------------

    async def authorise(self, call: Call) -> Result:
        body = call.body
        card = body["card"]
        key = call.headers["Idempotency-Key"]
        if has_more_than_two_decimals(body["amount"]):
            raise ApiError(
                422,
                "INVALID_AMOUNT",
                "amount has more than two decimals",
                details=[{"pointer": "/amount", "message": "at most two decimals"}],
            )
        if not luhn_ok(card["number"]):
            raise ApiError(
                422,
                "INVALID_CARD_NUMBER",
                "card number fails the Luhn check",
                details=[{"pointer": "/card/number", "message": "fails the Luhn check"}],
            )
        fingerprint = request_hash(body)
        amount = money(body["amount"])
        order_id = body["orderId"]
        today = datetime.now(UTC)
        expired = (card["expiryYear"], card["expiryMonth"]) < (today.year, today.month)
        make_row = self.faults.active("row_missing") is None

        def work(conn: Connection) -> tuple[str, Any]:
            prior = conn.execute(
                sa.select(payments).where(payments.c.order_id == order_id, payments.c.idempotency_key == key)
            ).first()
            if prior is not None:
                return "replay", prior
            stamp = now()
            attempt = {
                "id": str(uuid.uuid4()),
                "order_id": order_id,
                "idempotency_key": key,
                "created_at": stamp,
            }
            if card["number"] == TRANSIENT_CARD:
                failures = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(payment_attempts)
                    .where(
                        payment_attempts.c.order_id == order_id, payment_attempts.c.outcome == "UNAVAILABLE"
                    )
                ).scalar_one()
                if failures < self.settings.transient_failures:
                    conn.execute(sa.insert(payment_attempts).values(**attempt, outcome="UNAVAILABLE"))
                    return "unavailable", None
            reason = None
            if expired:
                reason = "EXPIRED_CARD"
            elif amount > self.limit:
                reason = "AMOUNT_LIMIT_EXCEEDED"
            else:
                reason = DECLINING_CARDS.get(card["number"])
            row = {
                "id": str(uuid.uuid4()),
                "order_id": order_id,
                "amount": amount,
                "currency": body["currency"],
                "status": "DECLINED" if reason else "AUTHORISED",
                "card_last4": card["number"][-4:],
                "decline_reason": reason,
                "idempotency_key": key,
                "request_hash": fingerprint,
                "correlation_id": call.correlation_id,
                "created_at": stamp,
                "updated_at": stamp,
                "captured_at": None,
            }
            if make_row:
                conn.execute(sa.insert(payments).values(**row))
            conn.execute(
                sa.insert(payment_attempts).values(**attempt, outcome=row["status"], payment_id=row["id"])
            )
            return "new", _RowView(row)

        try:
            outcome, row = await self.run(self.db.transaction, work)
        except sa.exc.IntegrityError:
            # A concurrent request with this key won (replay it), or the order already has a live payment.
            def again(conn: Connection) -> Any:
                return conn.execute(
                    sa.select(payments).where(
                        payments.c.order_id == order_id, payments.c.idempotency_key == key
                    )
                ).first()

            row = await self.run(self.db.transaction, again)
            if row is None:
                raise ApiError(
                    409, "PAYMENT_EXISTS", f"order {order_id} already has an authorised or captured payment"
                ) from None
            outcome = "replay"
        if outcome == "unavailable":
            raise ApiError(
                503,
                "PAYMENT_PROVIDER_UNAVAILABLE",
                "the card network did not answer; retry the same request",
                headers={"Retry-After": "1"},
                retryAfterSeconds=1,
            )
        replay = outcome == "replay"
        if replay and row.request_hash != fingerprint:
            raise ApiError(
                409, "IDEMPOTENCY_KEY_REUSED", f"Idempotency-Key {key!r} was used for a different request"
            )
        payment = payment_json(row)
        headers = {"Idempotent-Replayed": "true"} if replay else {}
        if not replay:
            self._publish(payment, call.correlation_id)
        if payment["status"] == "DECLINED":
            reason = payment["declineReason"]
            raise ApiError(
                402,
                "PAYMENT_DECLINED",
                DECLINE_MESSAGES[reason],
                headers=headers,
                declineReason=reason,
                paymentId=payment["id"],
            )
        headers["Location"] = self.spec.url("getPaymentStatus", paymentId=payment["id"])
        return Result(201, payment, headers)

    async def list_payments(self, call: Call) -> Result:
        order_id = call.query["orderId"]

        def work(conn: Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                sa.select(payments)
                .where(payments.c.order_id == order_id)
                .order_by(payments.c.created_at, payments.c.id)
            )
            return [payment_json(r) for r in rows]

        return Result(200, {"items": await self.run(self.db.transaction, work)})

    async def get_payment(self, call: Call) -> Result:
        payment_id = call.path["paymentId"]

        def work(conn: Connection) -> Any:
            return conn.execute(sa.select(payments).where(payments.c.id == payment_id)).first()

        row = await self.run(self.db.transaction, work)
        if row is None:
            raise ApiError(404, "PAYMENT_NOT_FOUND", f"no payment {payment_id}")
        return Result(200, payment_json(row))

    async def capture(self, call: Call) -> Result:
        payment_id = call.path["paymentId"]

        def work(conn: Connection) -> tuple[bool, Any]:
            stamp = now()
            moved = conn.execute(
                sa.update(payments)
                .where(payments.c.id == payment_id, payments.c.status == "AUTHORISED")
                .values(status="CAPTURED", captured_at=stamp, updated_at=stamp)
            ).rowcount
            row = conn.execute(sa.select(payments).where(payments.c.id == payment_id)).first()
            return bool(moved), row

        moved, row = await self.run(self.db.transaction, work)
        if row is None:
            raise ApiError(404, "PAYMENT_NOT_FOUND", f"no payment {payment_id}")
        if row.status == "DECLINED":
            raise ApiError(
                409, "INVALID_PAYMENT_STATE", f"payment {payment_id} was declined and cannot be captured"
            )
        payment = payment_json(row)
        if moved:
            self._publish(payment, call.correlation_id)
        return Result(200, payment)


class _RowView:
    """Attribute access over a dict, so a just-inserted row reads like a fetched one."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
