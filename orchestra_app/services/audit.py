"""Audit log writer: one row per state-changing use case."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from orchestra_app.db.tables import AuditLog
from orchestra_app.domain.tenancy import Principal


def record(
    *,
    session: Session,
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            details=details or {},
        )
    )
