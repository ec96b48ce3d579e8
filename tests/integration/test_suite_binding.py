"""Scoped binding (suite specs), step chaining with overrides, on PostgreSQL, with 50 concurrent callers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from orchestra_app.db.tables import AuditLog, Environment, ScenarioStep, SuiteSpec, TestScenario
from orchestra_app.domain.errors import NotFound, PermissionDenied, ValidationFailed
from orchestra_app.domain.tenancy import Principal, Role
from orchestra_app.services import binding, processes, specs
from orchestra_app.services.tenancy import ensure_dev_principal
from tests.integration.concurrency import hammer, wide_engine

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CALLERS = 50


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from orchestra_app.settings import get_settings

    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _import(
    session: Session, principal: Principal, process: Path, *spec_files: Path
) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    suite = processes.import_process(
        session=session, principal=principal, data=process.read_bytes(), filename=process.name
    ).suite_id
    ids = {}
    for path in spec_files:
        result = specs.import_spec(
            session=session, principal=principal, data=path.read_bytes(), filename=path.name
        )
        ids[result.service_name] = result.spec_id
    session.commit()
    return suite, ids


def _verdicts(rows: list[binding.BindingRow]) -> dict[str, tuple[str, str]]:
    return {r.node_id: (r.status, f"{r.service}:{r.operation}" if r.operation else "") for r in rows}


def _steps(session: Session, node: str) -> list[ScenarioStep]:
    return list(session.exec(select(ScenarioStep).where(ScenarioStep.source_node_id == node)).all())


def test_onboarding_binds_only_within_its_suite_specs(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id, ids = _import(
            session,
            principal,
            FIXTURES / "binding" / "onboarding.bpmn",
            FIXTURES / "binding" / "onboarding-api.yaml",
            FIXTURES / "binding" / "backfill-api.yaml",
        )
        # nothing chosen: binding refuses instead of searching every spec of the tenant
        with pytest.raises(ValidationFailed) as refused:
            binding.bind_suite(session=session, principal=principal, suite_id=suite_id)
        assert refused.value.field == "spec_ids" and "has no specs chosen" in refused.value.message
        session.rollback()
        assert all(s.endpoint_ref is None for s in _steps(session, "cancel"))

        # the wrong product chosen by mistake: "Cancel application" still does not bind to cancel_backfill
        binding.set_suite_specs(
            session=session, principal=principal, suite_id=suite_id, spec_ids=[ids["backfill-api"]]
        )
        rows = binding.bind_suite(session=session, principal=principal, suite_id=suite_id)
        session.commit()
        cancel = next(r for r in rows if r.node_id == "cancel")
        assert cancel.status == "UNMATCHED" and "shares only the verb" in cancel.reason
        assert all(s.endpoint_ref is None for s in _steps(session, "cancel"))

        chosen = binding.set_suite_specs(
            session=session, principal=principal, suite_id=suite_id, spec_ids=[ids["onboarding-api"]]
        )
        assert [(c.service_name, c.version, c.operations) for c in chosen] == [("onboarding-api", "1.0.0", 5)]
        rows = binding.bind_suite(session=session, principal=principal, suite_id=suite_id)
        session.commit()
        assert _verdicts(rows) == {
            "submit": ("MATCHED", "onboarding-api:submitApplication"),
            "score": ("MATCHED", "onboarding-api:getCreditScore"),
            "cancel": ("MATCHED", "onboarding-api:cancelApplication"),
            "get_app": ("MATCHED", "onboarding-api:getApplication"),  # singular wording, not listApplications
        }
        cancel_steps = _steps(session, "cancel")
        assert cancel_steps and all(
            s.endpoint_ref["endpointName"] == "cancelApplication" for s in cancel_steps
        )  # type: ignore[index]
        # the application id comes from the submit step's response, the reason stays data
        template = cancel_steps[0].action["inputTemplate"]
        assert template["pathParams"] == {"applicationId": "{{step.submit_application.response.body.id}}"}
        assert template["query"] == {"reason": "{{data.reason}}"}
        audit = session.exec(select(AuditLog).where(AuditLog.action == "suite.bind")).all()
        assert audit[-1].details["specs"] == ["onboarding-api@1.0.0"]
        assert "chosen for suite" in audit[-1].details["scope"]

        # both chosen: the onboarding operations still win on the nouns
        binding.set_suite_specs(
            session=session, principal=principal, suite_id=suite_id, spec_ids=list(ids.values())
        )
        rows = binding.bind_suite(session=session, principal=principal, suite_id=suite_id)
        assert _verdicts(rows)["cancel"] == ("MATCHED", "onboarding-api:cancelApplication")


def test_scope_from_an_environment_or_explicit_ids(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id, ids = _import(
            session,
            principal,
            FIXTURES / "binding" / "onboarding.bpmn",
            FIXTURES / "binding" / "onboarding-api.yaml",
            FIXTURES / "binding" / "backfill-api.yaml",
        )
        env = Environment(
            tenant_id=principal.tenant_id,
            name="staging",
            services={"onboarding-api": {"baseUrl": "http://x"}},
        )
        empty = Environment(tenant_id=principal.tenant_id, name="empty", services={"nothing": {}})
        session.add_all([env, empty])
        session.commit()
        rows = binding.bind_suite(
            session=session, principal=principal, suite_id=suite_id, environment_id=env.id
        )
        assert _verdicts(rows)["cancel"] == ("MATCHED", "onboarding-api:cancelApplication")
        # an override re-chains with the specs the steps are bound to, even though none were chosen
        binding.override_chaining(
            session=session,
            principal=principal,
            suite_id=suite_id,
            overrides=[
                {"step": "cancel_application", "pointer": "/query/reason", "source": "{{env.reason}}"}
            ],
        )
        [cancel] = _steps(session, "cancel")
        template = cancel.action["inputTemplate"]
        assert template["pathParams"]["applicationId"] == "{{step.submit_application.response.body.id}}"
        assert template["query"]["reason"] == "{{env.reason}}"
        session.commit()
        with pytest.raises(ValidationFailed) as err:
            binding.bind_suite(
                session=session, principal=principal, suite_id=suite_id, environment_id=empty.id
            )
        assert err.value.field == "environment_id" and "nothing" in err.value.message
        session.rollback()
        with pytest.raises(NotFound) as missing_env:
            binding.bind_suite(
                session=session, principal=principal, suite_id=suite_id, environment_id=uuid.uuid4()
            )
        assert missing_env.value.field == "environment_id"
        session.rollback()
        rows = binding.bind_suite(
            session=session, principal=principal, suite_id=suite_id, spec_ids=[ids["backfill-api"]]
        )
        assert _verdicts(rows)["cancel"][0] == "UNMATCHED"


def test_choosing_specs_checks_every_id(migrated_pg_engine: sa.Engine, data_dir: Path) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id, ids = _import(
            session,
            principal,
            FIXTURES / "binding" / "onboarding.bpmn",
            FIXTURES / "binding" / "onboarding-api.yaml",
        )
        newer = specs.import_spec(
            session=session,
            principal=principal,
            data=(FIXTURES / "binding" / "onboarding-api.yaml").read_bytes().replace(b"1.0.0", b"1.1.0"),
            filename="onboarding-api.yaml",
        )
        session.commit()
        [row] = binding.set_suite_specs(
            session=session, principal=principal, suite_id=suite_id, spec_ids=[ids["onboarding-api"]]
        )
        assert row.newer_version == "1.1.0"  # the designer sees the suite is pinned to an older version
        session.commit()
        bad_cases: list[tuple[Any, type[Exception], str]] = [
            ({"suite_id": uuid.uuid4(), "spec_ids": []}, NotFound, "suite_id"),
            ({"suite_id": suite_id, "spec_ids": [uuid.uuid4()]}, NotFound, "spec_ids"),
            (
                {"suite_id": suite_id, "spec_ids": [ids["onboarding-api"], newer.spec_id]},
                ValidationFailed,
                "spec_ids",
            ),
        ]
        for kwargs, error, field in bad_cases:
            with pytest.raises(error) as caught:
                binding.set_suite_specs(session=session, principal=principal, **kwargs)
            assert caught.value.field == field  # type: ignore[attr-defined]
            session.rollback()
        # refused calls changed nothing
        assert [
            r.spec_id for r in binding.suite_specs(session=session, principal=principal, suite_id=suite_id)
        ] == [ids["onboarding-api"]]
        viewer = Principal(
            tenant_id=principal.tenant_id, user_id=principal.user_id, roles=frozenset({Role.VIEWER})
        )
        with pytest.raises(PermissionDenied):
            binding.set_suite_specs(session=session, principal=viewer, suite_id=suite_id, spec_ids=[])
        other_tenant = Principal(
            tenant_id=uuid.uuid4(), user_id=principal.user_id, roles=frozenset({Role.ORG_ADMIN})
        )
        with pytest.raises(NotFound):
            binding.suite_specs(session=session, principal=other_tenant, suite_id=suite_id)
        assert (
            binding.set_suite_specs(session=session, principal=principal, suite_id=suite_id, spec_ids=[])
            == []
        )
        assert binding.suite_specs(session=session, principal=principal, suite_id=suite_id) == []


def test_fifty_concurrent_spec_choices_and_binds(
    migrated_pg_engine: sa.Engine, fresh_pg_url: str, data_dir: Path
) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id, ids = _import(
            session,
            principal,
            FIXTURES / "binding" / "onboarding.bpmn",
            FIXTURES / "binding" / "onboarding-api.yaml",
            FIXTURES / "binding" / "backfill-api.yaml",
        )
    choices = [[ids["onboarding-api"]], [ids["backfill-api"]], [ids["onboarding-api"], ids["backfill-api"]]]
    engine = wide_engine(fresh_pg_url, CALLERS)
    try:
        results = hammer(
            engine,
            CALLERS,
            lambda s, i: binding.set_suite_specs(
                session=s, principal=principal, suite_id=suite_id, spec_ids=choices[i % 3]
            ),
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        with Session(engine) as session:
            stored = sorted(
                session.exec(select(SuiteSpec.spec_id).where(SuiteSpec.suite_id == suite_id)).all()
            )
            assert stored in [sorted(c) for c in choices]  # one caller's whole choice, never a mix

        binding_results = hammer(
            engine,
            CALLERS,
            lambda s, i: binding.bind_suite(
                session=s, principal=principal, suite_id=suite_id, spec_ids=[ids["onboarding-api"]]
            ),
        )
        assert [r for r in binding_results if isinstance(r, BaseException)] == []
        with Session(engine) as session:
            templates = {str(s.action) for s in _steps(session, "cancel")}
            assert len(templates) == 1 and "{{step.submit_application.response.body.id}}" in templates.pop()
            binds = session.exec(
                select(func.count()).select_from(AuditLog).where(AuditLog.action == "suite.bind")
            ).one()
            assert binds == CALLERS
    finally:
        engine.dispose()


def test_chaining_report_and_overrides(
    migrated_pg_engine: sa.Engine, fresh_pg_url: str, data_dir: Path
) -> None:
    with Session(migrated_pg_engine) as session:
        principal = ensure_dev_principal(session=session)
        suite_id, ids = _import(
            session,
            principal,
            FIXTURES / "binding" / "onboarding.bpmn",
            FIXTURES / "binding" / "onboarding-api.yaml",
        )
        binding.set_suite_specs(
            session=session, principal=principal, suite_id=suite_id, spec_ids=list(ids.values())
        )
        binding.bind_suite(session=session, principal=principal, suite_id=suite_id)
        session.commit()
        report = binding.suite_chaining(session=session, principal=principal, suite_id=suite_id)
        wired = {(r.scenario, r.step, r.pointer): r for r in report}
        keys = {k[0] for k in wired}
        assert keys  # every scenario that cancels or reads the application chains its id
        some = next(r for r in report if r.step == "cancel_application")
        assert (
            some.source == "{{step.submit_application.response.body.id}}"
            and some.replaces == "{{data.applicationId}}"
        )
        assert some.source_step == "submit_application" and not some.overridden

        bad: list[tuple[Any, str, str]] = [
            ("nonsense", "overrides[0]", "is an object"),
            ({"pointer": "/pathParams/applicationId"}, "overrides[0].step", "required"),
            ({"step": "cancel_application", "pointer": "pathParams"}, "overrides[0].pointer", "JSON pointer"),
            ({"step": "cancel_application", "pointer": "/x", "sourze": "a"}, "overrides[0]", "unknown key"),
            ({"step": "nope", "pointer": "/pathParams/applicationId"}, "overrides[0].step", "no step 'nope'"),
            (
                {"step": "cancel_application", "pointer": "/nothing/here"},
                "overrides[0].pointer",
                "no text input",
            ),
            (
                {"step": "cancel_application", "pointer": "/pathParams/applicationId", "source": "plain"},
                "overrides[0].source",
                "exactly one placeholder",
            ),
            (
                {
                    "step": "cancel_application",
                    "pointer": "/pathParams/applicationId",
                    "source": "{{oops..x}}",
                },
                "overrides[0].source",
                "bad path syntax",
            ),
            (
                {"step": "cancel_application", "pointer": "/pathParams/applicationId", "source": "{{who.x}}"},
                "overrides[0].source",
                "unknown root",
            ),
            (
                {
                    "step": "submit_application",
                    "pointer": "/json/email",
                    "source": "{{step.cancel_application.response.body.id}}",
                },
                "overrides[0].source",
                "does not run before",
            ),
            (
                {"step": "cancel_application", "pointer": "/pathParams/applicationId", "reset": "yes"},
                "overrides[0].reset",
                "true or false",
            ),
        ]
        before = {s.id: s.action for s in session.exec(select(ScenarioStep)).all()}
        for value, field, fragment in bad:
            with pytest.raises(ValidationFailed) as caught:
                binding.override_chaining(
                    session=session, principal=principal, suite_id=suite_id, overrides=[value]
                )
            assert caught.value.field == field, value
            assert fragment in caught.value.message, (value, caught.value.message)
            session.rollback()
        assert {s.id: s.action for s in session.exec(select(ScenarioStep)).all()} == before

        report = binding.override_chaining(
            session=session,
            principal=principal,
            suite_id=suite_id,
            overrides=[
                {"step": "cancel_application", "pointer": "/pathParams/applicationId", "source": None}
            ],
        )
        session.commit()
        cancel_rows = [r for r in report if r.step == "cancel_application"]
        assert cancel_rows and all(r.overridden and r.source is None for r in cancel_rows)
        assert all(
            s.action["inputTemplate"]["pathParams"]["applicationId"] == "{{data.applicationId}}"
            for s in _steps(session, "cancel")
        )
        # the override survives a re-bind
        binding.bind_suite(session=session, principal=principal, suite_id=suite_id)
        session.commit()
        assert all(
            s.action["inputTemplate"]["pathParams"]["applicationId"] == "{{data.applicationId}}"
            for s in _steps(session, "cancel")
        )
        # reset gives the proposal back
        binding.override_chaining(
            session=session,
            principal=principal,
            suite_id=suite_id,
            overrides=[{"step": "cancel_application", "pointer": "/pathParams/applicationId", "reset": True}],
        )
        session.commit()
        assert all(
            s.action["inputTemplate"]["pathParams"]["applicationId"]
            == "{{step.submit_application.response.body.id}}"
            for s in _steps(session, "cancel")
        )
        scenario_keys = sorted(set(session.exec(select(TestScenario.key)).all()))

    engine = wide_engine(fresh_pg_url, CALLERS)
    try:
        # 50 designers override at once, each on one scenario: every override lands, nothing is lost
        results = hammer(
            engine,
            CALLERS,
            lambda s, i: binding.override_chaining(
                session=s,
                principal=principal,
                suite_id=suite_id,
                overrides=[
                    {
                        "step": "cancel_application",
                        "pointer": "/query/reason",
                        "source": "{{env.reason}}"
                        if i % 2
                        else "{{step.submit_application.response.body.status}}",
                        "scenario": scenario_keys[i % len(scenario_keys)],
                    }
                ],
            ),
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        # scenarios without a cancel step refuse clearly; nothing else may fail
        assert all(
            isinstance(e, ValidationFailed) and "no step 'cancel_application'" in e.message for e in errors
        )
        with Session(engine) as session:
            for step in _steps(session, "cancel"):
                link = step.action["meta"]["chaining"]["/query/reason"]
                assert (
                    link["overridden"] and step.action["inputTemplate"]["query"]["reason"] == link["source"]
                )
    finally:
        engine.dispose()
