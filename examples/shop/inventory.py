"""Inventory service: stock levels per SKU and all-or-nothing stock reservations for orders."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from examples.shop.api import ApiError, Call, Handler, Result
from examples.shop.db import Money, UtcDateTime, has_more_than_two_decimals, money, now
from examples.shop.faults import FaultSpec, generic_faults
from examples.shop.service import ServiceSettings, ShopService, insert_ignoring_conflicts

SCHEMA = "inventory"
metadata = sa.MetaData()
stock_items = sa.Table(
    "stock_items",
    metadata,
    sa.Column("sku", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_price", Money(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("on_hand", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("on_hand >= 0", name="ck_stock_on_hand"),
    sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="ck_stock_reserved"),
    schema=SCHEMA,
)
reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("order_id", sa.String(36), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    schema=SCHEMA,
)
reservation_lines = sa.Table(
    "reservation_lines",
    metadata,
    sa.Column("reservation_id", sa.String(36), sa.ForeignKey(reservations.c.id), primary_key=True),
    sa.Column("sku", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", Money(), nullable=False),
    schema=SCHEMA,
)

# The demo catalogue, written on first start (existing rows are left alone).
CATALOGUE: list[tuple[str, str, str, int]] = [
    ("SKU-1001", "Espresso beans 1 kg", "24.90", 100),
    ("SKU-1002", "Milk frother", "59.00", 25),
    ("SKU-1003", "Ceramic cup", "8.50", 500),
    ("SKU-1004", "Burr grinder (limited edition)", "349.00", 3),
    ("SKU-1005", "Gooseneck kettle", "39.00", 0),
    ("SKU-1006", "Barista course voucher", "1200.00", 50),
]


def stock_json(row: Any) -> dict[str, Any]:
    return {
        "sku": row.sku,
        "name": row.name,
        "unitPrice": row.unit_price,
        "currency": row.currency,
        "onHand": row.on_hand,
        "reserved": row.reserved,
        "available": row.on_hand - row.reserved,
        "updatedAt": row.updated_at,
    }


class InventoryService(ShopService):
    name = "inventory"
    schema = SCHEMA
    spec_file = "inventory.yaml"
    metadata = metadata

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(
            settings,
            [
                *generic_faults("getStockLevel", "available", wrong_status=500),
                FaultSpec(
                    "stock_not_released",
                    "releasing a reservation marks it RELEASED but leaves the stock reserved",
                    "DB_ASSERTION_FAILED (inventory.stock_items.reserved not back to its value); "
                    "BUSINESS_RULE_VIOLATION when getStockLevel's `available` is asserted",
                ),
            ],
        )

    async def start(self) -> None:
        await super().start()
        await self.run(self._seed)

    def _seed(self) -> None:
        stamp = now()
        rows = [
            {
                "sku": sku,
                "name": name,
                "unit_price": Decimal(price),
                "currency": "EUR",
                "on_hand": on_hand,
                "reserved": 0,
                "updated_at": stamp,
            }
            for sku, name, price, on_hand in CATALOGUE
        ]
        self.db.transaction(lambda conn: insert_ignoring_conflicts(conn, stock_items, rows))

    def handlers(self) -> Mapping[str, Handler]:
        return {
            "listStockLevels": self.list_stock,
            "getStockLevel": self.get_stock,
            "setStockLevel": self.set_stock,
            "reserveStock": self.reserve,
            "getStockReservation": self.get_reservation,
            "confirmStockReservation": self.confirm,
            "releaseStockReservation": self.release,
            "getInventoryServiceHealth": self.health,
        }

    # ---- stock -----------------------------------------------------------------------------------

    async def list_stock(self, call: Call) -> Result:
        limit, offset = call.query["limit"], call.query["offset"]

        def work(conn: Connection) -> dict[str, Any]:
            total = conn.execute(sa.select(sa.func.count()).select_from(stock_items)).scalar_one()
            rows = conn.execute(
                sa.select(stock_items).order_by(stock_items.c.sku).limit(limit).offset(offset)
            )
            return {"items": [stock_json(r) for r in rows], "total": total}

        return Result(200, await self.run(self.db.transaction, work))

    async def get_stock(self, call: Call) -> Result:
        sku = call.path["sku"]

        def work(conn: Connection) -> Any:
            return conn.execute(sa.select(stock_items).where(stock_items.c.sku == sku)).first()

        row = await self.run(self.db.transaction, work)
        if row is None:
            raise ApiError(404, "SKU_NOT_FOUND", f"no stock item {sku}")
        return Result(200, stock_json(row))

    async def set_stock(self, call: Call) -> Result:
        sku, body = call.path["sku"], call.body
        if has_more_than_two_decimals(body["unitPrice"]):
            raise ApiError(
                422,
                "INVALID_AMOUNT",
                "unitPrice has more than two decimals",
                details=[{"pointer": "/unitPrice", "message": "at most two decimals"}],
            )
        values = {"name": body["name"], "unit_price": money(body["unitPrice"]), "on_hand": body["onHand"]}

        def work(conn: Connection) -> tuple[int, Any]:
            stamp = now()
            updated = conn.execute(
                sa.update(stock_items)
                .where(stock_items.c.sku == sku, stock_items.c.reserved <= body["onHand"])
                .values(**values, updated_at=stamp)
            ).rowcount
            status = 200
            if not updated:
                current = conn.execute(
                    sa.select(stock_items.c.reserved).where(stock_items.c.sku == sku)
                ).first()
                if current is not None:
                    raise ApiError(
                        409,
                        "BELOW_RESERVED",
                        f"onHand {body['onHand']} is below the {current.reserved} reserved for open orders"
                        f" of {sku}",
                    )
                inserted = insert_ignoring_conflicts(
                    conn,
                    stock_items,
                    [{"sku": sku, **values, "currency": "EUR", "reserved": 0, "updated_at": stamp}],
                )
                if not inserted:
                    raise ApiError(
                        409, "CONCURRENT_UPDATE", f"{sku} was created concurrently; repeat the request"
                    )
                status = 201
            return status, conn.execute(sa.select(stock_items).where(stock_items.c.sku == sku)).one()

        status, row = await self.run(self.db.transaction, work)
        return Result(status, stock_json(row))

    # ---- reservations ----------------------------------------------------------------------------

    async def reserve(self, call: Call) -> Result:
        order_id, items = call.body["orderId"], call.body["items"]
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
        wanted = {item["sku"]: item["quantity"] for item in items}

        def work(conn: Connection) -> tuple[int, dict[str, Any]]:
            existing = conn.execute(
                sa.select(reservations).where(reservations.c.order_id == order_id)
            ).first()
            if existing is not None:
                found = self._reservation_json(conn, existing)
                if {line["sku"]: line["quantity"] for line in found["lines"]} != wanted:
                    raise ApiError(
                        409,
                        "RESERVATION_CONFLICT",
                        f"order {order_id} already holds a reservation with other lines",
                    )
                return 200, found
            stamp = now()
            lines: list[dict[str, Any]] = []
            unknown: list[tuple[int, str]] = []
            shortages: list[dict[str, Any]] = []
            # Lock rows in one global order (by SKU) so concurrent multi-line orders cannot deadlock.
            for sku in sorted(wanted):
                quantity = wanted[sku]
                row = conn.execute(
                    sa.update(stock_items)
                    .where(
                        stock_items.c.sku == sku, stock_items.c.on_hand - stock_items.c.reserved >= quantity
                    )
                    .values(reserved=stock_items.c.reserved + quantity, updated_at=stamp)
                    .returning(stock_items.c.name, stock_items.c.unit_price)
                ).first()
                if row is not None:
                    lines.append(
                        {"sku": sku, "name": row.name, "quantity": quantity, "unit_price": row.unit_price}
                    )
                    continue
                current = conn.execute(
                    sa.select(stock_items.c.on_hand, stock_items.c.reserved).where(stock_items.c.sku == sku)
                ).first()
                if current is None:
                    unknown.append((seen[sku], sku))
                else:
                    available = current.on_hand - current.reserved
                    shortages.append({"sku": sku, "requested": quantity, "available": available})
            if unknown:  # raising rolls the whole reservation back
                raise ApiError(
                    422,
                    "UNKNOWN_SKU",
                    "unknown SKU " + ", ".join(f"{sku} (items[{i}])" for i, sku in sorted(unknown)),
                    details=[
                        {"pointer": f"/items/{i}/sku", "message": f"unknown SKU {sku}"}
                        for i, sku in sorted(unknown)
                    ],
                )
            if shortages:
                raise ApiError(
                    409,
                    "OUT_OF_STOCK",
                    "not enough stock for "
                    + ", ".join(
                        f"{s['sku']}: {s['requested']} requested, {s['available']} available"
                        for s in shortages
                    ),
                    shortages=shortages,
                )
            reservation_id = str(uuid.uuid4())
            conn.execute(
                sa.insert(reservations).values(
                    id=reservation_id,
                    order_id=order_id,
                    status="RESERVED",
                    correlation_id=call.correlation_id,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            conn.execute(
                sa.insert(reservation_lines), [{"reservation_id": reservation_id, **line} for line in lines]
            )
            row = conn.execute(sa.select(reservations).where(reservations.c.id == reservation_id)).one()
            return 201, self._reservation_json(conn, row)

        for attempt in range(3):
            try:
                status, body = await self.run(self.db.transaction, work)
                break
            except sa.exc.IntegrityError:
                # Another request reserved for the same order at the same moment: its row now exists.
                if attempt == 2:
                    raise
        headers = (
            {"Location": self.spec.url("getStockReservation", reservationId=body["id"])}
            if status == 201
            else {}
        )
        return Result(status, body, headers)

    @staticmethod
    def _reservation_json(conn: Connection, row: Any) -> dict[str, Any]:
        lines = conn.execute(
            sa.select(reservation_lines)
            .where(reservation_lines.c.reservation_id == row.id)
            .order_by(reservation_lines.c.sku)
        )
        return {
            "id": row.id,
            "orderId": row.order_id,
            "status": row.status,
            "lines": [
                {"sku": line.sku, "name": line.name, "quantity": line.quantity, "unitPrice": line.unit_price}
                for line in lines
            ],
            "createdAt": row.created_at,
            "updatedAt": row.updated_at,
        }

    def _load(self, conn: Connection, reservation_id: str) -> Any:
        row = conn.execute(sa.select(reservations).where(reservations.c.id == reservation_id)).first()
        if row is None:
            raise ApiError(404, "RESERVATION_NOT_FOUND", f"no reservation {reservation_id}")
        return row

    async def get_reservation(self, call: Call) -> Result:
        reservation_id = call.path["reservationId"]

        def work(conn: Connection) -> dict[str, Any]:
            return self._reservation_json(conn, self._load(conn, reservation_id))

        return Result(200, await self.run(self.db.transaction, work))

    async def confirm(self, call: Call) -> Result:
        reservation_id = call.path["reservationId"]

        def work(conn: Connection) -> dict[str, Any]:
            stamp = now()
            moved = conn.execute(
                sa.update(reservations)
                .where(reservations.c.id == reservation_id, reservations.c.status == "RESERVED")
                .values(status="CONFIRMED", updated_at=stamp)
            ).rowcount
            row = self._load(conn, reservation_id)
            if moved:
                for line in conn.execute(
                    sa.select(reservation_lines).where(reservation_lines.c.reservation_id == reservation_id)
                ):
                    conn.execute(
                        sa.update(stock_items)
                        .where(stock_items.c.sku == line.sku)
                        .values(
                            on_hand=stock_items.c.on_hand - line.quantity,
                            reserved=stock_items.c.reserved - line.quantity,
                            updated_at=stamp,
                        )
                    )
            elif row.status == "RELEASED":
                raise ApiError(409, "RESERVATION_RELEASED", f"reservation {reservation_id} was released")
            return self._reservation_json(conn, row)

        return Result(200, await self.run(self.db.transaction, work))

    async def release(self, call: Call) -> Result:
        reservation_id = call.path["reservationId"]
        keep_stock = self.faults.active("stock_not_released") is not None

        def work(conn: Connection) -> dict[str, Any]:
            stamp = now()
            row = self._load(conn, reservation_id)
            if row.status != "RELEASED":
                moved = conn.execute(
                    sa.update(reservations)
                    .where(reservations.c.id == reservation_id, reservations.c.status == row.status)
                    .values(status="RELEASED", updated_at=stamp)
                ).rowcount
                if moved and not keep_stock:
                    for line in conn.execute(
                        sa.select(reservation_lines).where(
                            reservation_lines.c.reservation_id == reservation_id
                        )
                    ):
                        change = (
                            {"reserved": stock_items.c.reserved - line.quantity}
                            if row.status == "RESERVED"
                            else {
                                "on_hand": stock_items.c.on_hand + line.quantity
                            }  # confirmed: back on the shelf
                        )
                        conn.execute(
                            sa.update(stock_items)
                            .where(stock_items.c.sku == line.sku)
                            .values(**change, updated_at=stamp)
                        )
                row = self._load(conn, reservation_id)
            return self._reservation_json(conn, row)

        return Result(200, await self.run(self.db.transaction, work))
