"""Every read use case is scoped by the principal's tenant (PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from orchestra_app.db.tables import (
    Environment,
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioSuite,
    Tenant,
    TestDataSet,
    TestRun,
    TestScenario,
    User,
    UserTenantRole,
)
from orchestra_app.domain.graph import SourceType
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import catalog
from orchestra_app.services.tenancy import ensure_dev_principal

pytestmark = pytest.mark.integration


def _seed_tenant(session: Session, name: str) -> Principal:
    tenant = Tenant(name=name)
    user = User(external_id=f"{name}-user", email=f"{name}@example.test", display_name=f"{name} designer")
    session.add_all([tenant, user])
    session.flush()
    session.add(UserTenantRole(user_id=user.id, tenant_id=tenant.id, role=Role.TEST_DESIGNER))
    proc = Process(tenant_id=tenant.id, key=f"{name}-order", name=f"{name} order flow")
    session.add(proc)
    session.flush()
    session.add(
        ProcessVersion(
            tenant_id=tenant.id,
            process_id=proc.id,
            version=1,
            source_type=SourceType.BPMN,
            control_flow_graph={"nodes": []},
        )
    )
    suite = ScenarioSuite(tenant_id=tenant.id, process_id=proc.id, process_version=1, name=f"{name} suite")
    session.add(suite)
    session.flush()
    scenario = TestScenario(tenant_id=tenant.id, suite_id=suite.id, key="S001", name=f"{name} happy path")
    session.add_all(
        [
            scenario,
            ProtocolSpec(
                tenant_id=tenant.id,
                protocol_id="http",
                service_name=f"{name}-svc",
                version="1",
                parsed_summary={
                    "protocol": "http",
                    "format": "openapi",
                    "operations": [{"id": "a", "method": "get", "path": "/a"}],
                },
            ),
            TestDataSet(tenant_id=tenant.id, name=f"{name} data", data={"amount": 1}),
            Environment(
                tenant_id=tenant.id, name=f"{name} env", services={"orders": {"baseUrl": "http://x"}}
            ),
        ]
    )
    session.flush()
    session.add(TestRun(tenant_id=tenant.id, scenario_id=scenario.id, scenario_version=1))
    session.flush()
    return Principal(tenant_id=tenant.id, user_id=user.id, roles=frozenset({Role.TEST_DESIGNER}))


def test_each_section_lists_only_the_callers_tenant(migrated_pg_engine: sa.Engine) -> None:
    with Session(migrated_pg_engine) as session:
        alpha = _seed_tenant(session, "alpha")
        beta = _seed_tenant(session, "beta")
        session.commit()

        queries = [
            catalog.list_processes,
            catalog.list_specs,
            catalog.list_suites,
            catalog.list_data_sets,
            catalog.list_environments,
            catalog.list_runs,
            catalog.list_members,
        ]
        for query in queries:
            a_page = query(session=session, principal=alpha)
            b_page = query(session=session, principal=beta)
            assert (a_page.total, b_page.total) == (1, 1), query.__name__
            a_rows, b_rows = a_page.items, b_page.items
            assert len(a_rows) == 1 and len(b_rows) == 1, query.__name__
            assert "beta" not in repr(a_rows) and "alpha" not in repr(b_rows), query.__name__

        stranger = Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), roles=frozenset())
        assert all(q(session=session, principal=stranger).items == [] for q in queries)
        assert all(q(session=session, principal=stranger).total == 0 for q in queries)


def test_dev_principal_is_created_once(migrated_pg_engine: sa.Engine) -> None:
    with Session(migrated_pg_engine) as session:
        first = ensure_dev_principal(session=session)
        session.commit()
        second = ensure_dev_principal(session=session)
        session.commit()
        assert first == second and first.is_development and Role.ORG_ADMIN in first.roles
        members = catalog.list_members(session=session, principal=first).items
        assert [m["role"] for m in members] == ["ORG_ADMIN"]
