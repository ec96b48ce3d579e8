"""Suites as code on PostgreSQL (and SQLite): export -> import -> export, versioned upsert, errors, races."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlmodel import Session, col, func, select

from orchestra_app.db.tables import (
    ArtifactStatus,
    AuditLog,
    DataSetScope,
    ScenarioStep,
    ScenarioSuite,
    TestDataSet,
    TestScenario,
)
from orchestra_app.domain.errors import OrchestraError, PermissionDenied
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.importers.suite_yaml import SuiteFileError
from orchestra_app.services import binding, data_sets, processes, specs, suite_io
from orchestra_app.services.tenancy import ensure_dev_principal
from tests.integration.concurrency import hammer, wide_engine

pytestmark = pytest.mark.integration
APP = Path(__file__).resolve().parents[1] / "fixtures" / "app"
CALLERS = 50


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from orchestra_app.settings import get_settings

    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _prepare(session: Session, principal: Principal, *, bind: bool = True) -> uuid.UUID:
    """order process + the two specs; optionally a bound suite with a scaffolded and a scenario data set."""
    suite_id = processes.import_process(
        session=session, principal=principal, data=(APP / "order.bpmn").read_bytes(), filename="order.bpmn"
    ).suite_id
    ids = [
        specs.import_spec(
            session=session, principal=principal, data=(APP / n).read_bytes(), filename=n
        ).spec_id
        for n in ("orders-api.yaml", "payments-api.json")
    ]
    if bind:
        binding.set_suite_specs(session=session, principal=principal, suite_id=suite_id, spec_ids=ids)
        binding.bind_suite(
            session=session, principal=principal, suite_id=suite_id, overrides={"ship": "orders-api:getOrder"}
        )
        data_sets.scaffold_suite_data(
            session=session, principal=principal, suite_id=suite_id, store=True, name="default"
        )
        first = session.exec(
            select(TestScenario).where(TestScenario.suite_id == suite_id).order_by(col(TestScenario.key))
        ).first()
        assert first is not None
        session.add(
            TestDataSet(
                tenant_id=principal.tenant_id,
                scope=DataSetScope.SCENARIO,
                scenario_id=first.id,
                name="edge amounts",
                data={"amount": 0.01, "sku": "ÜBER-1"},
            )
        )
    session.commit()
    return suite_id


def test_export_import_export_is_identical(
    migrated_pg_engine: sa.Engine, sqlite_engine: sa.Engine, data_dir: Path
) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id = _prepare(session, principal)
        exported = suite_io.export_suite(session=session, principal=principal, suite_id=suite_id)
        assert exported.warnings == []
        text = exported.text
        doc = yaml.safe_load(text)
        assert doc["format"] == "orchestra-suite/1" and doc["suite"]["process"] == {
            "key": "order",
            "version": 1,
        }
        assert [s["service"] for s in doc["suite"]["specs"]] == ["orders-api", "payments-api"]
        assert doc["requires"] == {"services": ["orders-api", "payments-api"]}
        steps = {s["alias"]: s for sc in doc["scenarios"] for s in sc["steps"]}
        assert steps["charge_payment"]["endpoint"] == "http:payments-api:chargePayment"
        assert (
            steps["charge_payment"]["chaining"]["/json/orderId"]["source"]
            == "{{step.create_order.response.body.id}}"
        )
        assert {d["name"] for d in doc["dataSets"]} == {"default", "edge amounts"}
        assert "ÜBER-1" in text  # unicode stays readable

        # into the same database: nothing changes
        again = suite_io.import_suite(session=session, principal=principal, text=text, filename="suite.yaml")
        session.commit()
        assert (again.suite_id, again.suite_created) == (suite_id, False)
        assert again.scenarios_unchanged == len(doc["scenarios"])
        assert (again.scenarios_created, again.scenarios_updated, again.scenarios_retired) == (0, 0, 0)
        assert (again.data_sets_created, again.data_sets_updated) == (0, 0)
        assert suite_io.export_suite(session=session, principal=principal, suite_id=suite_id).text == text

    # into another database (SQLite, where JSON keeps insertion order): the same text comes back
    with Session(sqlite_engine) as session:
        principal = ensure_dev_principal(session=session)
        _prepare(session, principal, bind=False)
        imported = suite_io.import_suite(
            session=session, principal=principal, text=text, filename="suite.yaml"
        )
        session.commit()
        # the process import generated a suite of the same name there: the file updates it (new versions)
        assert not imported.suite_created and imported.scenarios_updated == len(doc["scenarios"])
        assert imported.data_sets_created == 2
        assert (
            suite_io.export_suite(session=session, principal=principal, suite_id=imported.suite_id).text
            == text
        )


def test_changes_make_versions_and_removals_retire(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id = _prepare(session, principal)
        doc = yaml.safe_load(
            suite_io.export_suite(session=session, principal=principal, suite_id=suite_id).text
        )
        first, removed = doc["scenarios"][0], doc["scenarios"][-1]
        first["steps"][0].setdefault("meta", {})["headers"] = {"X-Trace": "{{uuid()}}"}
        doc["scenarios"] = doc["scenarios"][:-1]
        doc["dataSets"][0]["data"]["extra"] = True
        doc["suite"]["requestValidation"] = "warn"
        result = suite_io.import_suite(
            session=session, principal=principal, text=yaml.safe_dump(doc), filename="s.yaml"
        )
        session.commit()
        assert (result.scenarios_updated, result.scenarios_retired, result.data_sets_updated) == (1, 1, 1)
        versions = session.exec(
            select(TestScenario)
            .where(TestScenario.suite_id == suite_id, TestScenario.key == first["key"])
            .order_by(col(TestScenario.version))
        ).all()
        assert [(v.version, v.status) for v in versions] == [
            (1, ArtifactStatus.DEPRECATED),
            (2, ArtifactStatus.DRAFT),
        ]
        assert not versions[0].active and versions[1].active
        new_steps = session.exec(select(ScenarioStep).where(ScenarioStep.scenario_id == versions[1].id)).all()
        assert len(new_steps) == len(first["steps"])
        after = yaml.safe_load(
            suite_io.export_suite(session=session, principal=principal, suite_id=suite_id).text
        )
        assert [s["key"] for s in after["scenarios"]] == [s["key"] for s in doc["scenarios"]]
        assert removed["key"] not in {s["key"] for s in after["scenarios"]}
        assert after["scenarios"][0]["steps"][0]["meta"]["headers"] == {"X-Trace": "{{uuid()}}"}
        assert after["suite"]["requestValidation"] == "warn"
        suite = session.get(ScenarioSuite, suite_id)
        assert suite is not None and suite.generation["requestValidation"] == "warn"
        assert suite.generation["strategy"] == "edges"  # the rest of the generation record is kept


def test_import_errors_name_file_line_and_field_and_store_nothing(
    migrated_pg_engine: sa.Engine, data_dir: Path
) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id = _prepare(session, principal)
        text = suite_io.export_suite(session=session, principal=principal, suite_id=suite_id).text
        lines = text.splitlines()
        cases = [
            (text.replace("key: order", "key: nope", 1), "suite.process.key", "not imported here"),
            (text.replace("version: 1}", "version: 7}", 1), "suite.process.version", "has no version 7"),
            (
                text.replace("version: 2.0.0", "version: 9.9.9", 1),
                "suite.specs[1].version",
                "versions: 2.0.0",
            ),
            (
                text.replace("service: payments-api", "service: payment-api", 1),
                "suite.specs[1].service",
                "import it first",
            ),
            (
                text.replace("payments-api:chargePayment", "payments-api:chargeCard", 1),
                None,
                "'chargeCard' is not in spec",
            ),
            (
                text.replace("http:orders-api:createOrder", "http:billing:createOrder", 1),
                None,
                "not in suite.specs",
            ),
            (text.replace("kind: ACTION", "kind: ACTON", 1), None, "'ACTION' or 'ASSERTION'"),
        ]
        scenarios_before = session.exec(select(func.count()).select_from(TestScenario)).one()
        for bad, field, fragment in cases:
            with pytest.raises(SuiteFileError) as caught:
                suite_io.import_suite(session=session, principal=principal, text=bad, filename="suite.yaml")
            session.rollback()
            err = caught.value
            assert err.file == "suite.yaml" and err.line is not None and fragment in err.message, str(err)
            if field:
                assert err.field == field
            assert str(err).startswith(f"suite.yaml:{err.line} field ")
            changed = [i for i, (a, b) in enumerate(zip(lines, bad.splitlines(), strict=True)) if a != b]
            assert err.line - 1 in changed or field in ("suite.process.key",), (err.line, changed)
        assert session.exec(select(func.count()).select_from(TestScenario)).one() == scenarios_before
        with pytest.raises(OrchestraError) as binary:
            suite_io.import_suite(
                session=session, principal=principal, text=b"\xff\xfe junk", filename="x.yaml"
            )
        assert "not UTF-8" in binary.value.message and binary.value.file == "x.yaml"
        session.rollback()
        viewer = Principal(
            tenant_id=principal.tenant_id, user_id=principal.user_id, roles=frozenset({Role.VIEWER})
        )
        with pytest.raises(PermissionDenied):
            suite_io.import_suite(session=session, principal=viewer, text=text, filename="s.yaml")


def test_literal_secrets_never_reach_the_file(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id = _prepare(session, principal)
        step = session.exec(select(ScenarioStep).where(ScenarioStep.alias == "create_order")).first()
        assert step is not None
        template = dict(step.action["inputTemplate"])
        template["auth"] = {"type": "basic", "username": "svc", "password": "hunter2"}
        template["headers"] = {"Authorization": "Bearer abc.def"}
        step.action = {**step.action, "inputTemplate": template}
        session.add(step)
        session.commit()
        exported = suite_io.export_suite(session=session, principal=principal, suite_id=suite_id)
        assert "hunter2" not in exported.text and "abc.def" not in exported.text
        assert (
            "CREATE_ORDER_PASSWORD" in exported.text
            and "{{secret:CREATE_ORDER_AUTHORIZATION}}" in exported.text
        )
        assert any("auth.password held a literal secret" in w for w in exported.warnings)
        # and the masked file imports (references are what the format wants)
        suite_io.import_suite(session=session, principal=principal, text=exported.text, filename="s.yaml")


def test_fifty_concurrent_imports_make_one_suite(
    migrated_pg_engine: sa.Engine, fresh_pg_url: str, data_dir: Path
) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id = _prepare(session, principal)
        doc = yaml.safe_load(
            suite_io.export_suite(session=session, principal=principal, suite_id=suite_id).text
        )
    doc["suite"]["name"] = "Order fulfilment as code"
    text = yaml.safe_dump(doc, allow_unicode=True)
    engine = wide_engine(fresh_pg_url, CALLERS)
    try:
        results = hammer(
            engine,
            CALLERS,
            lambda s, i: suite_io.import_suite(
                session=s, principal=principal, text=text, filename=f"suite-{i}.yaml"
            ),
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors == []
        created = [r for r in results if not isinstance(r, BaseException) and r.suite_created]
        assert len(created) == 1
        with Session(engine) as session:
            suites = session.exec(
                select(ScenarioSuite).where(ScenarioSuite.name == "Order fulfilment as code")
            ).all()
            assert len(suites) == 1
            rows = session.exec(
                select(TestScenario.key, TestScenario.version).where(TestScenario.suite_id == suites[0].id)
            ).all()
            assert sorted(rows) == sorted(
                (s["key"], 1) for s in doc["scenarios"]
            )  # one version each, no duplicates
            sets = session.exec(select(TestDataSet).where(TestDataSet.suite_id == suites[0].id)).all()
            assert sorted(d.name for d in sets) == ["default", "edge amounts"]
            audits = session.exec(
                select(func.count()).select_from(AuditLog).where(AuditLog.action == "suite.import")
            ).one()
            assert audits == CALLERS
    finally:
        engine.dispose()


def test_scaffold_store_keeps_values_and_survives_fifty_callers(
    migrated_pg_engine: sa.Engine, fresh_pg_url: str, data_dir: Path
) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id = _prepare(session, principal, bind=False)
        ids = [s.id for s in session.exec(select(specs.ProtocolSpec)).all()]
        binding.set_suite_specs(session=session, principal=principal, suite_id=suite_id, spec_ids=ids)
        binding.bind_suite(session=session, principal=principal, suite_id=suite_id)
        preview = data_sets.scaffold_suite_data(session=session, principal=principal, suite_id=suite_id)
        assert preview.data_set_id is None and preview.data == {
            "sku": "example-sku",
            "quantity": 1,
            "amount": 1,
        }
        assert (
            session.exec(select(func.count()).select_from(TestDataSet)).one() == 0
        )  # a preview stores nothing
        for bad in ("", "   ", "x" * 301):
            with pytest.raises(OrchestraError) as caught:
                data_sets.scaffold_suite_data(
                    session=session, principal=principal, suite_id=suite_id, store=True, name=bad
                )
            assert caught.value.field == "name"
        with pytest.raises(OrchestraError) as missing:
            data_sets.scaffold_suite_data(session=session, principal=principal, suite_id=uuid.uuid4())
        assert missing.value.field == "suite_id"
        session.commit()

    engine = wide_engine(fresh_pg_url, CALLERS)
    try:
        results = hammer(
            engine,
            CALLERS,
            lambda s, i: data_sets.scaffold_suite_data(
                session=s, principal=principal, suite_id=suite_id, store=True
            ),
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert sum(r.created for r in results if not isinstance(r, BaseException)) == 1
        with Session(engine) as session:
            [stored] = session.exec(select(TestDataSet).where(TestDataSet.suite_id == suite_id)).all()
            assert (
                stored.name == "scaffold"
                and stored.scope is DataSetScope.SUITE
                and stored.tags == ["scaffold"]
            )
            stored.data = {**stored.data, "sku": "MY-SKU"}
            del stored.data["amount"]
            session.add(stored)
            session.commit()
            again = data_sets.scaffold_suite_data(
                session=session, principal=principal, suite_id=suite_id, store=True
            )
            session.commit()
            assert again.added == ["amount"] and not again.created
            assert again.data == {"sku": "MY-SKU", "quantity": 1, "amount": 1}
    finally:
        engine.dispose()
