"""Tenants, roles and the principal every use case receives (seed sections 4.1, 8 and 9.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from orchestra_app.domain.model import DomainModel


class Role(StrEnum):
    ORG_ADMIN = "ORG_ADMIN"
    TEST_DESIGNER = "TEST_DESIGNER"
    TEST_RUNNER = "TEST_RUNNER"
    VIEWER = "VIEWER"


class TenantSettings(DomainModel):
    """Per-tenant policies (seed 9.2), stored in tenant.settings."""

    default_run_retention_days: int = Field(default=90, ge=1)
    max_parallel_runs: int = Field(default=4, ge=1)
    max_scenarios_per_tenant: int = Field(default=10_000, ge=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: every service function receives one and scopes every query by tenant_id."""

    tenant_id: UUID
    user_id: UUID
    roles: frozenset[Role] = field(default_factory=frozenset)
    display_name: str = ""
    is_development: bool = False  # the built-in dev tenant/admin of the embedded default

    def has(self, *roles: Role) -> bool:
        return Role.ORG_ADMIN in self.roles or any(r in self.roles for r in roles)


# Stable ids of the built-in development tenant and admin (embedded default, until OIDC is configured).
DEV_TENANT_ID = UUID("00000000-0000-4000-8000-000000000001")
DEV_USER_ID = UUID("00000000-0000-4000-8000-000000000002")
