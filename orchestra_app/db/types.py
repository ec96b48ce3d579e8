"""Column types that work on PostgreSQL (jsonb) and SQLite (JSON) alike."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# none_as_null: a Python None is stored as SQL NULL (not JSON null), so IS NULL queries mean "unset".
JSONB_OR_JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)


def json_column(*, nullable: bool = False) -> Any:
    return sa.Column(JSONB_OR_JSON, nullable=nullable)


def enum_type(enum_cls: type[Enum]) -> sa.Enum:
    # VARCHAR-backed so migrations stay portable; values are the seed's upper-case names.
    return sa.Enum(enum_cls, native_enum=False, length=32, validate_strings=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
