"""Process and spec import use cases on PostgreSQL: versions, suites, steps, errors that store nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from orchestra_app.db.tables import (
    AuditLog,
    Process,
    ProcessVersion,
    ProtocolSpec,
    ScenarioStep,
    ScenarioSuite,
    TestScenario,
)
from orchestra_app.domain.errors import OrchestraError, PermissionDenied
from orchestra_app.domain.steps import StepKind
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import artifacts, processes, specs
from orchestra_app.services.tenancy import ensure_dev_principal

pytestmark = pytest.mark.integration
APP = Path(__file__).resolve().parents[1] / "fixtures" / "app"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from orchestra_app.settings import get_settings

    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _count(session: Session, model: type) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def test_bpmn_import_creates_version_suite_and_steps(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    data = (APP / "order.bpmn").read_bytes()
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        first = processes.import_process(
            session=session, principal=principal, data=data, filename="order.bpmn"
        )
        session.commit()
        second = processes.import_process(
            session=session, principal=principal, data=data, filename="order.bpmn"
        )
        session.commit()

        assert (first.process_key, first.version, second.version) == ("order", 1, 2)
        assert first.process_id == second.process_id
        assert first.summary["nodes"] == 9 and first.summary["flows"] == 9
        assert first.coverage["flowsCovered"] == first.coverage["flowsTotal"] == 9
        assert first.scenario_count >= 2
        assert _count(session, Process) == 1 and _count(session, ProcessVersion) == 2
        assert _count(session, ScenarioSuite) == 2

        version = session.get(ProcessVersion, first.version_id)
        assert version is not None
        assert version.control_flow_graph["nodes"][0]["id"] == "start"
        assert artifacts.load(version.source_uri, root=data_dir) == data

        scenarios = session.exec(select(TestScenario).where(TestScenario.suite_id == first.suite_id)).all()
        names = " | ".join(s.name for s in scenarios)
        assert all(s.tenant_id == principal.tenant_id for s in scenarios)
        assert any("flow_rejected" in s.path["flows"] for s in scenarios), names
        assert any("flow_retry" in s.path["flows"] for s in scenarios), names
        steps = session.exec(
            select(ScenarioStep)
            .where(ScenarioStep.scenario_id == scenarios[0].id)
            .order_by(ScenarioStep.order_index)
        ).all()
        assert steps and steps[0].kind == StepKind.ACTION and steps[0].source_node_id == "create_order"
        assert steps[0].action["meta"].get("operation") == "createOrder"

        detail = processes.version_detail(session=session, principal=principal, version_id=first.version_id)
        assert len(detail["scenarios"]) == first.scenario_count
        audit = session.exec(select(AuditLog).where(AuditLog.action == "process.import")).all()
        assert len(audit) == 2


def test_sequence_diagram_import(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        result = processes.import_process(
            session=session,
            principal=principal,
            data=(APP / "checkout.mmd").read_bytes(),
            filename="checkout.mmd",
        )
        session.commit()
        assert result.summary["sourceType"] == "SEQUENCE"
        assert result.scenario_count >= 2  # alt: accepted and declined


def test_bad_input_stores_nothing_and_names_the_file(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        processes.import_process(
            session=session,
            principal=principal,
            data=(APP / "order.bpmn").read_bytes(),
            filename="order.bpmn",
        )
        session.commit()
        before = (_count(session, ProcessVersion), _count(session, TestScenario))
        truncated = (APP / "order.bpmn").read_bytes()[:330]  # cut inside the process, before any node
        for name, data in (("garbage.txt", (APP / "garbage.txt").read_bytes()), ("order.bpmn", truncated)):
            with pytest.raises(OrchestraError) as err:
                processes.import_process(session=session, principal=principal, data=data, filename=name)
            session.rollback()
            assert name in str(err.value)
        assert (_count(session, ProcessVersion), _count(session, TestScenario)) == before


def test_viewer_cannot_import(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    with Session(migrated_pg_engine) as session:
        ensure_dev_principal(session=session)
        viewer = Principal(
            tenant_id=ensure_dev_principal(session=session).tenant_id,
            user_id=uuid.uuid4(),
            roles=frozenset({Role.VIEWER}),
        )
        with pytest.raises(PermissionDenied):
            processes.import_process(
                session=session,
                principal=viewer,
                data=(APP / "order.bpmn").read_bytes(),
                filename="order.bpmn",
            )


def test_spec_import_versions_and_idempotence(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    data = (APP / "orders-api.yaml").read_bytes()
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        first = specs.import_spec(session=session, principal=principal, data=data, filename="orders-api.yaml")
        again = specs.import_spec(session=session, principal=principal, data=data, filename="orders-api.yaml")
        changed = specs.import_spec(
            session=session,
            principal=principal,
            data=data.replace(b"Create an order", b"Create one order"),
            filename="orders-api.yaml",
        )
        session.commit()
        assert (first.protocol_id, first.service_name, first.version, first.operations) == (
            "http",
            "orders-api",
            "1.2.0",
            2,
        )
        assert again.spec_id == first.spec_id and not again.created
        assert changed.version == "1.2.0+r2" and changed.created
        assert _count(session, ProtocolSpec) == 2
        ops = specs.spec_operations(session=session, principal=principal, spec_id=first.spec_id)
        assert [(o["id"], o["method"]) for o in ops] == [("createOrder", "POST"), ("getOrder", "GET")]
        with pytest.raises(OrchestraError) as err:
            specs.import_spec(
                session=session, principal=principal, data=b"openapi: [unclosed", filename="broken.yaml"
            )
        assert "broken.yaml" in str(err.value)


def test_bind_suite_stores_endpoint_refs_and_templates(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    from orchestra_app.services.binding import bind_suite

    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        imported = processes.import_process(
            session=session,
            principal=principal,
            data=(APP / "order.bpmn").read_bytes(),
            filename="order.bpmn",
        )
        spec_ids = [
            specs.import_spec(
                session=session, principal=principal, data=(APP / name).read_bytes(), filename=name
            ).spec_id
            for name in ("orders-api.yaml", "payments-api.json")
        ]
        session.commit()

        rows = bind_suite(
            session=session,
            principal=principal,
            suite_id=imported.suite_id,
            spec_ids=spec_ids,
            overrides={"ship": "orders-api:getOrder"},
        )
        session.commit()
        verdicts = {r.node_id: (r.status, r.service, r.operation) for r in rows}
        assert verdicts["create_order"] == ("EXPLICIT", "orders-api", "createOrder")
        assert verdicts["charge"] == ("MATCHED", "payments-api", "chargePayment")
        assert verdicts["ship"] == ("EXPLICIT", "orders-api", "getOrder")
        assert verdicts["notify_rejected"][0] == "UNMATCHED"

        charge_steps = session.exec(select(ScenarioStep).where(ScenarioStep.source_node_id == "charge")).all()
        assert charge_steps and all(
            s.endpoint_ref
            == {"protocolId": "http", "serviceName": "payments-api", "endpointName": "chargePayment"}
            for s in charge_steps
        )
        template = charge_steps[0].action["inputTemplate"]
        assert template["method"].upper() == "POST" and template["path"] == "/payments"
        # orderId is chained to the order the earlier "Create order" step created (plugins/chaining.py)
        assert template["json"] == {
            "orderId": "{{step.create_order.response.body.id}}",
            "amount": "{{data.amount}}",
        }
        unbound = session.exec(
            select(ScenarioStep).where(ScenarioStep.source_node_id == "notify_rejected")
        ).all()
        assert unbound and all(s.endpoint_ref is None for s in unbound)
        assert sum(r.steps_updated for r in rows) == len(
            session.exec(select(ScenarioStep).where(ScenarioStep.endpoint_ref.is_not(None))).all()  # type: ignore[union-attr]
        )


def test_invalid_jsonb_is_refused_before_it_is_stored(migrated_pg_engine: sa.Engine) -> None:
    from orchestra_app.db.tables import ScenarioStep as StepRow
    from orchestra_app.domain.errors import ValidationFailed
    from orchestra_app.domain.graph import SourceType

    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        proc = Process(tenant_id=principal.tenant_id, key="bad", name="bad")
        session.add(proc)
        session.commit()
        session.add(
            ProcessVersion(
                tenant_id=principal.tenant_id,
                process_id=proc.id,
                version=1,
                source_type=SourceType.BPMN,
                control_flow_graph={"nodes": [{"id": "a", "type": "task"}]},
            )
        )
        with pytest.raises(ValidationFailed) as err:
            session.flush()
        assert err.value.field == "process_version.control_flow_graph"
        assert err.value.pointer == "/nodes/0/processId" and "Field required" in str(err.value)
        session.rollback()
        assert _count(session, ProcessVersion) == 0

        step = StepRow(
            tenant_id=principal.tenant_id,
            scenario_id=uuid.uuid4(),
            order_index=0,
            alias="a",
            kind=StepKind.ACTION,
            channel_type="HTTP_REST",
            action={"mode": "SOMETIMES"},
        )
        session.add(step)
        with pytest.raises(ValidationFailed) as err:
            session.flush()
        assert err.value.field == "scenario_step.action" and err.value.pointer == "/mode"
        session.rollback()


def test_nan_is_refused_with_the_column_named(migrated_pg_engine: sa.Engine) -> None:
    from orchestra_app.db.tables import TestDataSet
    from orchestra_app.domain.errors import ValidationFailed

    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        session.add(TestDataSet(tenant_id=principal.tenant_id, name="bad", data={"amount": float("nan")}))
        with pytest.raises(ValidationFailed) as err:
            session.flush()
        assert err.value.field == "test_data_set.data" and "NaN" in str(err.value)
