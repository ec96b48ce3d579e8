"""Tenant bootstrap and principal resolution (the built-in development tenant of the embedded default)."""

from __future__ import annotations

from sqlmodel import Session, select

from orchestra_app.db.tables import Tenant, User, UserTenantRole
from orchestra_app.db.types import utcnow
from orchestra_app.domain.tenancy import DEV_TENANT_ID, DEV_USER_ID, Principal, Role, TenantSettings
from orchestra_app.services.concurrency import insert_ignore

DEV_TENANT_NAME = "Development tenant"
DEV_USER_NAME = "Development admin"


def ensure_dev_principal(*, session: Session) -> Principal:
    """Creates (once) the built-in development tenant and its ORG_ADMIN; returns that principal.

    Used only until an OIDC provider is configured; the UI marks it as a development identity. Safe
    when many requests arrive at once on a fresh database: each row is inserted with ON CONFLICT DO
    NOTHING, so the callers that lose the race simply find the row (no unique violation, no 500).
    """
    if not _dev_rows_exist(session):
        insert_ignore(
            session,
            Tenant,
            {
                "id": DEV_TENANT_ID,
                "name": DEV_TENANT_NAME,
                "settings": TenantSettings().to_json_dict(),
                "created_at": utcnow(),
            },
        )
        insert_ignore(
            session,
            User,
            {
                "id": DEV_USER_ID,
                "external_id": "dev-admin",
                "email": "dev-admin@localhost",
                "display_name": DEV_USER_NAME,
                "created_at": utcnow(),
            },
        )
        insert_ignore(
            session,
            UserTenantRole,
            {"user_id": DEV_USER_ID, "tenant_id": DEV_TENANT_ID, "role": Role.ORG_ADMIN},
        )
    return Principal(
        tenant_id=DEV_TENANT_ID,
        user_id=DEV_USER_ID,
        roles=frozenset({Role.ORG_ADMIN}),
        display_name=DEV_USER_NAME,
        is_development=True,
    )


def _dev_rows_exist(session: Session) -> bool:
    """Read-only fast path: every request resolves the principal, only the first one writes."""
    role = session.exec(
        select(UserTenantRole.role).where(
            UserTenantRole.user_id == DEV_USER_ID,
            UserTenantRole.tenant_id == DEV_TENANT_ID,
            UserTenantRole.role == Role.ORG_ADMIN,
        )
    ).first()
    return role is not None


def tenant_settings(*, session: Session, principal: Principal) -> TenantSettings:
    tenant = session.get(Tenant, principal.tenant_id)
    return TenantSettings.model_validate(tenant.settings if tenant else {})
