"""Tenant bootstrap and principal resolution (the built-in development tenant of the embedded default)."""

from __future__ import annotations

from sqlmodel import Session, select

from orchestra_app.db.tables import Tenant, User, UserTenantRole
from orchestra_app.domain.tenancy import DEV_TENANT_ID, DEV_USER_ID, Principal, Role, TenantSettings

DEV_TENANT_NAME = "Development tenant"
DEV_USER_NAME = "Development admin"


def ensure_dev_principal(*, session: Session) -> Principal:
    """Creates (once) the built-in development tenant and its ORG_ADMIN; returns that principal.

    Used only until an OIDC provider is configured; the UI marks it as a development identity.
    """
    if session.get(Tenant, DEV_TENANT_ID) is None:
        session.add(Tenant(id=DEV_TENANT_ID, name=DEV_TENANT_NAME, settings=TenantSettings().to_json_dict()))
        session.flush()
    if session.get(User, DEV_USER_ID) is None:
        session.add(
            User(
                id=DEV_USER_ID,
                external_id="dev-admin",
                email="dev-admin@localhost",
                display_name=DEV_USER_NAME,
            )
        )
        session.flush()
    roles = session.exec(
        select(UserTenantRole).where(
            UserTenantRole.user_id == DEV_USER_ID, UserTenantRole.tenant_id == DEV_TENANT_ID
        )
    ).all()
    if not roles:
        session.add(UserTenantRole(user_id=DEV_USER_ID, tenant_id=DEV_TENANT_ID, role=Role.ORG_ADMIN))
        session.flush()
    return Principal(
        tenant_id=DEV_TENANT_ID,
        user_id=DEV_USER_ID,
        roles=frozenset({Role.ORG_ADMIN}),
        display_name=DEV_USER_NAME,
        is_development=True,
    )


def tenant_settings(*, session: Session, principal: Principal) -> TenantSettings:
    tenant = session.get(Tenant, principal.tenant_id)
    return TenantSettings.model_validate(tenant.settings if tenant else {})
